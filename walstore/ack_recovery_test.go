package walstore

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestSegmentCompletionFlushesEarlierRecords: a write that completes
// a segment fdatasyncs it, so every record written before it in that
// segment is durable, even when no record ends inside the completing write
// (the record at the boundary started in an earlier write and runs on into
// the next segment). Neon's write_wal advances flush_record_lsn to the old
// write_record_lsn when it is <= the new flush_lsn ("We may have flushed a
// previously written record"), so the no-flush append is acknowledged
// (walproposer-protocol §3.7 b). The store must report it too.
func TestSegmentCompletionFlushesEarlierRecords(t *testing.T) {
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

// TestRejectedWriteDoesNotBlockOpen: Write puts the bytes on disk before
// it decodes them, so WAL the decoder rejects (here a record with a bad
// CRC, followed in the same AppendRequest by valid records) lands in the
// .partial segment. Were it left there, a restart before the next
// election's truncation would find "invalid WAL followed by valid WAL",
// Open would fail with ErrCorrupt and the timeline's committed WAL could
// not be served, although the disk is fine: the store wrote those bytes
// itself. The store cuts them off at once (dropRejected); recovery then
// ends at the last valid record.
func TestRejectedWriteDoesNotBlockOpen(t *testing.T) {
	w := getRealWAL(t)
	dir := t.TempDir()
	s, err := Open(realConfig(dir, w.sysID), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitializeFirstSegment(w.start); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(w.start); err != nil {
		t.Fatal(err)
	}
	// A record in the last segment whose header lies on one page.
	lastSeg := pgwal.LSN(w.end.SegmentNumber(pgwal.DefaultSegmentSize) * pgwal.DefaultSegmentSize)
	// good is where the last valid record before it ends: bad.StartLSN,
	// or the page boundary before it when that record ends a page (then
	// bad starts after the next page's header).
	var bad pgwal.Record
	var good pgwal.LSN
	for i, r := range w.records {
		if i > 0 && r.StartLSN > lastSeg+pgwal.XLogBlockSize && r.StartLSN.PageOffset()+pgwal.SizeOfXLogRecord <= pgwal.XLogBlockSize {
			bad, good = r, w.records[i-1].NextLSN
			break
		}
	}
	if bad.StartLSN == 0 || bad.NextLSN+4096 > w.end {
		t.Skip("no suitable record in the last segment")
	}
	if good != bad.StartLSN {
		t.Logf("the record before the bad one (at %s) ends its page, at %s", bad.StartLSN, good)
	}
	for pos := w.start; pos < bad.StartLSN; {
		n := min(bad.StartLSN-pos, pgwal.MaxSendSize)
		if err := s.Write(pos, w.bytesAt(pos, pos+n)); err != nil {
			t.Fatal(err)
		}
		pos += n
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// The next AppendRequest: the record with one CRC byte flipped, then
	// a few KiB of valid records.
	chunk := append([]byte(nil), w.bytesAt(bad.StartLSN, bad.NextLSN+4096)...)
	chunk[crcLSN(t, bad)-bad.StartLSN] ^= 0xff
	if err := s.Write(bad.StartLSN, chunk); err == nil {
		t.Fatal("Write of a record with a bad CRC succeeded")
	}
	// The session ends; a vote would flush; then the process restarts.
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := s.FlushLSN(); got != good {
		t.Fatalf("flush_lsn %s, want %s (the record before the bad one at %s ends there)", got, good, bad.StartLSN)
	}
	s.Close()
	s2, err := Open(realConfig(dir, w.sysID), w.start, w.start)
	if err != nil {
		t.Fatalf("reopening after a rejected write: %v; want the end of WAL at %s (the last acknowledged record end)", err, good)
	}
	defer s2.Close()
	if got := s2.FlushLSN(); got != good {
		t.Fatalf("recovered %s, want %s", got, good)
	}
}

// TestRejectedWriteCompletingSegment: a write that completes a segment
// gives it its full name, and recovery takes damage in a complete segment
// for corruption. So such a write is decoded before anything of it is
// written: with a record the decoder rejects, Write fails, nothing of it
// reaches the file, the segment keeps its .partial name, and a restart
// ends at the last record written before it. Before, the bytes were
// written and the segment renamed first, and only then cut off again
// (dropRejected): a crash in between left invalid WAL in a complete
// segment, and the timeline would not load.
func TestRejectedWriteCompletingSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	start := pgwal.LSN(2 * testSeg)
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	data := fakeWAL(start, testSeg)
	half := testSeg / 2
	if err := s.Write(start, data[:half]); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	good := start + pgwal.LSN(half)
	rest := append([]byte(nil), data[half:]...)
	rest[3*fakeRecSize] ^= 0xff // the fourth record of the completing write claims another LSN
	if err := s.Write(good, rest); err == nil {
		t.Fatal("Write of a rejected record succeeded")
	}
	if !errors.Is(s.Write(good, data[half:]), ErrTruncationPending) {
		t.Error("writes are not refused until a truncation")
	}
	if _, err := os.Stat(segPath(dir, 2, testSeg, false)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment 2 under its full name after a rejected write: %v", err)
	}
	onDisk, err := os.ReadFile(segPath(dir, 2, testSeg, true))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk[:half], data[:half]) || !bytes.Equal(onDisk[half:], make([]byte, testSeg-half)) {
		t.Fatal("the rejected write's bytes reached the segment")
	}
	s.Close()
	s2, err := Open(fakeConfig(dir, testSeg), start, start)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if got := s2.FlushLSN(); got != good {
		t.Fatalf("recovered end %s, want %s", got, good)
	}
}
