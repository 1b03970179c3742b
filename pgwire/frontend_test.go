package pgwire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// chunkedReader returns its bytes in reads of random sizes, as a socket
// does.
type chunkedReader struct {
	b   []byte
	rng *rand.Rand
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.b), 1+r.rng.IntN(20000))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

// TestFrontendReader reads a stream of every message type the server
// takes, with CopyData payloads around the read buffer's size, fed in
// random pieces: short messages through receive, CopyData through
// readCopyData after what dst already holds.
func TestFrontendReader(t *testing.T) {
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*31 + n)
		}
		return b
	}
	var msgs []pgproto3.FrontendMessage
	for _, n := range []int{0, 1, 100, frontendBufSize - 6, frontendBufSize - 5, frontendBufSize, frontendBufSize + 1, 3 * frontendBufSize, 128<<10 + 45} {
		msgs = append(msgs, &pgproto3.Query{String: fmt.Sprintf("SELECT %d", n)}, &pgproto3.CopyData{Data: payload(n)})
	}
	msgs = append(msgs, &pgproto3.Parse{Query: "TIMELINE_STATUS"}, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{}, &pgproto3.Sync{}, &pgproto3.Flush{}, &pgproto3.Close{ObjectType: 'S'},
		&pgproto3.PasswordMessage{Password: "token"}, &pgproto3.CopyFail{Message: "no"}, &pgproto3.CopyDone{}, &pgproto3.Terminate{})
	var wire []byte
	for _, m := range msgs {
		wire = append(wire, encodeAll(t, m)...)
	}
	for seed := range uint64(20) {
		fr := newFrontendReader(&chunkedReader{b: wire, rng: rand.New(rand.NewPCG(seed, 1))}, MaxMessageBodyLen)
		for i, want := range msgs {
			typ, n, err := fr.header()
			if err != nil {
				t.Fatalf("seed %d message %d: header: %v", seed, i, err)
			}
			if cd, ok := want.(*pgproto3.CopyData); ok {
				if typ != 'd' {
					t.Fatalf("seed %d message %d: type %q, want 'd'", seed, i, typ)
				}
				got, err := fr.readCopyData([]byte("prefix"), n)
				if err != nil {
					t.Fatalf("seed %d message %d: readCopyData: %v", seed, i, err)
				}
				if !bytes.Equal(got, append([]byte("prefix"), cd.Data...)) {
					t.Fatalf("seed %d message %d: CopyData of %d bytes differs", seed, i, len(cd.Data))
				}
				continue
			}
			got, err := fr.decode(typ, n)
			if err != nil {
				t.Fatalf("seed %d message %d: %v", seed, i, err)
			}
			if !bytes.Equal(encodeAll(t, got), encodeAll(t, want)) {
				t.Fatalf("seed %d message %d: %#v, want %#v", seed, i, got, want)
			}
		}
		if _, err := fr.receive(); err != io.EOF {
			t.Fatalf("seed %d: at the end: %v, want io.EOF", seed, err)
		}
	}
}

// TestFrontendReaderErrors checks the framing errors; a bad length word or
// type is reported from the header alone.
func TestFrontendReaderErrors(t *testing.T) {
	query := encodeAll(t, &pgproto3.Query{String: "SELECT 1"})
	for _, tt := range []struct {
		name  string
		bytes []byte
		copy  bool // read the body with readCopyData
		want  error
	}{
		{"empty", nil, false, io.EOF},
		{"half a header", []byte{'Q', 0, 0}, false, io.ErrUnexpectedEOF},
		{"half a body", query[:len(query)-2], false, io.ErrUnexpectedEOF},
		{"half a CopyData", []byte{'d', 0, 0, 0, 100, 1, 2, 3}, true, io.ErrUnexpectedEOF},
		{"length 3", []byte{'Q', 0, 0, 0, 3}, false, ErrProtocol},
		{"negative length", []byte{'Q', 0xff, 0xff, 0xff, 0xff}, false, ErrProtocol},
		{"1 GiB CopyData", []byte{'d', 0x40, 0, 0, 4}, true, ErrMessageTooLarge},
		{"max+1 query", []byte{'Q', 0, 0x10, 0, 5}, false, ErrMessageTooLarge},
		{"unknown type", []byte{'?', 0, 0, 0, 4}, false, ErrProtocol},
		{"bad query body", []byte{'Q', 0, 0, 0, 6, 'a', 'b'}, false, ErrProtocol},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFrontendReader(bytes.NewReader(tt.bytes), MaxMessageBodyLen)
			var err error
			if tt.copy {
				var n int
				if _, n, err = fr.header(); err == nil {
					_, err = fr.readCopyData(nil, n)
				}
			} else {
				_, err = fr.receive()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzFrontendReader feeds arbitrary bytes: the reader returns messages or
// an error and never panics.
func FuzzFrontendReader(f *testing.F) {
	f.Add(encodeAll(f, &pgproto3.Query{String: "IDENTIFY_SYSTEM"}, &pgproto3.CopyData{Data: []byte{1, 2, 3}}, &pgproto3.Terminate{}))
	f.Add([]byte{'d', 0, 0, 0, 4, 'c', 0, 0, 0, 4})
	f.Add([]byte{'Q', 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := newFrontendReader(bytes.NewReader(b), 1<<16)
		for i := 0; ; i++ {
			typ, n, err := fr.header()
			if err == nil && i%2 == 0 && typ == 'd' {
				_, err = fr.readCopyData(nil, n)
			} else if err == nil {
				_, err = fr.decode(typ, n)
			}
			if err != nil {
				return
			}
		}
	})
}

// TestFrontendReaderStalledBody checks that a message declared large but
// cut short makes the reader allocate about growStep, not the declared
// MaxMessageBodyLen: a client cannot pin a megabyte per connection with a
// header and a stall. (The bound is a quarter of the declared size, as
// TotalAlloc counts the other goroutines' allocations too.)
func TestFrontendReaderStalledBody(t *testing.T) {
	body := make([]byte, MaxMessageBodyLen)
	frame := encodeAll(t, &pgproto3.CopyData{Data: body})[:5+1000]
	for _, copyData := range []bool{false, true} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fr := newFrontendReader(bytes.NewReader(frame), MaxMessageBodyLen)
		typ, n, err := fr.header()
		if err == nil && copyData {
			_, err = fr.readCopyData(nil, n)
		} else if err == nil {
			_, err = fr.decode(typ, n)
		}
		runtime.ReadMemStats(&after)
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("copyData=%v: %v, want io.ErrUnexpectedEOF", copyData, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > MaxMessageBodyLen/4 {
			t.Fatalf("copyData=%v: allocated %d bytes for 1000 received of %d declared", copyData, got, n)
		}
	}
}

// TestFrontendReaderCopyDataAllocs pins the hot path: a CopyData read into
// a buffer with room for it allocates nothing.
func TestFrontendReaderCopyDataAllocs(t *testing.T) {
	frame := encodeAll(t, &pgproto3.CopyData{Data: make([]byte, 128<<10)})
	src := bytes.NewReader(frame)
	fr := newFrontendReader(src, MaxMessageBodyLen)
	buf := make([]byte, 0, 132<<10)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(frame)
		typ, n, err := fr.header()
		if err != nil || typ != 'd' {
			t.Fatalf("header: %q %v", typ, err)
		}
		if _, err := fr.readCopyData(buf[:0], n); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per CopyData", allocs)
	}
}
