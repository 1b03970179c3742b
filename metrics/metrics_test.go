package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNamesAndBuckets(t *testing.T) {
	t.Parallel()
	m := New()
	m.FlushWALSeconds.Observe(0.002)
	m.WriteWALBytes.Observe(8192)
	m.PGQueriesReceived.WithLabelValues(QueryTimelineStatus).Inc()
	m.StorageOperation.WithLabelValues(OpTruncateWAL).Observe(0.3)
	want := `
# HELP safekeeper_flush_wal_seconds Seconds spent syncing WAL to a disk, excluding segment initialization
# TYPE safekeeper_flush_wal_seconds histogram
safekeeper_flush_wal_seconds_bucket{le="0.001"} 0
safekeeper_flush_wal_seconds_bucket{le="0.005"} 1
safekeeper_flush_wal_seconds_bucket{le="0.01"} 1
safekeeper_flush_wal_seconds_bucket{le="0.05"} 1
safekeeper_flush_wal_seconds_bucket{le="0.1"} 1
safekeeper_flush_wal_seconds_bucket{le="0.5"} 1
safekeeper_flush_wal_seconds_bucket{le="1"} 1
safekeeper_flush_wal_seconds_bucket{le="5"} 1
safekeeper_flush_wal_seconds_bucket{le="10"} 1
safekeeper_flush_wal_seconds_bucket{le="30"} 1
safekeeper_flush_wal_seconds_bucket{le="+Inf"} 1
safekeeper_flush_wal_seconds_sum 0.002
safekeeper_flush_wal_seconds_count 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "safekeeper_flush_wal_seconds"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(m.Registry, "safekeeper_write_wal_bytes", "safekeeper_pg_queries_received_total",
		"safekeeper_wal_storage_operation_seconds", "go_goroutines", "walkeeper_replication_yield_seconds_total")
	if err != nil || n != 5 {
		t.Fatalf("GatherAndCount = %d, %v", n, err)
	}
}
