package controlfile

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reCRC replaces the trailing CRC so that b reaches the body checks.
func reCRC(b []byte) []byte {
	b = b[:len(b)-4]
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))) // hash/crc32: independent of the code under test
}

// TestCrashTable damages a persisted file in the ways a crash or a bad disk
// can, then loads it: the result is the intact state or an error, never a
// torn state.
func TestCrashTable(t *testing.T) {
	t.Parallel()
	good := Encode(layoutState())
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		wantErr error
	}{
		{"intact", func(b []byte) []byte { return b }, nil},
		{"zero-length", func(b []byte) []byte { return nil }, ErrCorrupt},
		{"3 bytes", func(b []byte) []byte { return b[:3] }, ErrCorrupt},
		{"magic only", func(b []byte) []byte { return b[:4] }, ErrChecksum},
		{"header only", func(b []byte) []byte { return b[:8] }, ErrChecksum},
		{"truncated by one", func(b []byte) []byte { return b[:len(b)-1] }, ErrChecksum},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, ErrChecksum},
		{"zeroed tail sector", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			clear(c[len(c)/2:])
			return c
		}, ErrChecksum},
		{"flipped crc byte", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[len(c)-1] ^= 0x01
			return c
		}, ErrChecksum},
		{"flipped body byte", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[40] ^= 0x80
			return c
		}, ErrChecksum},
		{"garbage after end", func(b []byte) []byte { return append(append([]byte(nil), b...), 0, 0, 0, 0) }, ErrChecksum},
		{"bad magic, valid crc", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[0] = 0
			return reCRC(c)
		}, ErrBadMagic},
		{"version 8, valid crc", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[4] = 8
			return reCRC(c)
		}, ErrUnsupportedVersion},
		{"version 11, valid crc", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[4] = 11
			return reCRC(c)
		}, ErrUnsupportedVersion},
		{"trailing bytes, valid crc", func(b []byte) []byte {
			c := append(append([]byte(nil), b[:len(b)-4]...), 0xAA, 0, 0, 0, 0)
			return reCRC(c)
		}, ErrCorrupt},
		{"body cut, valid crc", func(b []byte) []byte {
			c := append([]byte(nil), b[:len(b)-10]...)
			return reCRC(append(c, 0, 0, 0, 0))
		}, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), tc.damage(good), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Load(dir)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				compareFields(t, s, layoutState())
				return
			}
			if !errors.Is(err, tc.wantErr) || s != nil {
				t.Fatalf("got %v, %v; want %v", s, err, tc.wantErr)
			}
			if tc.wantErr == ErrChecksum && !strings.Contains(err.Error(), "safekeeper control file checksum mismatch") {
				t.Fatalf("message %q", err)
			}
		})
	}
}

// TestEveryFlippedByte: no single-bit error anywhere is accepted.
func TestEveryFlippedByte(t *testing.T) {
	t.Parallel()
	good := Encode(layoutState())
	for i := range good {
		for _, bit := range []byte{0x01, 0x80} {
			c := append([]byte(nil), good...)
			c[i] ^= bit
			if _, err := Decode(c); !errors.Is(err, ErrChecksum) {
				t.Fatalf("byte %d bit %#x: %v", i, bit, err)
			}
		}
	}
	for n := range len(good) {
		if s, err := Decode(good[:n]); err == nil {
			t.Fatalf("prefix of %d bytes accepted: %+v", n, s)
		}
	}
}

// TestPartialLeftBehind: a crash after writing safekeeper.control.partial
// but before the rename leaves the old state in force.
func TestPartialLeftBehind(t *testing.T) {
	t.Parallel()
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		old := layoutState()
		if err := Persist(dir, old, noSync); err != nil {
			t.Fatal(err)
		}
		next := layoutState()
		next.CommitLSN += 0x1000
		enc := Encode(next)
		partial := filepath.Join(dir, FileName+".partial")
		for _, content := range [][]byte{nil, enc[:len(enc)/2], enc} {
			if err := os.WriteFile(partial, content, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			compareFields(t, s, old)
		}
		if err := Persist(dir, next, noSync); err != nil {
			t.Fatal(err)
		}
		s, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		compareFields(t, s, next)
		if _, err := os.Stat(partial); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("partial file still there: %v", err)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	if _, err := Load(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
	if err := Persist(filepath.Join(t.TempDir(), "nope"), layoutState(), true); err == nil {
		t.Fatal("persist into a missing dir succeeded")
	}
}
