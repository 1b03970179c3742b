package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTimelineCollector(t *testing.T) {
	t.Parallel()
	m := New()
	samples := []TimelineSample{
		{TenantID: "aa", TimelineID: "01", Active: true, CommitLSN: 100, BackupLSN: 1, FlushLSN: 120, EpochStartLSN: 40,
			PeerHorizonLSN: 2, RemoteConsistentLSN: 3, ConnectedComputes: 1, AcceptorTerm: 5, WrittenWALBytes: 80,
			PSLastReceivedLSN: 90, PSFeedbackCount: 4, PSCorruptionDetected: true, FeedbackLastTime: 1700000000,
			InterpretedWALReaderTasks: 2},
		{TenantID: "aa", TimelineID: "02", Active: false, CommitLSN: 7},
		// A replytime before 1970 is not exported.
		{TenantID: "aa", TimelineID: "03", Active: true, FeedbackLastTime: -1},
	}
	m.RegisterTimelines(func() []TimelineSample { return samples })
	want := `
# HELP safekeeper_commit_lsn Current commit_lsn (not necessarily persisted to disk), grouped by timeline
# TYPE safekeeper_commit_lsn gauge
safekeeper_commit_lsn{tenant_id="aa",timeline_id="01"} 100
safekeeper_commit_lsn{tenant_id="aa",timeline_id="03"} 0
# HELP safekeeper_ps_last_received_lsn Last LSN received by the pageserver, acknowledged in the feedback
# TYPE safekeeper_ps_last_received_lsn gauge
safekeeper_ps_last_received_lsn{tenant_id="aa",timeline_id="01"} 90
safekeeper_ps_last_received_lsn{tenant_id="aa",timeline_id="03"} 0
# HELP safekeeper_ps_feedback_count_total Number of feedbacks received from the pageserver
# TYPE safekeeper_ps_feedback_count_total gauge
safekeeper_ps_feedback_count_total{tenant_id="aa",timeline_id="01"} 4
safekeeper_ps_feedback_count_total{tenant_id="aa",timeline_id="03"} 0
# HELP safekeeper_ps_corruption_detected 1 if corruption was detected in the timeline according to feedback from the pageserver, 0 otherwise
# TYPE safekeeper_ps_corruption_detected gauge
safekeeper_ps_corruption_detected{tenant_id="aa",timeline_id="01"} 1
safekeeper_ps_corruption_detected{tenant_id="aa",timeline_id="03"} 0
# HELP safekeeper_feedback_last_time_seconds Timestamp of the last feedback from the pageserver
# TYPE safekeeper_feedback_last_time_seconds gauge
safekeeper_feedback_last_time_seconds{tenant_id="aa",timeline_id="01"} 1.7e+09
# HELP safekeeper_interpreted_wal_reader_tasks Number of active interpreted wal reader tasks, grouped by timeline
# TYPE safekeeper_interpreted_wal_reader_tasks gauge
safekeeper_interpreted_wal_reader_tasks{tenant_id="aa",timeline_id="01"} 2
safekeeper_interpreted_wal_reader_tasks{tenant_id="aa",timeline_id="03"} 0
# HELP safekeeper_written_wal_bytes_total Number of WAL bytes written to disk, grouped by timeline
# TYPE safekeeper_written_wal_bytes_total gauge
safekeeper_written_wal_bytes_total{tenant_id="aa",timeline_id="01"} 80
safekeeper_written_wal_bytes_total{tenant_id="aa",timeline_id="03"} 0
# HELP safekeeper_timelines Total number of timelines loaded in-memory
# TYPE safekeeper_timelines gauge
safekeeper_timelines 3
# HELP safekeeper_active_timelines Total number of active timelines
# TYPE safekeeper_active_timelines gauge
safekeeper_active_timelines 2
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "safekeeper_commit_lsn",
		"safekeeper_written_wal_bytes_total", "safekeeper_timelines", "safekeeper_active_timelines",
		"safekeeper_ps_last_received_lsn", "safekeeper_ps_feedback_count_total", "safekeeper_ps_corruption_detected",
		"safekeeper_feedback_last_time_seconds", "safekeeper_interpreted_wal_reader_tasks"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(m.Registry, "safekeeper_flush_lsn", "safekeeper_epoch_start_lsn", "safekeeper_backup_lsn",
		"safekeeper_peer_horizon_lsn", "safekeeper_remote_consistent_lsn", "safekeeper_connected_computes",
		"safekeeper_acceptor_term", "safekeeper_timeline_active", "safekeeper_collect_timeline_metrics_seconds",
		"safekeeper_written_wal_seconds_total", "safekeeper_flushed_wal_seconds_total")
	if err != nil || n != 2*10+1 { // ten series for each of two active timelines, and the histogram
		t.Fatalf("GatherAndCount = %d, %v", n, err)
	}
	// Deleted timelines vanish on the next scrape.
	samples = nil
	if n, _ := testutil.GatherAndCount(m.Registry, "safekeeper_commit_lsn"); n != 0 {
		t.Fatalf("%d commit_lsn series after the timelines went away", n)
	}
}
