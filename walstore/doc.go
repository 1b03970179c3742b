// Package walstore keeps a timeline's WAL durable on local disk as
// PostgreSQL segment files and reads it back by LSN. It owns the segment
// files and their fsync order; it knows nothing about terms or networks.
package walstore
