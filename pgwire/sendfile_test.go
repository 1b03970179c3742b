package pgwire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func randomFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{7})
	_, _ = rng.Read(data)
	path := filepath.Join(t.TempDir(), "seg")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// TestSendFileTCP: over TCP the file bytes go with sendfile, behind what
// was queued and the header, framed as one CopyData each, larger than the
// socket buffers so sendfile has to wait for the reader.
func TestSendFileTCP(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sendfile is Linux only")
	}
	srv, cli := tcpPair(t)
	f, data := randomFile(t, 4<<20)
	w := newWriter(srv, 10*time.Second)
	written := &byteCount{}
	w.io = &traffic{write: written}
	sends := []struct {
		off int64
		n   int
	}{{0, 1}, {8192, 128 << 10}, {1 << 20, 3 << 20}, {4<<20 - 100, 100}}
	before, copiedBefore := SendFileStats()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		w.queue(&pgproto3.CopyDone{}) // queued, must go first
		for i, s := range sends {
			if err := w.sendFile([]byte{'w', byte(i)}, f, s.off, s.n); err != nil {
				t.Errorf("sendFile %d: %v", i, err)
				return
			}
		}
	}()
	fe := pgproto3.NewFrontend(cli, io.Discard)
	fe.SetMaxBodyLen(8 << 20)
	if m, err := fe.Receive(); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*pgproto3.CopyDone); !ok {
		t.Fatalf("first message %T, want the queued CopyDone", m)
	}
	total := 0
	for i, s := range sends {
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		cd, ok := m.(*pgproto3.CopyData)
		if !ok {
			t.Fatalf("message %d is %T", i, m)
		}
		want := append([]byte{'w', byte(i)}, data[s.off:s.off+int64(s.n)]...)
		if !bytes.Equal(cd.Data, want) {
			t.Fatalf("message %d: %d bytes, differ from the file's %d", i, len(cd.Data), len(want))
		}
		total += s.n
	}
	<-sent // the sender has counted what it sent
	after, copiedAfter := SendFileStats()
	if after-before < uint64(total) || copiedAfter != copiedBefore {
		t.Errorf("sendfile moved %d bytes and %d were copied, want %d and 0", after-before, copiedAfter-copiedBefore, total)
	}
	// Every byte is counted as written: the CopyDone, then each message's
	// 5-byte CopyData header, 2-byte header and file bytes.
	if want := int64(5 + len(sends)*(5+2) + total); written.n.Load() != want {
		t.Errorf("counted %d bytes written, the client received %d", written.n.Load(), want)
	}
}

// TestSendFileNotSocket: a net.Pipe cannot take sendfile; nothing is sent.
func TestSendFileNotSocket(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	defer cli.Close()
	f, _ := randomFile(t, 1024)
	w := newWriter(srv, time.Second)
	if err := w.sendFile([]byte{'w'}, f, 0, 10); !errors.Is(err, ErrNoSendfile) {
		t.Fatalf("sendFile on a pipe: %v, want ErrNoSendfile", err)
	}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 6)
		_, _ = io.ReadFull(cli, b)
		got <- b
	}()
	if err := w.sendCopyData([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, []byte{'d', 0, 0, 0, 5, 'x'}) {
		t.Fatalf("the pipe got %q first, want only the later CopyData", b)
	}
}

// TestSendFileShortFile: asking for bytes beyond the file's end fails and
// breaks the writer, rather than sending a message shorter than announced.
func TestSendFileShortFile(t *testing.T) {
	w, f := discardingWriter(t, 1000)
	err := w.sendFile([]byte{'w'}, f, 900, 200)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("sendFile past EOF: %v, want io.ErrUnexpectedEOF", err)
	}
	if err := w.sendCopyData([]byte("x")); err == nil {
		t.Fatal("the writer still sends after a cut message")
	}
}

// TestSendFileAllocs: after the first call a send allocates nothing.
func TestSendFileAllocs(t *testing.T) {
	w, f := discardingWriter(t, 1<<20)
	hdr := []byte{'w', 1, 2, 3}
	allocs := testing.AllocsPerRun(50, func() {
		if err := w.sendFile(hdr, f, 4096, 128<<10); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per sendFile", allocs)
	}
}

// TestSendFileEmpty: a send of no file bytes is refused with nothing sent
// (the header would wait in the kernel behind MSG_MORE), and the writer
// still works.
func TestSendFileEmpty(t *testing.T) {
	w, f := discardingWriter(t, 1000)
	if err := w.sendFile([]byte{'w'}, f, 0, 0); !errors.Is(err, ErrNoSendfile) {
		t.Fatalf("sendFile of 0 bytes: %v, want ErrNoSendfile", err)
	}
	if err := w.sendCopyData([]byte("x")); err != nil {
		t.Fatalf("the writer broke after a refused empty send: %v", err)
	}
}

// discardingWriter is a writer on a TCP connection whose peer reads and
// discards everything, and a file of size random bytes to send from;
// Linux only (the test is skipped elsewhere).
func discardingWriter(t *testing.T, size int) (*writer, *os.File) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("sendfile is Linux only")
	}
	srv, cli := tcpPair(t)
	go func() { _, _ = io.Copy(io.Discard, cli) }()
	f, _ := randomFile(t, size)
	return newWriter(srv, 10*time.Second), f
}
