// Package metrics defines walkeeper's Prometheus metrics with the names,
// types, labels and buckets of Neon's safekeeper, so existing dashboards
// keep working. Each server owns one Metrics (and its registry); packages
// receive the few collectors they feed and never register their own.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// FsyncBuckets are Neon's "fsync" histogram buckets, in seconds.
var FsyncBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30}

// writeBytesBuckets are the buckets of safekeeper_write_wal_bytes.
var writeBytesBuckets = []float64{1, 10, 100, 1024, 8192, 128 * 1024, 1024 * 1024, 10 * 1024 * 1024}

// queueDepthBuckets are the buckets of safekeeper_wal_receiver_queue_depth.
var queueDepthBuckets = []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 255, 256}

// Storage operation label values of safekeeper_wal_storage_operation_seconds.
const (
	OpInitializeSegment      = "initialize_segment"
	OpInitializeFirstSegment = "initialize_first_segment"
	OpTruncateWAL            = "truncate_wal"
	OpRemoveSegments         = "remove_segments_from_disk"
)

// Query label values of the pg query counters.
const (
	QueryStartWALPush     = "START_WAL_PUSH"
	QueryStartReplication = "START_REPLICATION"
	QueryIdentifySystem   = "IDENTIFY_SYSTEM"
	QueryTimelineStatus   = "TIMELINE_STATUS"
)

// Metrics holds every process-wide collector. Per-timeline gauges are
// produced by a collector that the timeline registry adds (see TimelineCollector).
type Metrics struct {
	Registry *prometheus.Registry

	WriteWALBytes         prometheus.Histogram
	WriteWALSeconds       prometheus.Histogram
	FlushWALSeconds       prometheus.Histogram
	PersistControlSeconds prometheus.Histogram
	StorageOperation      *prometheus.HistogramVec // label: operation
	MiscOperation         *prometheus.HistogramVec // label: operation
	RemovedSegments       prometheus.Counter
	WALReceivers          prometheus.Gauge
	ReceiverQueueDepth    prometheus.Histogram
	ReceiverQueueDepthAll prometheus.Gauge
	ReceiverQueueSizeAll  prometheus.Gauge
	WALReaders            *prometheus.GaugeVec // labels: kind, target
	ReceivedPSFeedbacks   prometheus.Counter
	// ReplicationYield is walkeeper's own: no Neon safekeeper yields.
	ReplicationYield       prometheus.Counter
	PGQueriesReceived      *prometheus.CounterVec // label: query
	PGQueriesFinished      *prometheus.CounterVec // label: query
	PGIOBytes              *prometheus.CounterVec // labels: client_az, sk_az, app_name, dir, same_az
	ProposerMessages       *prometheus.CounterVec // label: outcome
	WALDiskIOErrors        prometheus.Counter
	Timelines              prometheus.Gauge
	ActiveTimelines        prometheus.Gauge
	CollectTimelineSeconds prometheus.Histogram
	ManagerIterations      prometheus.Counter
}

// New creates the collectors and registers them, with Go runtime and
// process metrics, on a fresh registry.
func New() *Metrics {
	fsync := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: FsyncBuckets})
	}
	m := &Metrics{
		Registry:              prometheus.NewRegistry(),
		WriteWALBytes:         prometheus.NewHistogram(prometheus.HistogramOpts{Name: "safekeeper_write_wal_bytes", Help: "Bytes written to WAL in a single request", Buckets: writeBytesBuckets}),
		WriteWALSeconds:       fsync("safekeeper_write_wal_seconds", "Seconds spent writing and syncing WAL to a disk in a single request"),
		FlushWALSeconds:       fsync("safekeeper_flush_wal_seconds", "Seconds spent syncing WAL to a disk, excluding segment initialization"),
		PersistControlSeconds: fsync("safekeeper_persist_control_file_seconds", "Seconds to persist and sync control file"),
		StorageOperation: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "safekeeper_wal_storage_operation_seconds",
			Help: "Seconds spent on WAL storage operations", Buckets: FsyncBuckets}, []string{"operation"}),
		MiscOperation: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "safekeeper_misc_operation_seconds",
			Help: "Seconds spent on miscellaneous operations", Buckets: FsyncBuckets}, []string{"operation"}),
		RemovedSegments: prometheus.NewCounter(prometheus.CounterOpts{Name: "safekeeper_removed_wal_segments_total", Help: "Number of WAL segments removed from the disk"}),
		WALReceivers:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "safekeeper_wal_receivers", Help: "Number of currently connected walreceivers (computes)"}),
		ReceiverQueueDepth: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "safekeeper_wal_receiver_queue_depth",
			Help: "Number of queued messages per walreceiver (sampled every 5 seconds)", Buckets: queueDepthBuckets}),
		ReceiverQueueDepthAll: prometheus.NewGauge(prometheus.GaugeOpts{Name: "safekeeper_wal_receiver_queue_depth_total", Help: "Total number of queued messages across all walreceivers"}),
		ReceiverQueueSizeAll:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "safekeeper_wal_receiver_queue_size_total", Help: "Total memory byte size of queued messages across all walreceivers"}),
		WALReaders: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "safekeeper_wal_readers", Help: "Number of active WAL readers (may serve pageservers or other safekeepers)"},
			[]string{"kind", "target"}),
		ReplicationYield: prometheus.NewCounter(prometheus.CounterOpts{Name: "walkeeper_replication_yield_seconds_total",
			Help: "Seconds replication senders held back because the timeline's WAL pushes had messages queued (--replication-yield-max)"}),
		ReceivedPSFeedbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "safekeeper_received_ps_feedbacks_total", Help: "Number of pageserver feedbacks received"}),
		PGQueriesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safekeeper_pg_queries_received_total",
			Help: "Number of queries received through pg protocol"}, []string{"query"}),
		PGQueriesFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safekeeper_pg_queries_finished_total",
			Help: "Number of queries finished through pg protocol"}, []string{"query"}),
		PGIOBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safekeeper_pg_io_bytes_total", Help: "Bytes read from or written to any PostgreSQL connection"},
			[]string{"client_az", "sk_az", "app_name", "dir", "same_az"}),
		ProposerMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safekeeper_proposer_acceptor_messages_total",
			Help: "Number of proposer messages processed, by outcome"}, []string{"outcome"}),
		WALDiskIOErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "safekeeper_wal_disk_io_errors", Help: "Number of WAL and control-file disk I/O errors"}),
		Timelines:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "safekeeper_timelines", Help: "Total number of timelines loaded in-memory"}),
		ActiveTimelines: prometheus.NewGauge(prometheus.GaugeOpts{Name: "safekeeper_active_timelines", Help: "Total number of active timelines"}),
		CollectTimelineSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "safekeeper_collect_timeline_metrics_seconds",
			Help: "Time spent collecting timeline metrics", Buckets: FsyncBuckets}),
		ManagerIterations: prometheus.NewCounter(prometheus.CounterOpts{Name: "safekeeper_manager_iterations_total", Help: "Number of iterations of the timeline manager task"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.WriteWALBytes, m.WriteWALSeconds, m.FlushWALSeconds, m.PersistControlSeconds,
		m.StorageOperation, m.MiscOperation, m.RemovedSegments, m.WALReceivers,
		m.ReceiverQueueDepth, m.ReceiverQueueDepthAll, m.ReceiverQueueSizeAll, m.WALReaders,
		m.ReceivedPSFeedbacks, m.PGQueriesReceived, m.PGQueriesFinished, m.PGIOBytes,
		m.ProposerMessages, m.WALDiskIOErrors, m.Timelines, m.ActiveTimelines, m.CollectTimelineSeconds,
		m.ManagerIterations, m.ReplicationYield,
	)
	return m
}
