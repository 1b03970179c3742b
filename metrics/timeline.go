package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TimelineSample is one timeline's figures for the per-timeline gauges
// (storage-and-operations §4.4). LSNs are raw 64-bit positions.
type TimelineSample struct {
	TenantID, TimelineID string
	// Active is Neon's broker-active flag: only active timelines are
	// exported, as Neon does.
	Active              bool
	CommitLSN           uint64 // in-memory
	BackupLSN           uint64
	FlushLSN            uint64
	EpochStartLSN       uint64 // start of the current term
	PeerHorizonLSN      uint64
	RemoteConsistentLSN uint64
	ConnectedComputes   int
	AcceptorTerm        uint64
	WrittenWALBytes     uint64  // since load
	WrittenWALSeconds   float64 // since load, in WAL writes
	FlushedWALSeconds   float64 // since load, in WAL fsyncs

	// Pageserver feedback (replication.md §5.1, §8), from any shard.
	PSLastReceivedLSN    uint64 // last_received_lsn of the latest feedback
	PSFeedbackCount      uint64
	PSCorruptionDetected bool // sticky
	// FeedbackLastTime is the latest feedback's replytime in Unix
	// seconds; before any feedback, PostgreSQL's epoch (2000-01-01), as
	// Neon reports it. A time before the Unix epoch is not exported.
	FeedbackLastTime int64
	// InterpretedWALReaderTasks counts the timeline's fan-out reader tasks
	// (a private interpreted reader is not counted, as in Neon).
	InterpretedWALReaderTasks int
}

// TimelineSource returns a sample of every loaded timeline.
type TimelineSource func() []TimelineSample

// timelineLabels label every per-timeline series.
var timelineLabels = []string{"tenant_id", "timeline_id"}

// timelineCollector is Neon's TimelineCollector: it reads the timelines on
// every scrape, so there is nothing to keep in sync and deleted timelines
// vanish at once.
type timelineCollector struct {
	src      TimelineSource
	seconds  prometheus.Histogram
	gauges   []timelineGauge
	total    *prometheus.Desc
	active   *prometheus.Desc
	isActive *prometheus.Desc
}

// timelineGauge is one per-timeline gauge and how to read it.
type timelineGauge struct {
	desc *prometheus.Desc
	get  func(*TimelineSample) float64
	// has, if set, says whether the sample has a value for it.
	has func(*TimelineSample) bool
}

func gauge(name, help string, get func(*TimelineSample) float64) timelineGauge {
	return timelineGauge{desc: prometheus.NewDesc(name, help, timelineLabels, nil), get: get}
}

func newTimelineCollector(src TimelineSource, seconds prometheus.Histogram) *timelineCollector {
	return &timelineCollector{
		src:     src,
		seconds: seconds,
		gauges: []timelineGauge{
			gauge("safekeeper_commit_lsn", "Current commit_lsn (not necessarily persisted to disk), grouped by timeline",
				func(s *TimelineSample) float64 { return float64(s.CommitLSN) }),
			gauge("safekeeper_backup_lsn", "Current backup_lsn, grouped by timeline",
				func(s *TimelineSample) float64 { return float64(s.BackupLSN) }),
			gauge("safekeeper_flush_lsn", "Current flush_lsn, grouped by timeline",
				func(s *TimelineSample) float64 { return float64(s.FlushLSN) }),
			gauge("safekeeper_epoch_start_lsn", "Point since which compute generates new WAL in the current consensus term",
				func(s *TimelineSample) float64 { return float64(s.EpochStartLSN) }),
			gauge("safekeeper_peer_horizon_lsn", "LSN of the most lagging safekeeper",
				func(s *TimelineSample) float64 { return float64(s.PeerHorizonLSN) }),
			gauge("safekeeper_remote_consistent_lsn", "LSN which is persisted to the remote storage in pageserver",
				func(s *TimelineSample) float64 { return float64(s.RemoteConsistentLSN) }),
			gauge("safekeeper_connected_computes", "Number of active compute connections",
				func(s *TimelineSample) float64 { return float64(s.ConnectedComputes) }),
			gauge("safekeeper_acceptor_term", "Current consensus term",
				func(s *TimelineSample) float64 { return float64(s.AcceptorTerm) }),
			gauge("safekeeper_written_wal_bytes_total", "Number of WAL bytes written to disk, grouped by timeline",
				func(s *TimelineSample) float64 { return float64(s.WrittenWALBytes) }),
			gauge("safekeeper_written_wal_seconds_total", "Total time spent in write(2) writing WAL to disk, grouped by timeline",
				func(s *TimelineSample) float64 { return s.WrittenWALSeconds }),
			gauge("safekeeper_flushed_wal_seconds_total", "Total time spent fsyncing WAL to disk, grouped by timeline",
				func(s *TimelineSample) float64 { return s.FlushedWALSeconds }),
			gauge("safekeeper_ps_last_received_lsn", "Last LSN received by the pageserver, acknowledged in the feedback",
				func(s *TimelineSample) float64 { return float64(s.PSLastReceivedLSN) }),
			gauge("safekeeper_ps_feedback_count_total", "Number of feedbacks received from the pageserver",
				func(s *TimelineSample) float64 { return float64(s.PSFeedbackCount) }),
			gauge("safekeeper_ps_corruption_detected", "1 if corruption was detected in the timeline according to feedback from the pageserver, 0 otherwise",
				func(s *TimelineSample) float64 { return b2f(s.PSCorruptionDetected) }),
			{
				desc: prometheus.NewDesc("safekeeper_feedback_last_time_seconds", "Timestamp of the last feedback from the pageserver", timelineLabels, nil),
				get:  func(s *TimelineSample) float64 { return float64(s.FeedbackLastTime) },
				has:  func(s *TimelineSample) bool { return s.FeedbackLastTime >= 0 },
			},
			gauge("safekeeper_interpreted_wal_reader_tasks", "Number of active interpreted wal reader tasks, grouped by timeline",
				func(s *TimelineSample) float64 { return float64(s.InterpretedWALReaderTasks) }),
		},
		isActive: prometheus.NewDesc("safekeeper_timeline_active", "Reports 1 for active timelines, 0 for inactive", timelineLabels, nil),
		total:    prometheus.NewDesc("safekeeper_timelines", "Total number of timelines loaded in-memory", nil, nil),
		active:   prometheus.NewDesc("safekeeper_active_timelines", "Total number of active timelines", nil, nil),
	}
}

func (c *timelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
	ch <- c.isActive
	ch <- c.total
	ch <- c.active
}

func (c *timelineCollector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	samples := c.src()
	active := 0
	for i := range samples {
		s := &samples[i]
		if !s.Active {
			continue
		}
		active++
		for _, g := range c.gauges {
			if g.has != nil && !g.has(s) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.get(s), s.TenantID, s.TimelineID)
		}
		ch <- prometheus.MustNewConstMetric(c.isActive, prometheus.GaugeValue, 1, s.TenantID, s.TimelineID)
	}
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(len(samples)))
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(active))
	c.seconds.Observe(time.Since(start).Seconds())
}

// RegisterTimelines adds the per-timeline collector over src. It takes over
// safekeeper_timelines and safekeeper_active_timelines, which are then
// computed on every scrape rather than set by hand. Call it once.
func (m *Metrics) RegisterTimelines(src TimelineSource) {
	m.Registry.Unregister(m.Timelines)
	m.Registry.Unregister(m.ActiveTimelines)
	m.Registry.MustRegister(newTimelineCollector(src, m.CollectTimelineSeconds))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
