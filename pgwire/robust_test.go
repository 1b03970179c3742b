package pgwire

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"testing"
	"time"
)

// TestHostileClients: garbage, a 1 GiB declared message length and a
// half-sent message each close only their own connection, memory stays
// bounded, and a well-behaved client keeps working throughout.
func TestHostileClients(t *testing.T) {
	addr := startServer(t, Config{ReadTimeout: 300 * time.Millisecond})
	good := dial(t, addr)
	good.startup(ttidOptions)
	good.expect(hexBytes(t, trustSequenceHex))
	// The good client keeps querying from its own goroutine while the bad
	// ones come and go; any failure ends the pinger with an error.
	stop := make(chan struct{})
	pingErr := make(chan error, 1)
	go func() { pingErr <- ping(good, queryBytes(t, timelineStatusMessages(nil)...), stop) }()
	pings := func() {
		t.Helper()
		select {
		case err := <-pingErr:
			t.Fatalf("good client failed: %v", err)
		default:
		}
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	rng := rand.New(rand.NewSource(1))
	hugeQuery := []byte{'Q', 0x40, 0, 0, 4} // body of 1 GiB declared
	hugeCopy := []byte{'d', 0x40, 0, 0, 4}
	tests := []struct {
		name   string
		before bool // complete the startup first
		bytes  []byte
		hangUp bool // client closes after sending
	}{
		{name: "garbage startup", bytes: randBytes(rng, 4096)},
		{name: "garbage after startup", before: true, bytes: append([]byte{'?'}, randBytes(rng, 4096)...)},
		{name: "huge startup length", bytes: []byte{0x3f, 0xff, 0xff, 0xff, 0, 3, 0, 0}},
		{name: "1 GiB query", before: true, bytes: hugeQuery},
		{name: "1 GiB CopyData", before: true, bytes: hugeCopy},
		{name: "max+1 query", before: true, bytes: []byte{'Q', 0, 0x10, 0, 5}},
		{name: "half-sent query, stalled", before: true, bytes: []byte{'Q', 0, 0, 0, 100, 'T', 'I'}},
		{name: "half-sent query, hang up", before: true, bytes: []byte{'Q', 0, 0, 0, 100, 'T', 'I'}, hangUp: true},
		{name: "half-sent startup, stalled", bytes: []byte{0, 0, 0, 100, 0, 3}},
		{name: "half-sent header, stalled", before: true, bytes: []byte{'Q', 0}},
		{name: "negative length", before: true, bytes: []byte{'Q', 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				c := dial(t, addr)
				if tt.before {
					c.startup(ttidOptions)
					c.expect(hexBytes(t, trustSequenceHex))
				}
				c.write(tt.bytes)
				if tt.hangUp {
					c.nc.Close()
					continue
				}
				c.expectClosed()
			}
			pings()
		})
	}

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth %d bytes", growth)
	if growth > 32<<20 {
		t.Fatalf("heap grew by %d bytes", growth)
	}
	close(stop)
	if err := <-pingErr; err != nil {
		t.Fatalf("good client failed: %v", err)
	}
	// The good client outlived every bad one, but its own silence is
	// still bounded by the read timeout.
	good.expectClosed()
}

// ping sends TIMELINE_STATUS every 50 ms and checks the answer until stop.
func ping(c *client, want []byte, stop <-chan struct{}) error {
	q, _ := query("TIMELINE_STATUS").Encode(nil)
	got := make([]byte, len(want))
	for {
		select {
		case <-stop:
			return nil
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := c.nc.Write(q); err != nil {
			return err
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c.nc, got); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("got %x", got)
		}
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}
