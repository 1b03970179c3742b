package pgwire

// Counter counts bytes; a prometheus.Counter is one.
type Counter interface{ Add(float64) }

// TrafficFunc returns the counters of a connection's bytes read and
// written (Neon's safekeeper_pg_io_bytes_total), chosen by what the client
// said of itself: clientAZ is its availability_zone startup option and
// appName its application_name, both "" when not given. A Server calls it
// when it accepts a connection and again after the startup packet; the
// bytes from then on go to the counters of the latest call.
type TrafficFunc func(clientAZ, appName string) (read, write Counter)

// traffic is a connection's byte counters. Its fields change only in the
// handshake, before the connection's other goroutines start.
type traffic struct {
	read, write Counter // nil: not counted
}

func newTraffic(f TrafficFunc) *traffic {
	t := &traffic{}
	if f != nil {
		t.read, t.write = f("", "")
	}
	return t
}

// relabel moves the counting to the counters for the startup options.
func (t *traffic) relabel(f TrafficFunc, o StartupOptions) {
	if f != nil {
		t.read, t.write = f(o.AvailabilityZone, o.AppName)
	}
}

func (t *traffic) addRead(n int) {
	if t != nil && t.read != nil && n > 0 {
		t.read.Add(float64(n))
	}
}

func (t *traffic) addWrite(n int) {
	if t != nil && t.write != nil && n > 0 {
		t.write.Add(float64(n))
	}
}
