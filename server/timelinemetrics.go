package server

import (
	"github.com/walkeeper/walkeeper/metrics"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/timeline"
)

// timelineSamples reads the per-timeline gauges from the registry, and the
// fan-out reader tasks from hub (nil when fan-out is off), on every
// scrape. A timeline being deleted is skipped.
func timelineSamples(reg *timeline.Registry, hub *replication.ReaderHub) metrics.TimelineSource {
	return func() []metrics.TimelineSample {
		tls := reg.List()
		out := make([]metrics.TimelineSample, 0, len(tls))
		for _, t := range tls {
			release, err := t.Enter()
			if err != nil {
				continue
			}
			st := t.Status()
			seg := uint64(t.State().Server.WalSegSize)
			wal := t.WALCounters()
			release()
			computes := t.NumWALReceivers()
			senders := t.WalSenders()
			fb := senders.FeedbackStats()
			// Neon's broker-active rule without WAL backup: computes
			// connected, WAL to back up, or a pageserver behind.
			active := computes > 0 || st.CommitLSN.SegmentNumber(seg) > st.BackupLSN.SegmentNumber(seg) ||
				st.RemoteConsistentLSN < st.CommitLSN
			out = append(out, metrics.TimelineSample{
				TenantID:            t.TTID.Tenant.String(),
				TimelineID:          t.TTID.Timeline.String(),
				Active:              active,
				CommitLSN:           uint64(st.CommitLSN),
				BackupLSN:           uint64(st.BackupLSN),
				FlushLSN:            uint64(st.FlushLSN),
				EpochStartLSN:       uint64(st.TermStartLSN),
				PeerHorizonLSN:      uint64(st.PeerHorizonLSN),
				RemoteConsistentLSN: uint64(st.RemoteConsistentLSN),
				ConnectedComputes:   computes,
				AcceptorTerm:        st.Term,
				WrittenWALBytes:     wal.WrittenBytes,
				WrittenWALSeconds:   wal.WriteSeconds,
				FlushedWALSeconds:   wal.FlushedSeconds,

				PSLastReceivedLSN:         uint64(fb.Last.LastReceivedLSN),
				PSFeedbackCount:           fb.Count,
				PSCorruptionDetected:      fb.CorruptionDetected,
				FeedbackLastTime:          replication.TimeFromPG(fb.Last.ReplyTime).Unix(),
				InterpretedWALReaderTasks: hub.Tasks(senders),
			})
		}
		return out
	}
}
