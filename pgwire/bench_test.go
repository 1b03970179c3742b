package pgwire

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/pgwal"
)

// BenchmarkCopyBothReceive measures inbound CopyData throughput over
// loopback TCP through the whole stack (framing, deadline reader, copy),
// for AppendRequest-sized payloads.
func BenchmarkCopyBothReceive(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, pgwal.MaxSendSize} {
		b.Run(byteSize(size), func(b *testing.B) {
			got := make(chan int, 1)
			h := &fakeHandler{walPush: func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
				cb.Start()
				var buf []byte
				n := 0
				for {
					var err error
					if buf, err = cb.ReceiveAppend(buf[:0]); err != nil {
						got <- n
						return err
					}
					n++
				}
			}}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go NewServer(Config{Handler: h}).Serve(ctx, l)
			c := dial(b, l.Addr().String())
			c.startup(ttidOptions)
			io.ReadFull(c.nc, make([]byte, len(hexBytes(b, trustSequenceHex))))
			c.send(query("START_WAL_PUSH"))
			io.ReadFull(c.nc, make([]byte, 8))
			msg, _ := (&pgproto3.CopyData{Data: make([]byte, size)}).Encode(nil)
			batch := make([]byte, 0, 1<<20)
			for len(batch)+len(msg) <= cap(batch) {
				batch = append(batch, msg...)
			}
			perBatch := len(batch) / len(msg)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				k := min(perBatch, b.N-sent)
				c.write(batch[:k*len(msg)])
				sent += k
			}
			c.send(&pgproto3.CopyDone{})
			if n := <-got; n != b.N {
				b.Fatalf("received %d of %d", n, b.N)
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
