// Package pgwal owns the facts of PostgreSQL's write-ahead log format that
// walkeeper relies on: LSNs, segment sizes and file names, page headers,
// record headers and the streaming decoder that finds record boundaries.
//
// It knows nothing about files, networks or consensus; walstore, acceptor and
// replication build on it. Structs mirror PostgreSQL's C structs one to one
// and name them in their doc comments.
package pgwal
