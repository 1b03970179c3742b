package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/walkeeper/walkeeper/auth"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/metrics"
	"github.com/walkeeper/walkeeper/timeline"
)

// NodeInfo is the process configuration debug_dump reports.
type NodeInfo struct {
	Workdir        string
	ListenPGAddr   string
	ListenHTTPAddr string
	NoSync         bool
}

// Config wires the API to the server's state.
type Config struct {
	NodeID   ids.NodeID
	Registry *timeline.Registry
	// Metrics is served at /metrics; nil serves an empty registry.
	Metrics *metrics.Metrics
	// Auth checks Bearer tokens; nil disables auth (every route is open).
	Auth   *auth.Validator
	Info   NodeInfo
	Logger *slog.Logger // nil discards
}

// API is the HTTP handler.
type API struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	profiler profiler
}

// access is who may call a route (§4.2).
type access int

const (
	// open routes need no token: Neon's allow-list, matched on the path
	// alone by the mux pattern, never on the query string.
	open access = iota
	// authed routes need a valid token; the handler then checks its scope
	// against the tenant (tenant) or requires safekeeperdata (node-wide).
	authed
)

// New builds the API.
func New(cfg Config) *API {
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.routes()
	return a
}

// Timeline routes are under tl.
const tl = "/v1/tenant/{tenant_id}/timeline/{timeline_id}"

func (a *API) routes() {
	a.handle("GET /v1/status", open, a.status)
	a.handle("GET /metrics", open, a.metrics)
	a.handle("GET /profile/cpu", open, a.profileCPU)
	a.handle("GET /profile/heap", open, a.profileHeap)
	a.handle("GET /v1/utilization", authed, a.utilization)
	a.handle("POST /v1/tenant/timeline", authed, a.createTimeline)
	a.handle("GET /v1/tenant/timeline", authed, a.listTimelines)
	a.handle("DELETE /v1/tenant/{tenant_id}", authed, a.deleteTenant)
	a.handle("GET "+tl, authed, a.timelineStatus)
	a.handle("DELETE "+tl, authed, a.deleteTimeline)
	a.handle("POST "+tl+"/checkpoint", authed, a.checkpoint)
	a.handle("POST "+tl+"/term_bump", authed, a.termBump)
	a.handle("PUT "+tl+"/membership", authed, a.membership)
	a.handle("GET "+tl+"/digest", authed, a.digest)
	a.handle("GET /v1/debug_dump", authed, a.debugDump)
	a.handle("/", authed, func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "Unknown route: %s %s", r.Method, r.URL.Path)
	})
}

// handlerFunc is a route handler; a returned error is answered as
// {"msg": …} unless the handler has already written a response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *API) handle(pattern string, acc access, h handlerFunc) {
	a.mux.Handle(pattern, a.wrap(acc, h))
}

// ServeHTTP serves every route.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }
