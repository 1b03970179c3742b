package e2e

import (
	"fmt"
	"os"
	"testing"
)

// ProgramTB lets a program (cmd/wkbench) use the test helpers here and in
// internal/pgtest outside `go test`: Fatal and Skip panic with the
// message, Log prints to stderr, Cleanup functions run at Close. Methods
// it does not override panic (the embedded TB is nil).
type ProgramTB struct {
	testing.TB
	cleanups []func()
	failed   bool
}

// FatalError is the panic value of ProgramTB.Fatal.
type FatalError struct{ Msg string }

func (e FatalError) Error() string { return e.Msg }

func (p *ProgramTB) Helper()          {}
func (p *ProgramTB) Name() string     { return "wkbench" }
func (p *ProgramTB) Failed() bool     { return p.failed }
func (p *ProgramTB) Cleanup(f func()) { p.cleanups = append(p.cleanups, f) }
func (p *ProgramTB) Log(args ...any)  { fmt.Fprintln(os.Stderr, args...) }
func (p *ProgramTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
func (p *ProgramTB) Error(args ...any) { p.failed = true; p.Log(args...) }
func (p *ProgramTB) Errorf(format string, args ...any) {
	p.failed = true
	p.Logf(format, args...)
}
func (p *ProgramTB) Fatal(args ...any) { p.failed = true; panic(FatalError{fmt.Sprint(args...)}) }
func (p *ProgramTB) Fatalf(format string, args ...any) {
	p.failed = true
	panic(FatalError{fmt.Sprintf(format, args...)})
}
func (p *ProgramTB) Skip(args ...any) { p.Fatal(args...) }
func (p *ProgramTB) Skipf(format string, args ...any) {
	p.Fatalf(format, args...)
}

// TempDir makes a directory removed at Close.
func (p *ProgramTB) TempDir() string {
	dir, err := os.MkdirTemp("", "wkbench-")
	if err != nil {
		p.Fatal(err)
	}
	p.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Close runs the cleanup functions, last registered first.
func (p *ProgramTB) Close() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	p.cleanups = nil
}
