package walstore

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestBoundaryDecoderOnRealWAL runs the store's decoder (pgwal's
// BoundaryDecoder) beside pgwal.Decoder over the real PostgreSQL 15 WAL,
// intact and with mutations (flipped bits, a zeroed range, a cut tail), in
// random chunks, and requires the same answer from every Next call.
func TestBoundaryDecoderOnRealWAL(t *testing.T) {
	w := getRealWAL(t)
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 12 {
		data := w.data
		what := "intact"
		if i > 0 {
			data = append([]byte(nil), w.data...)
			at := r.IntN(len(data))
			switch i % 3 {
			case 0:
				data[at] ^= 1 << r.IntN(8)
				what = fmt.Sprintf("bit flipped at %s", w.start+pgwal.LSN(at))
			case 1:
				clear(data[at:min(len(data), at+512)])
				what = fmt.Sprintf("sector zeroed at %s", w.start+pgwal.LSN(at))
			case 2:
				data = data[:at]
				what = fmt.Sprintf("cut at %s", w.start+pgwal.LSN(at))
			}
		}
		t.Run(what, func(t *testing.T) {
			full := pgwal.NewDecoder(w.start, pgVersion)
			bd := pgwal.NewBoundaryDecoder(w.start, pgVersion, pgwal.DefaultSegmentSize)
			records, scratch := 0, []byte(nil)
			for off := 0; off < len(data); {
				n := min(1+r.IntN(256<<10), len(data)-off)
				scratch = append(scratch[:0], data[off:off+n]...)
				off += n
				full.Feed(scratch)
				bd.Feed(scratch)
				for {
					fr, fok, ferr := full.Next()
					br, bok, berr := bd.Next()
					if fr.StartLSN != br.StartLSN || fr.EndLSN != br.EndLSN || fr.NextLSN != br.NextLSN || fr.Header != br.Header ||
						fok != bok || fmt.Sprint(ferr) != fmt.Sprint(berr) {
						t.Fatalf("after %d records: Decoder %v %v %v, BoundaryDecoder %v %v %v",
							records, fr.StartLSN, fok, ferr, br.StartLSN, bok, berr)
					}
					if !fok {
						break
					}
					records++
				}
				for i := range scratch {
					scratch[i] = 0 // the store's caller may reuse its buffer
				}
			}
			if i == 0 && records != len(w.records) {
				t.Fatalf("decoded %d records, want %d", records, len(w.records))
			}
		})
	}
}
