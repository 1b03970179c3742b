package pgwal

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// walCase is WAL starting at start that both decoders are run over.
type walCase struct {
	name    string
	start   LSN
	segSize uint32
	wal     []byte
	excerpt []byte // for real WAL: the whole excerpt, whose first page header wal starts in
}

// boundaryCases are the committed real PG15 excerpts and synthetic WAL with
// records across pages and segments (1 MiB segments) and XLOG_SWITCH.
func boundaryCases(t testing.TB) []walCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(excerptDir, "*.wal"))
	if err != nil || len(files) < 3 {
		t.Fatalf("excerpts: %v %v", files, err)
	}
	var cases []walCase
	for _, file := range files {
		excerpt, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		golden, err := os.ReadFile(strings.TrimSuffix(file, ".wal") + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(golden), "\n")
		start, err := ParseLSN(strings.TrimPrefix(first, "start "))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseXLogPageHeader(excerpt)
		cases = append(cases, walCase{filepath.Base(file), start, DefaultSegmentSize, excerpt[start-h.PageAddr:], excerpt})
	}
	for _, tc := range []struct {
		name  string
		start LSN
		sizes []int
	}{
		{"synthetic-mixed", 0x1000028, []int{10, 8200, 3, 20000, 1, 100, 0, 16000, 5}},
		{"synthetic-header-split", 0x1001FE8, []int{8, 30000, 40, 8140, 8150, 8160}},
		{"synthetic-segment-crossing", 0x10FFF00, []int{100, 300, 10, -1, 20, 9000}},
	} {
		wal, _ := synthWALSegSize(tc.start, tc.sizes, 1<<20)
		cases = append(cases, walCase{tc.name, tc.start, 1 << 20, wal, nil})
	}
	return cases
}

// mutate returns a copy of wal with a few random changes: flipped bits,
// overwritten bytes, a zeroed range (a torn write) or a cut tail.
func mutate(r *rand.Rand, wal []byte) []byte {
	out := append([]byte(nil), wal...)
	for range r.IntN(4) {
		if len(out) == 0 {
			break
		}
		i := r.IntN(len(out))
		switch r.IntN(4) {
		case 0:
			out[i] ^= 1 << r.IntN(8)
		case 1:
			out[i] = byte(r.Uint32())
		case 2:
			clear(out[i:min(len(out), i+1+r.IntN(600))])
		case 3:
			out = out[:i]
		}
	}
	return out
}

// compareDecoders feeds wal to a Decoder and a BoundaryDecoder in the same
// chunks and fails unless every Next call gives the same record (Data
// aside), ok and error, and the positions agree. Each chunk is fed from a
// scratch buffer that is scribbled over once Next has reported that it
// needs more input, to catch the BoundaryDecoder reading a buffer it must
// no longer hold. Sometimes the caller stops calling Next early, so that the
// next Feed comes before the last input was consumed, and sometimes it
// drains a chunk with Scan instead, which must report the same record ends
// and error as the Decoder's records.
func compareDecoders(t *testing.T, r *rand.Rand, start LSN, pgVersion, segSize uint32, wal []byte) {
	t.Helper()
	full := NewDecoderSegSize(start, pgVersion, segSize)
	bd := NewBoundaryDecoder(start, pgVersion, segSize)
	var scratch []byte
	calls := 0
	for len(wal) > 0 {
		n := min(1+r.IntN(1<<r.IntN(18)), len(wal))
		scratch = append(scratch[:0], wal[:n]...)
		wal = wal[n:]
		full.Feed(scratch)
		bd.Feed(scratch)
		if r.IntN(3) == 0 {
			// Drain with Scan (after Next calls that may have left
			// bytes unconsumed): the same ends and error as the
			// Decoder's records.
			bound := full.FedLSN() - LSN(r.IntN(2*n+1))
			calls++
			checkScan(t, full, bd, bound)
			if full.LSN() != bd.LSN() {
				t.Fatalf("call %d: positions %s, %s", calls, full, bd)
			}
			for i := range scratch {
				scratch[i] = 0xA5
			}
			continue
		}
		limit := -1
		if r.IntN(4) == 0 {
			limit = r.IntN(3)
		}
		drained := false
		for i := 0; i != limit; i++ {
			calls++
			fr, fok, ferr := full.Next()
			br, bok, berr := bd.Next()
			if br.Data != nil || fr.StartLSN != br.StartLSN || fr.EndLSN != br.EndLSN || fr.NextLSN != br.NextLSN || fr.Header != br.Header || fok != bok || (ferr == nil) != (berr == nil) || ferr != nil && ferr.Error() != berr.Error() {
				t.Fatalf("call %d: Decoder gives %+v %v %v, BoundaryDecoder %+v %v %v", calls, fr, fok, ferr, br, bok, berr)
			}
			if full.FedLSN() != bd.FedLSN() || full.LSN() != bd.LSN() {
				t.Fatalf("call %d: positions %s, %s", calls, full, bd)
			}
			if !fok {
				drained = true
				break
			}
		}
		if drained {
			for i := range scratch {
				scratch[i] = 0xA5
			}
		} else {
			scratch = nil // still held: the next chunk needs a new buffer
		}
	}
}

// TestBoundaryDecoderMatchesDecoder runs both decoders over real and
// synthetic WAL, intact and mutated, in random chunks.
func TestBoundaryDecoderMatchesDecoder(t *testing.T) {
	t.Parallel()
	for _, tc := range boundaryCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(len(tc.wal)), 11))
			for i := range 300 {
				wal := tc.wal
				if i > 0 {
					wal = mutate(r, wal)
				}
				version := uint32(150004)
				if i%3 == 0 {
					version = 0
				}
				compareDecoders(t, r, tc.start, version, tc.segSize, wal)
			}
		})
	}
}

// TestBoundaryDecoderConstructor checks that bad arguments give the same
// sticky errors as NewDecoderSegSize.
func TestBoundaryDecoderConstructor(t *testing.T) {
	for _, tc := range []struct {
		start   LSN
		version uint32
		segSize uint32
	}{
		{0x1000004, 15, DefaultSegmentSize},
		{0x1000010, 15, DefaultSegmentSize},
		{0x1002008, 15, DefaultSegmentSize},
		{0x1000028, 13, DefaultSegmentSize},
		{0x1000028, 15, 3 << 20},
		{0x1000028, 15, 1 << 31},
	} {
		_, _, want := NewDecoderSegSize(tc.start, tc.version, tc.segSize).Next()
		bd := NewBoundaryDecoder(tc.start, tc.version, tc.segSize)
		bd.Feed(make([]byte, 100))
		_, _, got := bd.Next()
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%+v: BoundaryDecoder error %v, Decoder error %v", tc, got, want)
		}
	}
}

// FuzzBoundaryDecoder compares the BoundaryDecoder with the Decoder on the
// FuzzDecoder inputs, which the body also mutates.
func FuzzBoundaryDecoder(f *testing.F) {
	for _, tc := range boundaryCases(f) {
		if tc.excerpt != nil {
			off := uint16(len(tc.excerpt) - len(tc.wal))
			f.Add(tc.excerpt, off, uint64(2))
			f.Add(tc.excerpt, off, uint64(len(tc.name)|1))
		}
	}
	f.Fuzz(func(t *testing.T, wal []byte, startOff uint16, chunkSeed uint64) {
		if int(startOff) > len(wal) {
			startOff = 0
		}
		start := fuzzStart(wal, startOff)
		r := rand.New(rand.NewPCG(chunkSeed, 1))
		input := wal[int(startOff)&^7:]
		if chunkSeed%2 == 1 {
			input = mutate(r, input)
		}
		compareDecoders(t, r, start, 0, DefaultSegmentSize, input)
	})
}

// TestBoundaryDecoderScan checks Scan against Next of a Decoder fed the
// same chunks: the same last and last-within-bound record ends, the same
// error, and the fed buffer free for reuse afterwards.
func TestBoundaryDecoderScan(t *testing.T) {
	t.Parallel()
	for _, tc := range boundaryCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(len(tc.wal)), 12))
			for i := range 200 {
				wal := tc.wal
				if i > 0 {
					wal = mutate(r, wal)
				}
				full := NewDecoderSegSize(tc.start, 150004, tc.segSize)
				bd := NewBoundaryDecoder(tc.start, 150004, tc.segSize)
				pos := tc.start
				var scratch []byte
				for len(wal) > 0 {
					n := min(1+r.IntN(1<<r.IntN(18)), len(wal))
					scratch = append(scratch[:0], wal[:n]...)
					wal = wal[n:]
					bound := pos + LSN(r.IntN(2*n+1))
					pos += LSN(n)
					full.Feed(scratch)
					bd.Feed(scratch)
					err := checkScan(t, full, bd, bound)
					for i := range scratch {
						scratch[i] = 0xA5
					}
					if err != nil {
						break
					}
				}
			}
		})
	}
}

// TestScanPageHeaderDamage damages each field that checkPageHeader reads,
// in every page header of the test WAL, one at a time, and compares Scan
// with the Decoder: with the WAL fed whole, records that span the damaged
// header are taken by Scan's fast path (scanWhole), which must refuse them
// just as next does.
func TestScanPageHeaderDamage(t *testing.T) {
	t.Parallel()
	for _, tc := range boundaryCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			first := (tc.start + XLogBlockSize - 1) &^ (XLogBlockSize - 1)
			for page := first; page < tc.start+LSN(len(tc.wal)); page += XLogBlockSize {
				at := int(page - tc.start)
				for _, field := range []struct {
					off int
					xor byte
				}{
					{0, 0x01},  // xlp_magic
					{2, 0x01},  // xlp_info: XLP_FIRST_IS_CONTRECORD
					{2, 0x02},  // xlp_info: XLP_LONG_HEADER
					{2, 0x80},  // xlp_info: an unknown flag
					{8, 0x20},  // xlp_pageaddr
					{16, 0x08}, // xlp_rem_len
				} {
					if at+field.off >= len(tc.wal) {
						continue
					}
					wal := append([]byte(nil), tc.wal...)
					wal[at+field.off] ^= field.xor
					compareScan(t, tc.start, tc.segSize, wal)
				}
			}
		})
	}
}

// compareScan feeds wal whole to a Decoder and to a BoundaryDecoder and
// checks Scan against the Decoder's records (checkScan), and the
// positions they end at.
func compareScan(t *testing.T, start LSN, segSize uint32, wal []byte) {
	t.Helper()
	full := NewDecoderSegSize(start, 150004, segSize)
	full.Feed(wal)
	bd := NewBoundaryDecoder(start, 150004, segSize)
	bd.Feed(wal)
	checkScan(t, full, bd, 0)
	if bd.LSN() != full.LSN() {
		t.Fatalf("positions %s, %s", full, bd)
	}
}

// checkScan drains the Decoder's records and fails unless bd.Scan(bound),
// fed the same bytes, reports their ends (the last NextLSN, and the last
// not beyond bound) and their error; it returns the error.
func checkScan(t *testing.T, full *Decoder, bd *BoundaryDecoder, bound LSN) error {
	t.Helper()
	var wantLast, wantLE LSN
	var wantErr error
	for {
		rec, ok, err := full.Next()
		if err != nil {
			wantErr = err
		}
		if !ok {
			break
		}
		wantLast = rec.NextLSN
		if rec.NextLSN <= bound {
			wantLE = rec.NextLSN
		}
	}
	last, le, err := bd.Scan(bound)
	if last != wantLast || le != wantLE || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("Scan(%s) = %s, %s, %v; Decoder gives %s, %s, %v", bound, last, le, err, wantLast, wantLE, wantErr)
	}
	return err
}

// TestScanWholeTakesWholeRecords checks that Scan's fast path, not next,
// takes every record of intact WAL fed whole, except those whose header
// is split between two pages: a fast path that gave up on good records
// would still give right answers (next would take them), only slowly.
func TestScanWholeTakesWholeRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range boundaryCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			full := NewDecoderSegSize(tc.start, 150004, tc.segSize)
			full.Feed(tc.wal)
			var end LSN
			for {
				rec, ok, err := full.Next()
				if err != nil || !ok {
					break
				}
				end = rec.EndLSN
			}
			bd := NewBoundaryDecoder(tc.start, 150004, tc.segSize)
			bd.Feed(tc.wal)
			for {
				var last, lastLE LSN
				bd.scanWhole(0, &last, &lastLE)
				ok, err := bd.next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if XLogBlockSize-bd.recStart%XLogBlockSize >= SizeOfXLogRecord {
					t.Fatalf("scanWhole left the record at %s to next", bd.recStart)
				}
			}
			if bd.endLSN != end {
				t.Fatalf("last record end %s, Decoder's %s", bd.endLSN, end)
			}
		})
	}
}
