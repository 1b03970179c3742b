// Command walkeeper is a Neon-compatible safekeeper. It accepts Neon's
// safekeeper flags (so operators and scripts can switch), turns them into a
// server.Config and handles signals; everything else lives in server/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, dump, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "walkeeper: %v\n", err)
		return 2
	}
	if dump != "" {
		if err := controlfile.Dump(stdout, dump); err != nil {
			fmt.Fprintf(stderr, "walkeeper: --dump-control-file: %v\n", err)
			return 1
		}
		return 0
	}
	cfg.LogOutput = stdout
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// After the first signal starts the shutdown, a second one kills at once.
	context.AfterFunc(ctx, stop)
	if err := server.Run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "walkeeper: %v\n", err)
		return 1
	}
	return 0
}

// shortAliases are Neon's one-letter flags, printed beside their long name.
var shortAliases = map[string]string{"datadir": "D", "listen-pg": "l", "no-sync": "n"}

// usage prints every flag as "-D, --datadir <path>" with its help text.
func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `walkeeper: a Neon-compatible safekeeper.

Usage: walkeeper -D <datadir> --id <node id> [flags]

Every flag may be given with one or two dashes, and a value as "--flag x"
or "--flag=x". SIGINT or SIGTERM shut walkeeper down cleanly.

Flags:
`)
	aliases := map[string]bool{}
	for _, a := range shortAliases {
		aliases[a] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if aliases[f.Name] {
			return
		}
		typ, help := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if a, ok := shortAliases[f.Name]; ok {
			name = "-" + a + ", " + name
		}
		if typ != "" {
			name += " <" + typ + ">"
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			help += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "  %s\n        %s\n", name, help)
	})
}

// parseFlags maps Neon's safekeeper flags onto server.Config. Go's flag
// package accepts -flag and --flag, "--flag x" and "--flag=x"; the short
// aliases -D, -l and -n are Neon's.
func parseFlags(args []string, stderr io.Writer) (server.Config, string, error) {
	var cfg server.Config
	var dump string
	fs := flag.NewFlagSet("walkeeper", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs, stderr) }
	const dataDirHelp = "data directory `path`: holds safekeeper.pid (locked), safekeeper.id and the timelines; created if missing"
	fs.StringVar(&cfg.DataDir, "datadir", ".", dataDirHelp)
	fs.StringVar(&cfg.DataDir, "D", ".", "alias for --datadir")
	fs.Uint64Var(&cfg.ID, "id", 0, "node `id` (non-zero); required on first start, stored in safekeeper.id and must match later")
	fs.BoolVar(&cfg.Init, "init", false, "write the id file and exit")
	const listenPGHelp = "`address` of the WAL service (libpq); accepts safekeeperdata- and tenant-scoped JWTs"
	fs.StringVar(&cfg.ListenPG, "listen-pg", server.DefaultListenPG, listenPGHelp)
	fs.StringVar(&cfg.ListenPG, "l", server.DefaultListenPG, "alias for --listen-pg")
	fs.StringVar(&cfg.ListenPGTenantOnly, "listen-pg-tenant-only", "", "`address` of a second WAL service listener that accepts only tenant-scoped JWTs (off if empty)")
	fs.StringVar(&cfg.ListenHTTP, "listen-http", server.DefaultListenHTTP, "`address` of the HTTP management API and /metrics")
	fs.BoolVar(&cfg.NoSync, "no-sync", false, "skip every fsync (and the early writeback that prepares them): fast and unsafe, for tests only")
	fs.BoolVar(&cfg.NoSync, "n", false, "alias for --no-sync")
	fs.StringVar(&cfg.PGAuthKeyPath, "pg-auth-public-key-path", "", "Ed25519 PEM public key `path` (file or directory of keys) checking JWTs on --listen-pg; empty disables auth (trust)")
	fs.StringVar(&cfg.PGTenantOnlyAuthKeyPath, "pg-tenant-only-auth-public-key-path", "", "Ed25519 PEM public key `path` (file or directory) for --listen-pg-tenant-only; empty disables auth there")
	fs.StringVar(&cfg.HTTPAuthKeyPath, "http-auth-public-key-path", "", "Ed25519 PEM public key `path` (file or directory) for the HTTP API; empty disables auth there")
	fs.DurationVar(&cfg.ControlFileSaveInterval, "control-file-save-interval", controlfile.DefaultSaveInterval, "`duration` after which an in-memory control-file change (commit_lsn, …) is persisted by the timeline manager, e.g. 300s or 5m")
	fs.Func("interpreted-heap-layout", "PostgreSQL 14/15 heap record `layout` of the computes, for interpreted readers: neon (default) or vanilla (upstream PostgreSQL)", func(v string) error {
		l, err := interpreted.ParseHeapLayout(v)
		cfg.InterpretedHeapLayout = l
		return err
	})
	fs.BoolVar(&cfg.WALReaderFanout, "wal-reader-fanout", false, "let the shards of a tenant share one interpreted WAL reader (one decode per timeline)")
	fs.Uint64Var(&cfg.MaxDeltaForFanout, "max-delta-for-fanout", 0, "with --wal-reader-fanout, join a shared reader only if its position is within this many `bytes` of the stream's start (0: any)")
	fs.Func("replication-sendfile", "`mode` of raw START_REPLICATION sends: auto (default: sendfile, except to clients on a loopback address, which receive faster from a copy), on or off", func(v string) error {
		m, err := replication.ParseZeroCopyMode(v)
		cfg.ReplicationSendfile = m
		return err
	})
	fs.Func("replication-yield-max", "how long (a `duration`, e.g. 200ms) a timeline's START_REPLICATION senders may hold back while its WAL pushes have appends queued, so ingest gets the CPU first; once a sender has waited that long it sends until caught up. At most 1s; 0 turns this off (default 200ms)", func(v string) error {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return err
		case d < 0:
			return errors.New("must not be negative")
		case d > replication.IdleTimeout:
			return server.ErrYieldTooLong
		case d == 0:
			d = -1 // off
		}
		cfg.ReplicationYieldMax = d
		return nil
	})
	fs.StringVar(&cfg.AvailabilityZone, "availability-zone", "", "this safekeeper's availability `zone`: a label of safekeeper_pg_io_bytes_total, compared with each client's availability_zone option (empty: unknown)")
	fs.StringVar(&cfg.LogFormat, "log-format", server.DefaultLogFormat, "log `format`: plain (key=value text) or json, to stdout")
	fs.StringVar(&dump, "dump-control-file", "", "print the control file at `path` as JSON and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, dump, nil
}
