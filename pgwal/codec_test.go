package pgwal

import (
	"errors"
	"testing"
)

func TestHeaderCodecs(t *testing.T) {
	t.Parallel()
	short := XLogPageHeaderData{Magic: 0xD110, Info: XLPFirstIsContRecord, TLI: 1, PageAddr: 0x1_0000_2000, RemLen: 1234}
	b := AppendXLogPageHeader([]byte{9}, short)
	if len(b) != 1+SizeOfXLogShortPHD {
		t.Fatalf("short header is %d bytes", len(b)-1)
	}
	if got, err := ParseXLogPageHeader(b[1:]); err != nil || got != short {
		t.Fatalf("short: %+v %v", got, err)
	}
	long := XLogLongPageHeaderData{XLogPageHeaderData: short, SysID: 7_000_000_000_000_000_001, SegSize: DefaultSegmentSize, XLogBlcksz: XLogBlockSize}
	long.Info = XLPLongHeader
	b = AppendXLogLongPageHeader(nil, long)
	if len(b) != SizeOfXLogLongPHD {
		t.Fatalf("long header is %d bytes", len(b))
	}
	if got, err := ParseXLogLongPageHeader(b); err != nil || got != long {
		t.Fatalf("long: %+v %v", got, err)
	}
	r := XLogRecord{TotLen: 54, XID: 735, Prev: 0x1A4B890, Info: 0x10, RMID: RMHeapID, CRC: 0xDEADBEEF}
	b = AppendXLogRecord(nil, r)
	if len(b) != SizeOfXLogRecord {
		t.Fatalf("record header is %d bytes", len(b))
	}
	if got, err := ParseXLogRecord(b); err != nil || got != r {
		t.Fatalf("record: %+v %v", got, err)
	}
	if _, err := ParseXLogPageHeader(b[:23]); !errors.Is(err, ErrBadPageHeader) {
		t.Errorf("short input: %v", err)
	}
	if _, err := ParseXLogLongPageHeader(b); !errors.Is(err, ErrBadPageHeader) {
		t.Errorf("short input: %v", err)
	}
	if _, err := ParseXLogRecord(b[:20]); !errors.Is(err, ErrBadRecordLength) {
		t.Errorf("short input: %v", err)
	}
}

func TestPageMagic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version uint32
		magic   uint16
		ok      bool
	}{
		{14, 0xD10D, true}, {140011, 0xD10D, true}, {15, 0xD110, true}, {150004, 0xD110, true},
		{160000, 0xD113, true}, {17, 0xD116, true}, {130000, 0, false}, {18, 0, false}, {0, 0, false},
	} {
		if m, ok := PageMagic(tc.version); m != tc.magic || ok != tc.ok {
			t.Errorf("PageMagic(%d) = %04X %v", tc.version, m, ok)
		}
	}
}
