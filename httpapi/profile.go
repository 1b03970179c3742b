package httpapi

import (
	"context"
	"net/http"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CPU profile limits of Neon's /profile/cpu.
const (
	defaultProfileSeconds = 5
	maxProfileSeconds     = 60
	maxProfileFrequency   = 1000
)

// profiler allows one CPU profile at a time; force=true cancels the
// running one.
type profiler struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func (a *API) metrics(w http.ResponseWriter, r *http.Request) error {
	var g prometheus.Gatherer = prometheus.NewRegistry()
	if a.cfg.Metrics != nil {
		g = a.cfg.Metrics.Registry
	}
	promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// profileCPU is GET /profile/cpu?seconds=N (1–60, default 5): Go's CPU
// profile in pprof format. frequency is accepted up to 1000 Hz but Go
// samples at its fixed 100 Hz; only format=pprof is served.
func (a *API) profileCPU(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if f := q.Get("format"); f != "" && f != "pprof" {
		return badRequest("unsupported profile format %q (only pprof)", f)
	}
	secs := defaultProfileSeconds
	if v := q.Get("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxProfileSeconds {
			return badRequest("seconds must be an integer between 1 and %d", maxProfileSeconds)
		}
		secs = n
	}
	if v := q.Get("frequency"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxProfileFrequency {
			return badRequest("frequency must be an integer between 1 and %d", maxProfileFrequency)
		}
	}
	force, err := queryBool(r, "force", false)
	if err != nil {
		return err
	}
	ctx, done, err := a.profiler.start(r.Context(), force)
	if err != nil {
		return err
	}
	defer a.profiler.finish(done)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile.pb.gz"`)
	if err := pprof.StartCPUProfile(w); err != nil {
		w.Header().Del("Content-Disposition")
		return errorf(http.StatusConflict, "a CPU profile is already running: %v", err)
	}
	t := time.NewTimer(time.Duration(secs) * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	pprof.StopCPUProfile()
	return nil
}

// start claims the profiler; with force it cancels a running profile and
// waits for it.
func (p *profiler) start(parent context.Context, force bool) (context.Context, chan struct{}, error) {
	p.mu.Lock()
	for p.done != nil {
		if !force {
			p.mu.Unlock()
			return nil, nil, errorf(http.StatusConflict, "profiler already running")
		}
		p.cancel()
		done := p.done
		p.mu.Unlock()
		<-done
		p.mu.Lock()
	}
	ctx, cancel := context.WithCancel(parent)
	p.cancel, p.done = cancel, make(chan struct{})
	done := p.done
	p.mu.Unlock()
	return ctx, done, nil
}

func (p *profiler) finish(done chan struct{}) {
	p.mu.Lock()
	p.cancel()
	p.cancel, p.done = nil, nil
	p.mu.Unlock()
	close(done)
}

// profileHeap is GET /profile/heap: Go's heap profile, gzipped pprof.
func (a *API) profileHeap(w http.ResponseWriter, r *http.Request) error {
	if f := r.URL.Query().Get("format"); f != "" && f != "pprof" {
		return badRequest("unsupported profile format %q (only pprof)", f)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="heap.pb.gz"`)
	return pprof.Lookup("heap").WriteTo(w, 0)
}
