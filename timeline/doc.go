// Package timeline owns the set of timelines a walkeeper holds: the global
// map keyed by (tenant, timeline), crash-safe creation, loading at startup,
// tombstones, and deletion with cancellation of everything running on a
// timeline. Each timeline has a manager goroutine (manager.go) that saves
// the control file by the periodic rule; Receivers tracks the compute
// connections of every timeline. A Timeline bundles one timeline's control file and, once it is
// resident, its WAL store; the lock that serializes its state lives here.
//
// It does not speak any protocol: acceptor, replication and the HTTP API
// look timelines up here and work under their locks.
package timeline
