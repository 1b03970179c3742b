package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walkeeper/walkeeper/auth"
	"github.com/walkeeper/walkeeper/httpapi"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/metrics"
	"github.com/walkeeper/walkeeper/pgwire"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/timeline"
	"github.com/walkeeper/walkeeper/walstore"
)

// httpShutdownTimeout bounds the wait for in-flight HTTP requests.
const httpShutdownTimeout = 5 * time.Second

// dataDirMode is the permission of a data directory walkeeper creates.
const dataDirMode = 0o700

// ErrYieldTooLong is the error for a ReplicationYieldMax (the CLI's
// --replication-yield-max) over replication.IdleTimeout: a yielding
// sender sends nothing, not even the keepalive an idle one sends every
// second, so a yield may not last longer.
var ErrYieldTooLong = fmt.Errorf("must be at most %v, the keepalive interval: a yielding sender sends no keepalives", replication.IdleTimeout)

// Run starts walkeeper and serves until ctx is cancelled or a listener
// fails. Shutdown order: cancel → close listeners → close connections →
// release the pid file → return. A clean shutdown returns nil.
func Run(ctx context.Context, cfg Config) error {
	cfg.setDefaults()
	log := cfg.Logger
	if log == nil {
		var err error
		if log, err = newLogger(cfg.LogFormat, cfg.LogOutput); err != nil {
			return err
		}
	}
	if cfg.ReplicationYieldMax > replication.IdleTimeout {
		return fmt.Errorf("--replication-yield-max %v: %w", cfg.ReplicationYieldMax, ErrYieldTooLong)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(dir, dataDirMode); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockPidFile(dir)
	if err != nil {
		return err
	}
	defer lock.release()
	id, err := loadOrCreateID(dir, cfg.ID, cfg.NoSync)
	if err != nil {
		return err
	}
	log = log.With("node_id", uint64(id))
	if cfg.Init {
		log.Info("initialized data directory", "datadir", dir)
		return nil
	}
	return serve(ctx, cfg, dir, id, log)
}

// listeners are the bound sockets of one process.
type listeners struct {
	pg, pgTenantOnly, http net.Listener
}

func (l *listeners) close() {
	for _, x := range []net.Listener{l.pg, l.pgTenantOnly, l.http} {
		if x != nil {
			x.Close()
		}
	}
}

func listen(cfg Config) (*listeners, error) {
	var l listeners
	var err error
	if l.pg, err = net.Listen("tcp", cfg.ListenPG); err != nil {
		return nil, fmt.Errorf("listen pg: %w", err)
	}
	if cfg.ListenPGTenantOnly != "" {
		if l.pgTenantOnly, err = net.Listen("tcp", cfg.ListenPGTenantOnly); err != nil {
			l.close()
			return nil, fmt.Errorf("listen pg tenant-only: %w", err)
		}
	}
	if l.http, err = net.Listen("tcp", cfg.ListenHTTP); err != nil {
		l.close()
		return nil, fmt.Errorf("listen http: %w", err)
	}
	return &l, nil
}

func serve(ctx context.Context, cfg Config, dir string, id ids.NodeID, log *slog.Logger) error {
	pgAuth, err := auth.LoadKeys(cfg.PGAuthKeyPath)
	if err != nil {
		return fmt.Errorf("--pg-auth-public-key-path: %w", err)
	}
	tenantAuth, err := auth.LoadKeys(cfg.PGTenantOnlyAuthKeyPath)
	if err != nil {
		return fmt.Errorf("--pg-tenant-only-auth-public-key-path: %w", err)
	}
	httpAuth, err := auth.LoadKeys(cfg.HTTPAuthKeyPath)
	if err != nil {
		return fmt.Errorf("--http-auth-public-key-path: %w", err)
	}
	ls, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ls.close()

	addrs := Addrs{PG: ls.pg.Addr(), HTTP: ls.http.Addr()}
	tenantOnly := "off"
	if ls.pgTenantOnly != nil {
		addrs.PGTenantOnly = ls.pgTenantOnly.Addr()
		tenantOnly = addrs.PGTenantOnly.String()
	}
	log.Info(fmt.Sprintf("walkeeper listening: pg=%s http=%s datadir=%s", addrs.PG, addrs.HTTP, dir),
		"pg", addrs.PG.String(), "pg_tenant_only", tenantOnly, "http", addrs.HTTP.String(), "datadir", dir,
		"pg_auth", pgAuth != nil, "http_auth", httpAuth != nil, "no_sync", cfg.NoSync, "availability_zone", cfg.AvailabilityZone)
	if cfg.Ready != nil {
		cfg.Ready(addrs)
	}

	// SHOW data_directory_mode: like PostgreSQL, one of the two modes
	// PostgreSQL allows, 0750 when the group may read the directory.
	mode := os.FileMode(dataDirMode)
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o050 == 0o050 {
		mode = 0o750
	}
	m := metrics.New()
	reg := timeline.NewRegistry(timeline.Config{
		DataDir:             dir,
		NodeID:              id,
		NoSync:              cfg.NoSync,
		Logger:              log,
		PersistSeconds:      m.PersistControlSeconds,
		ReceivedPSFeedbacks: m.ReceivedPSFeedbacks,
		WALMetrics: &walstore.Metrics{
			WriteSeconds: m.WriteWALSeconds,
			WriteBytes:   m.WriteWALBytes,
			FlushSeconds: m.FlushWALSeconds,
			OpSeconds:    func(op string) walstore.Observer { return m.StorageOperation.WithLabelValues(op) },
		},
		Manager: &timeline.ManagerConfig{SaveInterval: cfg.ControlFileSaveInterval, Iterations: m.ManagerIterations},
	})
	if _, err := reg.Load(); err != nil {
		return err
	}
	defer reg.Close()

	g, gctx := errgroup.WithContext(ctx)
	h := &handler{reg: reg, metrics: m, log: log, heapLayout: cfg.InterpretedHeapLayout,
		zeroCopy: cfg.ReplicationSendfile, yieldMax: cfg.ReplicationYieldMax}
	if h.yieldMax == 0 {
		h.yieldMax = replication.DefaultYieldMax
	}
	if cfg.WALReaderFanout {
		h.hub = replication.NewReaderHub(cfg.MaxDeltaForFanout)
	}
	m.RegisterTimelines(timelineSamples(reg, h.hub))
	pgCfg := pgwire.Config{Handler: h, Auth: pgAuth, DataDirMode: mode, Logger: log.With("listener", "pg"),
		Traffic: trafficCounters(m.PGIOBytes, cfg.AvailabilityZone)}
	g.Go(func() error { return pgwire.NewServer(pgCfg).Serve(gctx, ls.pg) })
	if ls.pgTenantOnly != nil {
		tcfg := pgCfg
		tcfg.Auth, tcfg.TenantOnly, tcfg.Logger = tenantAuth, true, log.With("listener", "pg_tenant_only")
		g.Go(func() error { return pgwire.NewServer(tcfg).Serve(gctx, ls.pgTenantOnly) })
	}
	api := httpapi.New(httpapi.Config{
		NodeID:   id,
		Registry: reg,
		Metrics:  m,
		Auth:     httpAuth,
		Logger:   log.With("listener", "http"),
		Info: httpapi.NodeInfo{Workdir: dir, ListenPGAddr: addrs.PG.String(),
			ListenHTTPAddr: addrs.HTTP.String(), NoSync: cfg.NoSync},
	})
	hs := newHTTPServer(api, log)
	g.Go(func() error {
		if err := hs.Serve(ls.http); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			// Requests still running after the grace period (a client
			// stalled mid-body, say) lose their connections, so that
			// nothing keeps a timeline's gate and Registry.Close waits.
			_ = hs.Close()
		}
		return nil
	})
	err = g.Wait()
	if ctx.Err() != nil && err == nil {
		log.Info("walkeeper stopped")
		return nil
	}
	if err == nil {
		err = errors.New("a listener stopped unexpectedly")
	}
	return err
}
