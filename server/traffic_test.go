package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTrafficCounters: the labels of safekeeper_pg_io_bytes_total are
// Neon's, with "unknown" for what nobody gave and same_az known only when
// both zones are.
func TestTrafficCounters(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safekeeper_pg_io_bytes_total"},
		[]string{"client_az", "sk_az", "app_name", "dir", "same_az"})
	for _, c := range []struct {
		skAZ, clientAZ, app string
		labels              []string // client_az, sk_az, app_name, same_az
	}{
		{"", "", "", []string{"unknown", "unknown", "unknown", "unknown"}},
		{"az-1", "", "pageserver", []string{"unknown", "az-1", "pageserver", "unknown"}},
		{"", "az-1", "pageserver", []string{"az-1", "unknown", "pageserver", "unknown"}},
		{"az-1", "az-1", "wal_proposer", []string{"az-1", "az-1", "wal_proposer", "true"}},
		{"az-1", "az-2", "wal_proposer", []string{"az-2", "az-1", "wal_proposer", "false"}},
	} {
		read, write := trafficCounters(vec, c.skAZ)(c.clientAZ, c.app)
		read.Add(3)
		write.Add(5)
		l := c.labels
		if got := testutil.ToFloat64(vec.WithLabelValues(l[0], l[1], l[2], "read", l[3])); got != 3 {
			t.Errorf("%+v: read counter %v", c, got)
		}
		if got := testutil.ToFloat64(vec.WithLabelValues(l[0], l[1], l[2], "write", l[3])); got != 5 {
			t.Errorf("%+v: write counter %v", c, got)
		}
		vec.Reset()
	}
}
