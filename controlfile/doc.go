// Package controlfile owns a timeline's control file, safekeeper.control:
// its byte format (Neon's versions 9 and 10), loading and atomic persisting,
// and the in-memory overlay of lazily saved LSNs (Store).
//
// The file is laid out as Neon's safekeeper writes it (safekeeper/src/
// control_file.rs, state.rs, control_file_upgrade.rs): magic 0xCAFECEEF and
// a format version (both u32 LE), a bincode 1.x body (little-endian, fixed
// width integers, trailing bytes rejected) and a CRC32C of everything before
// it. A state with membership generation 0 is written as version 9, any
// other as version 10, exactly as Neon does, so a Neon data directory can be
// adopted and handed back.
//
// The package knows nothing about WAL files, consensus rules or timelines'
// directories beyond the one file it is given; callers (the acceptor and the
// timeline manager) decide when to change and when to save.
package controlfile
