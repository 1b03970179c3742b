package walproto

import (
	"encoding/binary"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

// HotStandbyFeedback is the hot standby horizon a safekeeper relays to the
// proposer (walproposer.h HotStandbyFeedback). All zeros means "none".
type HotStandbyFeedback struct {
	TS          int64  // TimestampTz, microseconds since 2000-01-01 UTC
	Xmin        uint64 // FullTransactionId
	CatalogXmin uint64 // FullTransactionId
}

const hotStandbyFeedbackSize = 24

func appendHotStandbyFeedback(w *writer, hs HotStandbyFeedback) {
	w.u64(uint64(hs.TS))
	w.u64(hs.Xmin)
	w.u64(hs.CatalogXmin)
}

func parseHotStandbyFeedback(r *reader) HotStandbyFeedback {
	return HotStandbyFeedback{
		TS:          int64(r.u64("hs.ts")),
		Xmin:        r.u64("hs.xmin"),
		CatalogXmin: r.u64("hs.catalog_xmin"),
	}
}

// PageserverFeedback is the pageserver's progress report (Neon's
// utils::pageserver_feedback::PageserverFeedback; walproposer.h
// PageserverFeedback). On the wire it is a key/value block, big-endian in
// both protocol versions: u8 nkeys, then per key a cstring name, a u32 value
// length and the value.
type PageserverFeedback struct {
	CurrentTimelineSize uint64
	LastReceivedLSN     pgwal.LSN // ps_writelsn
	DiskConsistentLSN   pgwal.LSN // ps_flushlsn
	RemoteConsistentLSN pgwal.LSN // ps_applylsn
	ReplyTime           int64     // TimestampTz; may be negative
	ShardNumber         uint32    // sent only when > 0
	CorruptionDetected  bool      // sent only when true
}

// Keys as the safekeeper and pageserver emit them.
const (
	keyCurrentTimelineSize = "current_timeline_size"
	keyWriteLSN            = "ps_writelsn"
	keyFlushLSN            = "ps_flushlsn"
	keyApplyLSN            = "ps_applylsn"
	keyReplyTime           = "ps_replytime"
	keyShardNumber         = "shard_number"
	keyCorruptionDetected  = "corruption_detected"
)

func appendFeedbackKey(dst []byte, key string, n uint32) []byte {
	dst = append(dst, key...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint32(dst, n)
}

// AppendPageserverFeedback appends f as the reference does: the five fixed
// keys in order, then shard_number if > 0 and corruption_detected if true.
func AppendPageserverFeedback(dst []byte, f PageserverFeedback) []byte {
	nkeys := byte(5)
	if f.ShardNumber > 0 {
		nkeys++
	}
	if f.CorruptionDetected {
		nkeys++
	}
	dst = append(dst, nkeys)
	for _, kv := range [5]struct {
		k string
		v uint64
	}{
		{keyCurrentTimelineSize, f.CurrentTimelineSize},
		{keyWriteLSN, uint64(f.LastReceivedLSN)},
		{keyFlushLSN, uint64(f.DiskConsistentLSN)},
		{keyApplyLSN, uint64(f.RemoteConsistentLSN)},
		{keyReplyTime, uint64(f.ReplyTime)},
	} {
		dst = appendFeedbackKey(dst, kv.k, 8)
		dst = binary.BigEndian.AppendUint64(dst, kv.v)
	}
	if f.ShardNumber > 0 {
		dst = appendFeedbackKey(dst, keyShardNumber, 4)
		dst = binary.BigEndian.AppendUint32(dst, f.ShardNumber)
	}
	if f.CorruptionDetected {
		dst = appendFeedbackKey(dst, keyCorruptionDetected, 1)
		dst = append(dst, 1)
	}
	return dst
}

// ParsePageserverFeedback parses a feedback block at the start of b and
// returns it with the number of bytes it took; what follows is the caller's
// business. It accepts the walproposer's key aliases (last_received_lsn,
// disk_consistent_lsn, remote_consistent_lsn, replytime) and skips unknown
// keys by their length. A known key with a length other than its own is
// ErrMalformed; a block cut short is ErrShortMessage. Missing keys stay zero.
func ParsePageserverFeedback(b []byte) (PageserverFeedback, int, error) {
	r := reader{b: b, msg: "PageserverFeedback"} // always big-endian
	f := parsePageserverFeedback(&r)
	if r.err != nil {
		return PageserverFeedback{}, 0, r.err
	}
	return f, len(b) - len(r.b), nil
}

func parsePageserverFeedback(r *reader) PageserverFeedback {
	var f PageserverFeedback
	nkeys := r.u8("nkeys")
	for i := 0; i < int(nkeys) && r.err == nil; i++ {
		key := r.cstring("key")
		n := r.u32("value length")
		if r.err != nil {
			break
		}
		want := uint32(8)
		switch string(key) {
		case keyCurrentTimelineSize, keyWriteLSN, "last_received_lsn",
			keyFlushLSN, "disk_consistent_lsn", keyApplyLSN, "remote_consistent_lsn",
			keyReplyTime, "replytime":
		case keyShardNumber:
			want = 4
		case keyCorruptionDetected:
			want = 1
		default:
			if uint64(n) > uint64(len(r.b)) {
				r.fail(fmt.Errorf("%w: PageserverFeedback: unknown key %q needs %d bytes, have %d",
					ErrShortMessage, key, n, len(r.b)))
				break
			}
			r.b = r.b[n:]
			continue
		}
		if n != want {
			r.fail(fmt.Errorf("%w: PageserverFeedback key %s has length %d, want %d",
				ErrMalformed, key, n, want))
			break
		}
		switch string(key) {
		case keyCurrentTimelineSize:
			f.CurrentTimelineSize = r.u64("current_timeline_size")
		case keyWriteLSN, "last_received_lsn":
			f.LastReceivedLSN = pgwal.LSN(r.u64("last_received_lsn"))
		case keyFlushLSN, "disk_consistent_lsn":
			f.DiskConsistentLSN = pgwal.LSN(r.u64("disk_consistent_lsn"))
		case keyApplyLSN, "remote_consistent_lsn":
			f.RemoteConsistentLSN = pgwal.LSN(r.u64("remote_consistent_lsn"))
		case keyReplyTime, "replytime":
			f.ReplyTime = int64(r.u64("replytime"))
		case keyShardNumber:
			f.ShardNumber = r.u32("shard_number")
		case keyCorruptionDetected:
			f.CorruptionDetected = r.u8("corruption_detected") != 0
		}
	}
	return f
}
