package replication

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// fileWAL is a fakeWAL that also hands out a file with its bytes, except
// for the first synthetic bytes (like the prefix before
// timeline_start_lsn), which only ReadAt serves.
type fileWAL struct {
	*fakeWAL
	f         *os.File // byte i is the WAL at base+i
	synthetic pgwal.LSN
}

func newFileWAL(t *testing.T, w *fakeWAL, synthetic pgwal.LSN) *fileWAL {
	path := filepath.Join(t.TempDir(), "wal")
	if err := os.WriteFile(path, w.data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fileWAL{fakeWAL: w, f: f, synthetic: synthetic}
}

func (w *fileWAL) SegmentFile(lsn pgwal.LSN, n int) (*os.File, int64, bool) {
	end := uint64(lsn) + uint64(n)
	if segEnd := (uint64(lsn)/w.segSize + 1) * w.segSize; end > segEnd {
		w.t.Errorf("file range [%s,+%d) crosses a segment", lsn, n)
	}
	if end > w.flushed.Load() {
		w.t.Errorf("file range up to %X beyond flushed %X", end, w.flushed.Load())
	}
	if lsn < w.base+w.synthetic {
		return nil, 0, false
	}
	return w.f, int64(lsn - w.base), true
}

// fileStream is a fakeStream that is also a FileStream; files counts the
// messages it sent from a file.
type fileStream struct {
	*fakeStream
	refuse bool // answer ErrNoZeroCopy
	files  atomic.Int64
}

func (s *fileStream) SendFile(header []byte, f *os.File, off int64, n int) error {
	if s.refuse {
		return ErrNoZeroCopy
	}
	p := append([]byte(nil), header...)
	p = append(p, make([]byte, n)...)
	if _, err := f.ReadAt(p[len(header):], off); err != nil && err != io.EOF {
		return err
	}
	s.files.Add(1)
	return s.emit(event{kind: 'd', data: p})
}

// TestZeroCopyPath: a Commit-mode vanilla stream over a FileStream sends
// every chunk outside the synthetic bytes from the file, with the same
// message bounds and bytes as the copying path; Flush mode, ZeroCopyOff,
// ZeroCopyAuto for a loopback client and a stream that refuses files use
// the copying path.
func TestZeroCopyPath(t *testing.T) {
	const start, commit = pgwal.LSN(0x1FF0010), pgwal.LSN(0x2030000)
	want := [][2]pgwal.LSN{{0x1FF0010, 0x2000000}, {0x2000000, 0x2020000}, {0x2020000, 0x2030000}}
	tests := []struct {
		name      string
		flush     bool
		mode      ZeroCopyMode
		addr      string // the client's address; "" is not loopback
		refuse    bool
		synthetic pgwal.LSN // bytes after the WAL base only ReadAt serves
		files     int64
	}{
		{name: "commit", files: 3},
		{name: "synthetic first chunk", synthetic: 0x20, files: 2},
		{name: "flush mode", flush: true},
		{name: "off", mode: ZeroCopyOff},
		{name: "auto, loopback client", addr: "127.0.0.1:5432"},
		{name: "auto, IPv6 loopback client", addr: "[::1]:5432"},
		{name: "auto, remote client", addr: "10.1.2.3:5432", files: 3},
		{name: "on, loopback client", mode: ZeroCopyOn, addr: "127.0.0.1:5432", files: 3},
		{name: "refused", refuse: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := start &^ 0xFFFF
			o := harnessOpts{cmd: Command{StartLSN: start}, commit: commit, walBase: base, walSize: int(commit - base)}
			if tt.flush {
				o.cmd = Command{StartLSN: start, Term: 3, HasTerm: true}
				o.flush = TermLSN{Term: 3, LSN: commit}
			}
			h := newHarness(t, o)
			fw := newFileWAL(t, h.wal, tt.synthetic)
			h.cfg.OpenReader = func(pgwal.LSN) (WALReader, error) { return fw, nil }
			h.cfg.ZeroCopy = tt.mode
			h.cfg.Info.Addr = tt.addr
			fs := &fileStream{fakeStream: h.stream, refuse: tt.refuse}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { h.done <- Serve(ctx, h.cfg, fs) }()
			defer h.stream.Close()
			if e := h.stream.next(t); e.kind != 'W' {
				t.Fatalf("first message %v, want CopyBothResponse", e)
			}
			for _, w := range want {
				hd, data := xlog(t, h.stream.next(t))
				if hd.WALStart != w[0] || hd.WALStart+pgwal.LSN(len(data)) != w[1] || hd.WALEnd != commit {
					t.Fatalf("got [%s,%s) end %s, want [%s,%s) end %s", hd.WALStart, hd.WALStart+pgwal.LSN(len(data)),
						hd.WALEnd, w[0], w[1], commit)
				}
				checkWAL(t, hd.WALStart, data)
			}
			h.stream.fail(io.EOF)
			if e := h.stream.next(t); e.kind != 'c' {
				t.Fatalf("got %v, want CopyDone", e)
			}
			if err := h.wait(); err != nil {
				t.Fatal(err)
			}
			if got := fs.files.Load(); got != tt.files {
				t.Fatalf("%d chunks sent from the file, want %d", got, tt.files)
			}
		})
	}
}
