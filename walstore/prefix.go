package walstore

import "github.com/walkeeper/walkeeper/pgwal"

// segmentPrefix returns the synthetic bytes [segment start, start) of the
// segment holding start (replication §3.6).
func segmentPrefix(cfg *Config, start pgwal.LSN) []byte {
	return make([]byte, start.SegmentOffset(cfg.SegSize)) // TODO: pgwal.AppendSegmentPrefix once merged
}
