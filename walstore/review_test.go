package walstore

import (
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestReviewSegmentCompletionFlushesEarlierRecords: a write that completes
// a segment fdatasyncs it, so every record written before it in that
// segment is durable, even when no record ends inside the completing write
// (the record at the boundary started in an earlier write and runs on into
// the next segment). Neon's write_wal advances flush_record_lsn to the old
// write_record_lsn when it is <= the new flush_lsn ("We may have flushed a
// previously written record"), so the no-flush append is acknowledged
// (walproposer-protocol §3.7 b). The store must report it too.
func TestReviewSegmentCompletionFlushesEarlierRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	// Records start 32 bytes off the 64-byte grid, so the record
	// [3seg-32, 3seg+32) spans the boundary between segments 2 and 3.
	start := pgwal.LSN(2*testSeg + 32)
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	data := fakeWAL(start, testSeg)
	boundary := pgwal.LSN(3 * testSeg)
	// Write A: up to 16 bytes into the spanning record; the last complete
	// record ends at 3seg-32. Not flushed.
	a := int(boundary - 16 - start)
	if err := s.Write(start, data[:a]); err != nil {
		t.Fatal(err)
	}
	lastRecord := boundary - 32
	if got := s.WriteRecordLSN(); got != lastRecord {
		t.Fatalf("write_record_lsn %s, want %s", got, lastRecord)
	}
	// Write B: 32 bytes that complete segment 2 (fdatasync + rename) but
	// end inside the spanning record, so no record ends in B.
	if err := s.Write(boundary-16, data[a:a+32]); err != nil {
		t.Fatal(err)
	}
	if got := s.RawFlushLSN(); got != boundary {
		t.Fatalf("raw flush %s, want %s (segment completed)", got, boundary)
	}
	if got := s.FlushLSN(); got != lastRecord {
		t.Errorf("flush_record_lsn %s after segment 2 was fdatasynced; want %s (the last record in it)", got, lastRecord)
	}
}
