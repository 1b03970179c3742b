package pgwal

// AppendSegmentPrefix appends the synthetic bytes that precede start in its
// segment when a timeline's WAL begins at start (spec
// storage-and-operations.md §1.3, replication.md §3.6): everything from the
// segment start up to start exactly, so that prefix + WAL from start is a
// segment pg_waldump and standbys accept.
//
// The prefix is zero except for
//   - the long page header at offset 0 (XLP_LONG_HEADER, timeline 1,
//     xlp_pageaddr, sysID, segSize, XLOG_BLCKSZ), and
//   - if start lies on a later page, a short header on start's page.
//
// The header of start's page gets XLP_FIRST_IS_CONTRECORD with xlp_rem_len
// pretending a fake record ends at start, but only when that length is
// positive: PostgreSQL never writes the flag with rem_len 0 and a standby
// starting right after the header would reject it (replication.md §10).
//
// When start is a segment start nothing is appended. A start inside a page
// header (not a valid record start) yields the header cut at start. An
// unsupported pgVersion yields xlp_magic 0, which every reader rejects.
func AppendSegmentPrefix(dst []byte, start LSN, sysID uint64, segSize uint32, pgVersion uint32) []byte {
	segStart := start - start%LSN(segSize)
	n := int(start - segStart)
	if n == 0 {
		return dst
	}
	magic, _ := PageMagic(pgVersion)
	base := len(dst)
	dst = append(dst, make([]byte, n)...)
	out := dst[base:]

	long := XLogLongPageHeaderData{
		XLogPageHeaderData: XLogPageHeaderData{Magic: magic, Info: XLPLongHeader, TLI: timelineID, PageAddr: segStart},
		SysID:              sysID, SegSize: segSize, XLogBlcksz: XLogBlockSize,
	}
	pageStart := start - LSN(start.PageOffset())
	if pageStart == segStart {
		long.XLogPageHeaderData = withFakeContRecord(long.XLogPageHeaderData, n-SizeOfXLogLongPHD)
	}
	var hdr [SizeOfXLogLongPHD]byte
	copy(out, AppendXLogLongPageHeader(hdr[:0], long))

	if pageStart != segStart && start != pageStart {
		p := int(start.PageOffset())
		short := XLogPageHeaderData{Magic: magic, TLI: timelineID, PageAddr: pageStart}
		short = withFakeContRecord(short, p-SizeOfXLogShortPHD)
		copy(out[int(pageStart-segStart):], AppendXLogPageHeader(hdr[:0], short))
	}
	return dst
}

// withFakeContRecord sets the continuation flag and rem_len when rem > 0.
func withFakeContRecord(h XLogPageHeaderData, rem int) XLogPageHeaderData {
	if rem > 0 {
		h.Info |= XLPFirstIsContRecord
		h.RemLen = uint32(rem)
	}
	return h
}
