// Package httpapi is walkeeper's HTTP management API, Neon's safekeeper
// routes (storage-and-operations.md §4.3) on a Go 1.22 http.ServeMux:
// status, metrics, profiles, timeline creation, status, deletion,
// checkpoint, term bump, membership switch, WAL digest and debug dump.
//
// It owns the JSON shapes of those routes (LSNs "X/Y", ids as hex), the
// {"msg": …} error form, X-Request-Id, and the JWT scope checks of §4.2. It
// does not own timelines: every change goes through timeline.Registry and
// happens under the timeline's lock, as the acceptor's own changes do.
package httpapi
