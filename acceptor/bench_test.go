package acceptor

import (
	"fmt"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// BenchmarkAppend measures the consensus overhead of one no-flush append
// (the WAL store is an in-memory fake), with a FlushWAL every batch appends.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{0, 8 << 10, pgwal.MaxSendSize} {
		for _, batch := range []int{1, 32} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batch), func(b *testing.B) {
				f := newFixture(b, tvState(), nil)
				if _, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 1}); err != nil {
					b.Fatal(err)
				}
				err := f.c.Elected(&walproto.ProposerElected{Generation: 1, Term: 1, StartStreamingAt: 0x1000028,
					TermHistory: walproto.TermHistory{{Term: 1, LSN: 0x1000028}}})
				if err != nil {
					b.Fatal(err)
				}
				m := walproto.AppendRequest{Generation: 1, Term: 1, WAL: make([]byte, size)}
				pos := pgwal.LSN(0x1000028)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					m.BeginLSN, m.EndLSN, m.CommitLSN = pos, pos+pgwal.LSN(size), pos
					pos = m.EndLSN
					if _, _, err := f.c.Append(&m, false); err != nil {
						b.Fatal(err)
					}
					if i%batch == batch-1 {
						if _, err := f.c.FlushWAL(); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
