package e2e

import (
	"testing"
	"time"
)

func TestCaptureWAL(t *testing.T) {
	start := time.Now()
	w := SharedWAL(t)
	t.Logf("captured %s..%s (%d MiB), %d records, switches %v in %v", w.Base, w.End, len(w.Data)>>20, len(w.Records), w.Switches, time.Since(start))
	if w.End-w.Base < 2*16<<20 {
		t.Fatalf("capture spans %d bytes, want ≥ 2 segments", w.End-w.Base)
	}
	for i := 1; i < len(w.Records); i++ {
		if w.Records[i] <= w.Records[i-1] {
			t.Fatalf("records not ascending at %d", i)
		}
	}
	if !w.IsBoundary(w.End) || !w.IsBoundary(w.Records[5]) || w.IsBoundary(w.Records[5]+1) {
		t.Fatal("IsBoundary")
	}
}

func TestCaptureCrossesSegment(t *testing.T) {
	w := SharedWAL(t)
	// Some record starts in one segment and the next one in the following
	// segment without an XLOG_SWITCH between them.
	for i := 1; i < len(w.Records); i++ {
		a, b := w.Records[i-1], w.Records[i]
		if a.SegmentNumber(16<<20) != b.SegmentNumber(16<<20) && b.SegmentOffset(16<<20) != 40 {
			return
		}
	}
	t.Fatal("no record crosses a segment boundary")
}
