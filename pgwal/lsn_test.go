package pgwal

import (
	"errors"
	"testing"
)

func TestLSNText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lsn  LSN
		text string
	}{
		{0, "0/0"},
		{0x01000150, "0/1000150"},
		{0x1_0000_0000, "1/0"},
		{0xFFFFFFFF_FFFFFFFF, "FFFFFFFF/FFFFFFFF"},
	} {
		if got := tc.lsn.String(); got != tc.text {
			t.Errorf("%d.String() = %q, want %q", uint64(tc.lsn), got, tc.text)
		}
		got, err := ParseLSN(tc.text)
		if err != nil || got != tc.lsn {
			t.Errorf("ParseLSN(%q) = %v, %v", tc.text, got, err)
		}
	}
	if got, err := ParseLSN("a/bc"); err != nil || got != 0xa_0000_00bc {
		t.Errorf("lower case: %v %v", got, err)
	}
	for _, bad := range []string{"", "/", "0/", "/0", "1/2/3", "100000000/0", "0/100000000", "x/1", "0x1/2", "-1/2"} {
		if _, err := ParseLSN(bad); !errors.Is(err, ErrBadLSN) {
			t.Errorf("ParseLSN(%q) err = %v, want ErrBadLSN", bad, err)
		}
	}
}

func TestSegmentName(t *testing.T) {
	t.Parallel()
	const seg = DefaultSegmentSize
	for _, tc := range []struct {
		segNo uint64
		name  string
	}{
		{0, "000000010000000000000000"},
		{0x12, "000000010000000000000012"},
		{0xFF, "0000000100000000000000FF"},
		{0x100, "000000010000000100000000"},
		{0xA_FF, "000000010000000A000000FF"},
	} {
		if got := SegmentName(tc.segNo, seg); got != tc.name {
			t.Errorf("SegmentName(%#x) = %s, want %s", tc.segNo, got, tc.name)
		}
		n, partial, err := ParseSegmentName(tc.name+".partial", seg)
		if err != nil || n != tc.segNo || !partial {
			t.Errorf("ParseSegmentName(%s.partial) = %d %v %v", tc.name, n, partial, err)
		}
	}
	for _, bad := range []string{"", "safekeeper.control", "00000001000000000000001", "0000000100000000000000XY", "000000010000000000000012.tmp"} {
		if _, _, err := ParseSegmentName(bad, seg); !errors.Is(err, ErrBadSegmentName) {
			t.Errorf("ParseSegmentName(%q) err = %v", bad, err)
		}
	}
	if got := LSN(0x0_0200_0028).SegmentNumber(seg); got != 2 {
		t.Errorf("SegmentNumber = %d", got)
	}
	if got := LSN(0x1_0000_0001).Align8(); got != 0x1_0000_0008 {
		t.Errorf("Align8 = %v", got)
	}
}

func TestCanBeRecordBoundary(t *testing.T) {
	const seg = 16 << 20
	for _, c := range []struct {
		l    LSN
		want bool
	}{
		{0, true},
		{seg, true},       // a segment's start: the end of a record that filled the last page
		{seg + 8, false},  // inside the long page header
		{seg + 32, false}, // still inside it
		{seg + 40, true},
		{seg + 8192, true},
		{seg + 8192 + 16, false}, // inside a short page header
		{seg + 8192 + 24, true},
		{seg + 8192 + 27, false}, // not aligned
		{seg + 8192*5 + 4096, true},
	} {
		if got := c.l.CanBeRecordBoundary(seg); got != c.want {
			t.Errorf("%s: %t, want %t", c.l, got, c.want)
		}
	}
}
