package walstore

import "github.com/walkeeper/walkeeper/pgwal"

// segmentPrefix returns the synthetic bytes [segment start, start) of the
// segment holding start (replication §3.6, storage-and-operations §1.3).
func segmentPrefix(cfg *Config, start pgwal.LSN) []byte {
	return pgwal.AppendSegmentPrefix(nil, start, cfg.SystemID, uint32(cfg.SegSize), cfg.PGVersion)
}
