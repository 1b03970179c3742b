package pgwal

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite the seed corpus in testdata/fuzz from the WAL excerpts")

// fuzzStart derives the decoder start from the input: the page address of
// the first page header when there is one (so mutated real WAL keeps
// matching), plus an 8-aligned offset.
func fuzzStart(wal []byte, startOff uint16) LSN {
	base := LSN(0x2000000)
	if h, err := ParseXLogPageHeader(wal); err == nil && h.Magic != 0 {
		base = h.PageAddr &^ (XLogBlockSize - 1)
		if base > 1<<60 {
			base = 0x2000000
		}
	}
	return base + LSN(startOff)&^7
}

func FuzzDecoder(f *testing.F) {
	wal, _ := synthWAL(0x1000028, []int{10, 8200, 3, 20000, 1})
	f.Add(wal, uint16(0), uint64(1))
	f.Fuzz(runFuzzBody)
}

func runFuzzBody(t *testing.T, wal []byte, startOff uint16, chunkSeed uint64) {
	{
		if int(startOff) > len(wal) {
			startOff = 0
		}
		start := fuzzStart(wal, startOff)
		input := wal[int(startOff)&^7:]
		r := rand.New(rand.NewPCG(chunkSeed, 0))
		d := NewDecoder(start, 0)
		prevEnd := start
		var sticky error
		for len(input) > 0 {
			n := min(1+r.IntN(1<<r.IntN(18)), len(input))
			d.Feed(input[:n])
			input = input[n:]
			for {
				rec, ok, err := d.Next()
				if err != nil {
					if sticky != nil && err != sticky {
						t.Fatalf("error changed from %v to %v", sticky, err)
					}
					sticky = err
					break
				}
				if !ok {
					break
				}
				if rec.StartLSN < prevEnd || rec.EndLSN > d.FedLSN() || rec.NextLSN < rec.EndLSN ||
					len(rec.Data) != int(rec.Header.TotLen) || RecordCRC(rec.Data) != rec.Header.CRC || d.LSN() != rec.EndLSN {
					t.Fatalf("bad record %+v (prev end %s, fed %s)", rec.Header, prevEnd, d.FedLSN())
				}
				prevEnd = rec.EndLSN
			}
		}
		// Memory stays proportional to the input, whatever xl_tot_len says.
		if cap(d.rec) > 2*len(wal)+64 || cap(d.buf) > 2*len(wal)+64<<10 {
			t.Fatalf("buffers grew to %d/%d for %d input bytes", cap(d.rec), cap(d.buf), len(wal))
		}
	}
}

// FuzzEncodeDecode writes records of fuzzed sizes with the Encoder (1 MiB
// segments, so XLOG_SWITCH tails stay small) and checks that the decoder
// finds exactly those records whatever the chunking.
func FuzzEncodeDecode(f *testing.F) {
	f.Add([]byte{0, 10, 0x20, 0, 0xFF, 0xFF, 0, 3}, uint32(0x28), uint64(1))
	f.Add([]byte{0x80, 0, 0x40, 0, 0, 0}, uint32(0xFFF00), uint64(2))
	f.Fuzz(func(t *testing.T, spec []byte, startOff uint32, chunkSeed uint64) {
		const segSize = 1 << 20
		start := LSN(0x100000+startOff%segSize) &^ 7
		if po := start.PageOffset(); po != 0 && po < SizeOfXLogShortPHD || start%segSize != 0 && start%segSize < SizeOfXLogLongPHD {
			start = LSN(0x100000 + SizeOfXLogLongPHD)
		}
		var sizes []int
		for i := 0; i+1 < len(spec) && len(sizes) < 64; i += 2 {
			n := int(spec[i])<<8 | int(spec[i+1])
			if n == 0xFFFF {
				n = -1 // XLOG_SWITCH
			}
			sizes = append(sizes, n)
		}
		wal, want := synthWALSegSize(start, sizes, segSize)
		r := rand.New(rand.NewPCG(chunkSeed, 0))
		got, err := decodeChunkedSegSize(t, start, wal, func() int { return 1 + r.IntN(1<<r.IntN(18)) }, segSize)
		if err != nil || len(got) != len(want) {
			t.Fatalf("decoded %d of %d records: %v", len(got), len(want), err)
		}
		for i, g := range got {
			if g.StartLSN != want[i].start || !bytes.Equal(g.Data[SizeOfXLogRecord:], want[i].body) {
				t.Fatalf("record %d at %s, want %s", i, g.StartLSN, want[i].start)
			}
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(rec([]byte{0, BkpBlockHasData}, le16(4), rel(1, 2, 3), le32(7), []byte{255, 1}, []byte("dddd"), []byte("m")), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, version uint8) {
		r, err := DecodeRecord(data, 14+uint32(version%4))
		if err != nil {
			return
		}
		end := len(r.Record)
		if end != int(r.Header.TotLen) || len(r.Blocks) > XLRMaxBlockID+1 || r.MainDataOffset+len(r.MainData) != end {
			t.Fatalf("inconsistent %+v", r)
		}
		pos := SizeOfXLogRecord
		for _, b := range r.Blocks {
			if b.HasImage && (b.ImageOffset < pos || len(b.Image) != int(b.BimgLen)) {
				t.Fatalf("block image %+v", b)
			}
			if b.HasData && (b.DataOffset < pos || len(b.Data) != int(b.DataLen)) {
				t.Fatalf("block data %+v", b)
			}
			pos = max(pos, b.ImageOffset+len(b.Image), b.DataOffset+len(b.Data))
		}
		if pos > r.MainDataOffset {
			t.Fatalf("block data overlaps main data")
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/{FuzzDecoder,FuzzDecodeRecord}
// from the golden WAL excerpts when run with -update-fuzz-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateFuzzCorpus {
		t.Skip("run with -update-fuzz-corpus to rewrite the seed corpus")
	}
	files, _ := filepath.Glob(filepath.Join(excerptDir, "*.wal"))
	var records [][]byte
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".wal")
		excerpt, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		golden, _ := os.ReadFile(strings.TrimSuffix(file, ".wal") + ".golden")
		first, _, _ := strings.Cut(string(golden), "\n")
		start, err := ParseLSN(strings.TrimPrefix(first, "start "))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseXLogPageHeader(excerpt)
		off := uint16(start - h.PageAddr)
		// Small seeds keep the fuzzer's minimisation of new inputs quick.
		seed := excerpt[:min(len(excerpt), int(off)+3000)]
		writeSeed(t, "FuzzDecoder", name, fmt.Sprintf("[]byte(%q)\nuint16(%d)\nuint64(%d)\n", seed, off, len(name)))
		d := NewDecoder(start, 15)
		d.Feed(excerpt[off:])
		for len(records) < 40 {
			r, ok, err := d.Next()
			if !ok || err != nil {
				break
			}
			records = append(records, bytes.Clone(r.Data))
		}
	}
	for _, tc := range []struct {
		name  string
		start LSN
		sizes []int
	}{
		{"synthetic-page-crossing", 0x1001E00, []int{100, 300, 10, 8}},
		{"synthetic-segment-crossing", 0x1FFFF00, []int{100, 300, 10}},
		{"synthetic-switch", 0x1001F00, []int{10, -1, 10}},
	} {
		wal, _ := synthWAL(tc.start, tc.sizes)
		page := tc.start - LSN(tc.start.PageOffset())
		// Put a copy of a page header before start so fuzzStart finds the page address.
		hdr := AppendXLogPageHeader(nil, XLogPageHeaderData{Magic: 0xD110, PageAddr: page})
		seed := append(append(hdr, make([]byte, int(tc.start-page)-len(hdr))...), wal[:min(len(wal), 2000)]...)
		writeSeed(t, "FuzzDecoder", tc.name, fmt.Sprintf("[]byte(%q)\nuint16(%d)\nuint64(3)\n", seed, tc.start-page))
	}
	for i, r := range records {
		if len(r) < 2000 {
			writeSeed(t, "FuzzDecodeRecord", fmt.Sprintf("real-%02d", i), fmt.Sprintf("[]byte(%q)\nuint8(1)\n", r))
		}
	}
}

func writeSeed(t *testing.T, target, name, body string) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
}
