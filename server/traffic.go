package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walkeeper/walkeeper/pgwire"
)

// labelUnknown is the value of a traffic label nobody gave, as in Neon.
const labelUnknown = "unknown"

// trafficCounters counts libpq bytes in safekeeper_pg_io_bytes_total,
// labelled as Neon's safekeeper does: the client's availability_zone
// option, this safekeeper's --availability-zone, the application_name,
// the direction, and whether the two zones are the same.
func trafficCounters(vec *prometheus.CounterVec, skAZ string) pgwire.TrafficFunc {
	if skAZ == "" {
		skAZ = labelUnknown
	}
	return func(clientAZ, appName string) (read, write pgwire.Counter) {
		if clientAZ == "" {
			clientAZ = labelUnknown
		}
		if appName == "" {
			appName = labelUnknown
		}
		same := labelUnknown
		if clientAZ != labelUnknown && skAZ != labelUnknown {
			same = "false"
			if clientAZ == skAZ {
				same = "true"
			}
		}
		return vec.WithLabelValues(clientAZ, skAZ, appName, "read", same),
			vec.WithLabelValues(clientAZ, skAZ, appName, "write", same)
	}
}
