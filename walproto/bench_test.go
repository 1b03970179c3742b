package walproto

import (
	"fmt"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

func BenchmarkParseAppendRequest(b *testing.B) {
	for _, version := range []uint32{Version2, Version3} {
		for _, n := range []int{0, 8 << 10, MaxWALPerAppend} {
			msg := AppendAppendRequest(nil, version, AppendRequest{Term: 6, BeginLSN: lsn150,
				EndLSN: lsn150 + pgwal.LSN(n), WAL: make([]byte, n)})
			b.Run(fmt.Sprintf("v%d/wal=%d", version, n), func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					m, err := ParseAppendRequest(version, msg)
					if err != nil || len(m.WAL) != n {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkParseProposerMessageAppend is the generic path: boxing the
// AppendRequest in the interface costs one allocation.
func BenchmarkParseProposerMessageAppend(b *testing.B) {
	msg := unhex(tv5AppendRequestV3)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseProposerMessage(Version3, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAppendResponse(b *testing.B) {
	for _, version := range []uint32{Version2, Version3} {
		for _, fb := range []*PageserverFeedback{nil, &tvFeedback} {
			m := AppendResponse{Generation: 1, Term: 6, FlushLSN: lsn158, CommitLSN: lsn150, PageserverFeedback: fb}
			buf := make([]byte, 0, 256)
			b.Run(fmt.Sprintf("v%d/feedback=%t", version, fb != nil), func(b *testing.B) {
				b.SetBytes(int64(len(AppendAppendResponse(nil, version, m))))
				b.ReportAllocs()
				for b.Loop() {
					buf = AppendAppendResponse(buf[:0], version, m)
				}
			})
		}
	}
}
