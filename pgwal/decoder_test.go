package pgwal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// synthRecord is one record an Encoder wrote, for comparison with the decoder.
type synthRecord struct {
	start LSN
	rmid  uint8
	info  uint8
	body  []byte
}

// synthWAL builds WAL from start with records of the given body sizes; a
// negative size writes an XLOG_SWITCH.
func synthWAL(start LSN, sizes []int) ([]byte, []synthRecord) {
	return synthWALSegSize(start, sizes, DefaultSegmentSize)
}

func synthWALSegSize(start LSN, sizes []int, segSize uint32) ([]byte, []synthRecord) {
	e := NewEncoderSegSize(start, 15, 42, segSize)
	var wal []byte
	var recs []synthRecord
	for i, n := range sizes {
		rmid, info := RMLogicalMsgID, uint8(0)
		if n < 0 {
			rmid, info, n = RMXLogID, XLogSwitch, 0
		}
		body := make([]byte, n)
		for j := range body {
			body[j] = byte(i + j)
		}
		var at LSN
		wal, at = e.AppendRecord(wal, rmid, info, uint32(i), body)
		recs = append(recs, synthRecord{at, rmid, info, body})
	}
	return wal, recs
}

// decodeChunked feeds wal (which starts at start) in chunks whose sizes
// chunk picks, and returns the records and the first error.
func decodeChunked(t testing.TB, start LSN, wal []byte, chunk func() int) ([]Record, error) {
	return decodeChunkedSegSize(t, start, wal, chunk, DefaultSegmentSize)
}

func decodeChunkedSegSize(t testing.TB, start LSN, wal []byte, chunk func() int, segSize uint32) ([]Record, error) {
	d := NewDecoderSegSize(start, 150004, segSize)
	var out []Record
	end := start + LSN(len(wal))
	for len(wal) > 0 {
		n := min(chunk(), len(wal))
		d.Feed(wal[:n])
		wal = wal[n:]
		for {
			rec, ok, err := d.Next()
			if err != nil {
				return out, err
			}
			if !ok {
				break
			}
			rec.Data = bytes.Clone(rec.Data)
			out = append(out, rec)
		}
	}
	if d.FedLSN() != end {
		t.Fatalf("FedLSN %s, fed up to %s", d.FedLSN(), end)
	}
	return out, nil
}

func TestDecoderSynthetic(t *testing.T) {
	t.Parallel()
	// 1 MiB segments keep the XLOG_SWITCH tails small; the real WAL test
	// covers 16 MiB segments.
	const segSize = 1 << 20
	sizes := []int{0, 10, 100, 8000, 8168, 8169, 20000, 3, 16, -1, 5, 70000, 1, 2, 300000, 7, -1, 8, 1 << 20, -1, 9}
	small := []int{0, 10, 100, 8000, 8168, 8169, 20000, 3, 16, 5, 70000, 1, 2, 7, 8}
	for _, start := range []LSN{0x1000028, 0x1000000, 0x1002000, 0x1001ff8, 0x10fffd8} {
		wal, bigWant := synthWALSegSize(start, sizes, segSize)
		smallWAL, smallWant := synthWALSegSize(start, small, segSize)
		r := rand.New(rand.NewPCG(uint64(start), 1))
		for _, tc := range []struct {
			name  string
			wal   []byte
			want  []synthRecord
			chunk func() int
		}{
			{"whole", wal, bigWant, func() int { return len(wal) }},
			{"8192", wal, bigWant, func() int { return 8192 }},
			{"random", wal, bigWant, func() int { return 1 + r.IntN(128<<10) }},
			{"1", smallWAL, smallWant, func() int { return 1 }},
			{"7", smallWAL, smallWant, func() int { return 7 }},
			{"small random", smallWAL, smallWant, func() int { return 1 + r.IntN(100) }},
		} {
			want := tc.want
			got, err := decodeChunkedSegSize(t, start, tc.wal, tc.chunk, segSize)
			if err != nil {
				t.Fatalf("start %s chunks %s: %v", start, tc.name, err)
			}
			if len(got) != len(want) {
				t.Fatalf("start %s chunks %s: %d records, want %d", start, tc.name, len(got), len(want))
			}
			for i, r := range got {
				w := want[i]
				if r.StartLSN != w.start || r.Header.RMID != w.rmid || r.Header.Info != w.info ||
					!bytes.Equal(r.Data[SizeOfXLogRecord:], w.body) || int(r.Header.TotLen) != len(r.Data) {
					t.Fatalf("start %s chunks %s record %d: got %s rmid %d len %d, want %s rmid %d len %d",
						start, tc.name, i, r.StartLSN, r.Header.RMID, len(r.Data), w.start, w.rmid, len(w.body)+24)
				}
				if i+1 < len(want) && r.NextLSN != want[i+1].start &&
					!(r.NextLSN.PageOffset() == 0 && want[i+1].start-r.NextLSN <= SizeOfXLogLongPHD) {
					t.Fatalf("record %d NextLSN %s, next record at %s", i, r.NextLSN, want[i+1].start)
				}
				if r.Header.IsSwitch() && uint64(r.NextLSN)%segSize != 0 {
					t.Fatalf("switch NextLSN %s", r.NextLSN)
				}
				if !r.Header.IsSwitch() && r.NextLSN != r.EndLSN.Align8() {
					t.Fatalf("NextLSN %s EndLSN %s", r.NextLSN, r.EndLSN)
				}
			}
		}
	}
}

func TestDecoderLSN(t *testing.T) {
	t.Parallel()
	start := LSN(0x1000028)
	wal, want := synthWAL(start, []int{5, 20000})
	d := NewDecoder(start, 15)
	if d.LSN() != start {
		t.Fatalf("initial LSN %s", d.LSN())
	}
	d.Feed(wal)
	if d.FedLSN() != start+LSN(len(wal)) {
		t.Fatalf("FedLSN %s", d.FedLSN())
	}
	r, ok, err := d.Next()
	if !ok || err != nil || r.StartLSN != want[0].start || r.EndLSN != start+29 || d.LSN() != start+29 || r.NextLSN != start+32 {
		t.Fatalf("first record %+v %v %v, LSN %s", r, ok, err, d.LSN())
	}
	r, ok, err = d.Next()
	if !ok || err != nil || r.EndLSN != start+LSN(len(wal)) || d.LSN() != r.EndLSN {
		t.Fatalf("second record end %s, wal end %s, %v %v", r.EndLSN, start+LSN(len(wal)), ok, err)
	}
	if _, ok, err = d.Next(); ok || err != nil {
		t.Fatalf("after end: %v %v", ok, err)
	}
}

// TestDecoderRejects corrupts synthetic WAL in one place and checks the
// sentinel error and the LSN it is reported at.
func TestDecoderRejects(t *testing.T) {
	t.Parallel()
	start := LSN(0x1000028)
	base, recs := synthWAL(start, []int{100, 20000, 50})
	off := func(l LSN) int { return int(l - start) }
	page2 := off(0x1002000) // short header inside the 20000-byte record
	for _, tc := range []struct {
		name    string
		corrupt func(w []byte) []byte
		want    error
		at      LSN
	}{
		{"crc", func(w []byte) []byte { w[off(recs[0].start)+30] ^= 1; return w }, ErrBadCRC, recs[0].start},
		{"crc of spanning record", func(w []byte) []byte { w[len(w)-200] ^= 1; return w }, ErrBadCRC, recs[1].start},
		{"crc field", func(w []byte) []byte { w[off(recs[2].start)+20] ^= 1; return w }, ErrBadCRC, recs[2].start},
		{"magic", func(w []byte) []byte { w[page2] = 0x0D; w[page2+1] = 0xD1; return w }, ErrBadMagic, 0x1002000},
		{"pageaddr", func(w []byte) []byte { w[page2+9] ^= 0x40; return w }, ErrBadPageAddr, 0x1002000},
		{"contrecord flag cleared", func(w []byte) []byte { w[page2+2] &^= 1; return w }, ErrBadContRecord, 0x1002000},
		{"rem_len", func(w []byte) []byte { w[page2+16]++; return w }, ErrBadContRecord, 0x1002000},
		{"unknown xlp_info bit", func(w []byte) []byte { w[page2+2] |= 0x10; return w }, ErrBadPageHeader, 0x1002000},
		{"long header flag on short page", func(w []byte) []byte { w[page2+2] |= 2; return w }, ErrBadPageHeader, 0x1002000},
		{"short tot_len", func(w []byte) []byte {
			binary.LittleEndian.PutUint32(w[off(recs[2].start):], 23)
			return w
		}, ErrBadRecordLength, recs[2].start},
		{"zero-filled", func(w []byte) []byte { clear(w[off(recs[2].start):]); return w }, ErrBadRecordLength, recs[2].start},
		{"huge tot_len", func(w []byte) []byte {
			binary.LittleEndian.PutUint32(w[off(recs[0].start):], 0xFFFFFFF0)
			return w
		}, ErrBadRecordLength, recs[0].start},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.corrupt(bytes.Clone(base))
			for _, chunk := range []int{1, 13, len(w)} {
				_, err := decodeChunked(t, start, w, func() int { return chunk })
				var de *DecodeError
				if !errors.Is(err, tc.want) || !errors.As(err, &de) || de.LSN != tc.at {
					t.Fatalf("chunk %d: err %v, want %v at %s", chunk, err, tc.want, tc.at)
				}
			}
		})
	}
}

func TestDecoderRejectsFirstPage(t *testing.T) {
	t.Parallel()
	wal, _ := synthWAL(0x1000000, []int{10})
	for _, tc := range []struct {
		name    string
		corrupt func(w []byte)
		want    error
	}{
		{"contrecord without record", func(w []byte) { w[2] |= 1; binary.LittleEndian.PutUint32(w[16:], 8) }, ErrBadContRecord},
		{"rem_len without flag", func(w []byte) { binary.LittleEndian.PutUint32(w[16:], 8) }, ErrBadContRecord},
		{"no long header at segment start", func(w []byte) { w[2] &^= 2 }, ErrBadPageHeader},
		{"other version", func(w []byte) { w[0] = 0x13 }, ErrBadMagic},
	} {
		w := bytes.Clone(wal)
		tc.corrupt(w)
		_, err := decodeChunked(t, 0x1000000, w, func() int { return 5 })
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	// Any known magic is accepted with pgVersion 0, an unknown one is not.
	w := bytes.Clone(wal)
	w[0] = 0x13 // PG16
	d := NewDecoder(0x1000000, 0)
	d.Feed(w)
	if _, ok, err := d.Next(); !ok || err != nil {
		t.Fatalf("pgVersion 0 with PG16 magic: %v %v", ok, err)
	}
	w[0] = 0x99
	d = NewDecoder(0x1000000, 0)
	d.Feed(w)
	if _, _, err := d.Next(); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("unknown magic: %v", err)
	}
	if _, _, err := NewDecoder(0x1000000, 130000).Next(); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("PG13: %v", err)
	}
	if _, _, err := NewDecoder(0x1000010, 15).Next(); err == nil {
		t.Fatalf("start inside the long header accepted")
	}
}

func TestDecoderErrorIsSticky(t *testing.T) {
	t.Parallel()
	wal, _ := synthWAL(0x1000028, []int{10, 10})
	clear(wal[40:])
	d := NewDecoder(0x1000028, 15)
	d.Feed(wal)
	if _, ok, err := d.Next(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, _, err1 := d.Next()
	d.Feed(wal)
	_, _, err2 := d.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v, %v", err1, err2)
	}
}

// TestDecoderBufferBounded checks that the input buffer is compacted and
// gives memory back after a large Feed.
func TestDecoderBufferBounded(t *testing.T) {
	t.Parallel()
	sizes := make([]int, 3000)
	for i := range sizes {
		sizes[i] = 100 + i%5000
	}
	start := LSN(0x1000028)
	wal, want := synthWAL(start, sizes)
	d := NewDecoder(start, 15)
	n := 0
	drain := func() {
		for {
			_, ok, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			n++
		}
	}
	half := len(wal) / 2
	d.Feed(wal[:half])
	drain()
	if cap(d.buf) < half {
		t.Fatalf("cap %d after feeding %d", cap(d.buf), half)
	}
	for off := half; off < len(wal); off += 1000 {
		d.Feed(wal[off:min(off+1000, len(wal))])
		drain()
		if cap(d.buf) > 1<<20 {
			t.Fatalf("input buffer still holds %d bytes of capacity", cap(d.buf))
		}
	}
	if n != len(want) {
		t.Fatalf("%d records, want %d", n, len(want))
	}
}

// TestIsSwitch checks that XLOG_SWITCH is recognized as Neon's
// safekeeper does (is_xlog_switch_record): xl_info compared whole,
// xloginsert's flag bits included, which PostgreSQL never sets on it.
func TestIsSwitch(t *testing.T) {
	for _, c := range []struct {
		rmid, info uint8
		want       bool
	}{
		{RMXLogID, XLogSwitch, true},
		{RMXLogID, XLogSwitch | 0x01, false},
		{RMXLogID, XLogSwitch | 0x02, false},
		{RMXLogID, 0x50, false},
		{RMXLogID, 0x00, false},
		{RMHeapID, XLogSwitch, false},
	} {
		if got := (XLogRecord{RMID: c.rmid, Info: c.info}).IsSwitch(); got != c.want {
			t.Errorf("rmid %d info %#x: IsSwitch %v, want %v", c.rmid, c.info, got, c.want)
		}
	}
}
