package acceptor

import (
	"time"

	"github.com/walkeeper/walkeeper/walproto"
)

// MetricsInterval is how often the inbound queue depth is sampled.
const MetricsInterval = 5 * time.Second

// Observer is what a session needs from a histogram (prometheus.Observer).
type Observer interface{ Observe(float64) }

// Gauge is what a session needs from a gauge (prometheus.Gauge).
type Gauge interface{ Add(float64) }

// SessionMetrics receives a session's queue figures, under Neon's metric
// names; nil fields are skipped. The gauges are shared by all sessions.
type SessionMetrics struct {
	// QueueDepth is safekeeper_wal_receiver_queue_depth: the inbound queue
	// length, sampled every MetricsInterval.
	QueueDepth Observer
	// QueueDepthTotal is safekeeper_wal_receiver_queue_depth_total: messages
	// queued across all sessions.
	QueueDepthTotal Gauge
	// QueueSizeTotal is safekeeper_wal_receiver_queue_size_total: payload
	// bytes queued across all sessions.
	QueueSizeTotal Gauge
}

// inbound is a parsed message waiting for the WalAcceptor, with the size of
// its payload for the queue-size gauge.
type inbound struct {
	msg  walproto.ProposerMessage
	size int
	// owned is the payload msg was parsed from when the stream handed it
	// over (OwnedStream), for Recycle after an AppendRequest; else nil.
	owned []byte
}

func (m *SessionMetrics) queued(in inbound, sign float64) {
	if m == nil {
		return
	}
	if m.QueueDepthTotal != nil {
		m.QueueDepthTotal.Add(sign)
	}
	if m.QueueSizeTotal != nil {
		m.QueueSizeTotal.Add(sign * float64(in.size))
	}
}

func (m *SessionMetrics) sampleDepth(n int) {
	if m != nil && m.QueueDepth != nil {
		m.QueueDepth.Observe(float64(n))
	}
}
