package pgwal

import (
	"bytes"
	"testing"
)

func TestAppendSegmentPrefix(t *testing.T) {
	t.Parallel()
	const seg = LSN(5 * DefaultSegmentSize)
	for _, tc := range []struct {
		start     LSN
		longInfo  uint16
		longRem   uint32
		short     bool
		shortInfo uint16
		shortRem  uint32
	}{
		{start: seg},
		{start: seg + 40, longInfo: XLPLongHeader},
		{start: seg + 48, longInfo: XLPLongHeader | XLPFirstIsContRecord, longRem: 8},
		{start: seg + 8000, longInfo: XLPLongHeader | XLPFirstIsContRecord, longRem: 7960},
		{start: seg + 8192, longInfo: XLPLongHeader},
		{start: seg + 3*8192 + 24, longInfo: XLPLongHeader, short: true},
		{start: seg + 3*8192 + 1000, longInfo: XLPLongHeader, short: true, shortInfo: XLPFirstIsContRecord, shortRem: 976},
	} {
		got := AppendSegmentPrefix([]byte("keep"), tc.start, 0xABCDEF, DefaultSegmentSize, 150004)
		if string(got[:4]) != "keep" || len(got)-4 != int(tc.start-seg) {
			t.Fatalf("start %s: %d bytes", tc.start, len(got)-4)
		}
		p := got[4:]
		if len(p) == 0 {
			continue
		}
		h, err := ParseXLogLongPageHeader(p)
		want := XLogLongPageHeaderData{
			XLogPageHeaderData: XLogPageHeaderData{Magic: 0xD110, Info: tc.longInfo, TLI: 1, PageAddr: seg, RemLen: tc.longRem},
			SysID:              0xABCDEF, SegSize: DefaultSegmentSize, XLogBlcksz: XLogBlockSize,
		}
		if err != nil || h != want {
			t.Fatalf("start %s: long header %+v, want %+v", tc.start, h, want)
		}
		rest := p[SizeOfXLogLongPHD:]
		if tc.short {
			page := int(tc.start-seg) &^ (XLogBlockSize - 1)
			sh, _ := ParseXLogPageHeader(p[page:])
			wantSh := XLogPageHeaderData{Magic: 0xD110, Info: tc.shortInfo, TLI: 1, PageAddr: seg + LSN(page), RemLen: tc.shortRem}
			if sh != wantSh {
				t.Fatalf("start %s: short header %+v, want %+v", tc.start, sh, wantSh)
			}
			rest = append(bytes.Clone(p[SizeOfXLogLongPHD:page]), p[page+SizeOfXLogShortPHD:]...)
		}
		if bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
			t.Fatalf("start %s: non-zero bytes outside headers", tc.start)
		}
	}
	// A start inside the long header yields the header cut short.
	if got := AppendSegmentPrefix(nil, seg+16, 1, DefaultSegmentSize, 15); len(got) != 16 {
		t.Fatalf("start inside header: %d bytes", len(got))
	}
}
