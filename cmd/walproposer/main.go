// Command walproposer streams a vanilla PostgreSQL primary's WAL to a
// quorum of walkeepers, as the walproposer inside a Neon compute does, and
// reports the quorum-flushed LSN back to the primary so that
// synchronous_standby_names makes COMMIT wait for a walkeeper quorum. With
// --sync-safekeepers it elects, brings the walkeepers to a common end,
// prints that LSN and exits. Everything but flags and signals lives in the
// walproposer package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproposer"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags that are not walproposer.Config fields.
type options struct {
	logFormat      string
	statusInterval time.Duration
}

func parseFlags(args []string, stderr io.Writer) (walproposer.Config, options, error) {
	var cfg walproposer.Config
	var o options
	var sks, tenant, timeline, start string
	var pgVersion uint
	fs := flag.NewFlagSet("walproposer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&sks, "safekeepers", "", "walkeepers' libpq addresses, host:port,host:port,...")
	fs.StringVar(&tenant, "tenant-id", "", "tenant id (32 hex digits)")
	fs.StringVar(&timeline, "timeline-id", "", "timeline id (32 hex digits)")
	fs.StringVar(&cfg.Token, "token", os.Getenv("WALKEEPER_AUTH_TOKEN"), "JWT sent to walkeepers (default $WALKEEPER_AUTH_TOKEN)")
	fs.StringVar(&cfg.Primary, "primary", "", "libpq conninfo of the PostgreSQL primary (replication is switched on)")
	fs.StringVar(&cfg.AppName, "application-name", walproposer.DefaultAppName, "application_name the primary sees; name it in synchronous_standby_names")
	fs.StringVar(&cfg.Slot, "slot", walproposer.DefaultSlot, `physical replication slot on the primary ("-" for none)`)
	fs.StringVar(&start, "start-lsn", "", "timeline start of a new timeline (default: first record boundary of the primary's current segment)")
	fs.BoolVar(&cfg.SyncSafekeepers, "sync-safekeepers", false, "elect, bring the walkeepers to a common end, print that LSN and exit")
	fs.UintVar(&pgVersion, "pg-version", walproposer.DefaultPgVersion, "PG_VERSION_NUM sent to walkeepers when there is no --primary")
	fs.DurationVar(&cfg.ReconnectTimeout, "reconnect-timeout", walproposer.DefaultReconnectTimeout, "heartbeat period and first reconnect delay")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", walproposer.DefaultConnectTimeout, "drop a walkeeper silent this long")
	fs.StringVar(&o.logFormat, "log-format", "plain", "plain or json")
	fs.DurationVar(&o.statusInterval, "status-interval", 0, "log term, commit and flush positions and throughput this often (0: never)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `walproposer: stream a PostgreSQL primary's WAL to a quorum of walkeepers.

It is a physical replication client of the primary and the proposer of
walkeeper's consensus protocol: it elects itself, streams WAL to every
walkeeper and reports the quorum-flushed LSN back to the primary, so with
synchronous_standby_names = 'walproposer' every COMMIT waits for a quorum.

Usage:
  walproposer --primary "host=127.0.0.1 port=5432 user=postgres" \
    --safekeepers 127.0.0.1:5454,127.0.0.1:5455,127.0.0.1:5456 \
    --tenant-id <32 hex> --timeline-id <32 hex>
  walproposer --sync-safekeepers --safekeepers … --tenant-id … --timeline-id …

Every flag may be given with one or two dashes. SIGINT or SIGTERM stop it.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, o, err
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if sks != "" {
		cfg.Safekeepers = strings.Split(sks, ",")
	}
	var err error
	if cfg.TenantID, err = ids.Parse(tenant); err != nil {
		return cfg, o, fmt.Errorf("--tenant-id: %w", err)
	}
	if cfg.TimelineID, err = ids.Parse(timeline); err != nil {
		return cfg, o, fmt.Errorf("--timeline-id: %w", err)
	}
	if start != "" {
		if cfg.StartLSN, err = pgwal.ParseLSN(start); err != nil {
			return cfg, o, fmt.Errorf("--start-lsn: %w", err)
		}
	}
	cfg.PgVersion = uint32(pgVersion)
	return cfg, o, nil
}

// run is main without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "walproposer: %v\n", err)
		return 2
	}
	switch o.logFormat {
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, nil))
	case "plain":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	default:
		fmt.Fprintf(stderr, "walproposer: --log-format %q: plain or json\n", o.logFormat)
		return 2
	}
	p, err := walproposer.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "walproposer: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second signal kills at once
	if o.statusInterval > 0 {
		go logStatus(ctx, p, cfg.Logger, o.statusInterval)
	}
	lsn, err := p.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "walproposer: %v\n", err)
		return 1
	}
	if cfg.SyncSafekeepers {
		if ctx.Err() != nil {
			return 1
		}
		fmt.Fprintln(stdout, lsn)
	}
	return 0
}

// logStatus logs the term, the commit, each walkeeper's flush and the
// committed WAL rate every interval.
func logStatus(ctx context.Context, p *walproposer.Proposer, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := p.CommitLSN(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := p.Status()
			rate := float64(s.Commit-min(last, s.Commit)) / now.Sub(lastAt).Seconds() / (1 << 20)
			log.Info("status", "term", s.Term, "elected", s.Elected, "commit_lsn", s.Commit,
				"flush_lsns", fmt.Sprint(s.Flush), "committed_mib_per_s", fmt.Sprintf("%.2f", rate))
			last, lastAt = s.Commit, now
		}
	}
}
