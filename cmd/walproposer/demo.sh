#!/usr/bin/env bash
# make demo: a PostgreSQL 15 primary whose COMMITs wait for a quorum of three
# walkeepers (synchronous_standby_names = 'walproposer'), the walproposer
# between them, a hot standby streaming from walkeeper 1, and pgbench. It
# prints live LSNs and throughput until interrupted (Ctrl-C cleans up).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BIN=${BIN:-./bin}
BASEPORT=${BASEPORT:-55400}
CLIENTS=${CLIENTS:-4}
TENANT=cf0480929707ee75372337efaa5ecf96
TIMELINE=112ded66422aa5e953e5440fa5427ac4
PGPORT=$((BASEPORT + 32)) STANDBYPORT=$((BASEPORT + 33))
SK_PORTS=($((BASEPORT + 54)) $((BASEPORT + 55)) $((BASEPORT + 56)))

DIR=$(mktemp -d /tmp/walkeeper-demo.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
PIDS=()
cleanup() {
	trap - EXIT
	echo; echo "stopping (logs were in $DIR)"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	as_pg "$PGBIN/pg_ctl" stop -m immediate -D "$DIR/standby" >/dev/null 2>&1 || true
	as_pg "$PGBIN/pg_ctl" stop -m fast -D "$DIR/primary" >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

psql_pg() { "$PGBIN/psql" -X -A -t -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2" 2>/dev/null || echo "?"; }
sk_status() {
	"$PGBIN/psql" -X -A -t -d "host=127.0.0.1 port=$1 user=x dbname=x sslmode=disable options='-c tenant_id=$TENANT timeline_id=$TIMELINE'" \
		-c TIMELINE_STATUS 2>/dev/null || echo "down"
}

echo "== primary on port $PGPORT ($DIR)"
as_pg "$PGBIN/initdb" -D "$DIR/primary" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
cat >>"$DIR/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$DIR'
wal_level = replica
max_wal_senders = 20
wal_keep_size = '1GB'
synchronous_standby_names = 'walproposer'
CONF
as_pg "$PGBIN/pg_ctl" start -w -D "$DIR/primary" -l "$DIR/primary.log" >/dev/null

SAFEKEEPERS=""
for i in 0 1 2; do
	port=${SK_PORTS[$i]}
	echo "== walkeeper $((i + 1)) on port $port"
	"$BIN/walkeeper" -D "$DIR/sk$((i + 1))" --id $((i + 1)) --listen-pg "127.0.0.1:$port" \
		--listen-http "127.0.0.1:$((port + 100))" >"$DIR/sk$((i + 1)).log" 2>&1 &
	PIDS+=($!)
	SAFEKEEPERS+="${SAFEKEEPERS:+,}127.0.0.1:$port"
done
sleep 1

echo "== walproposer -> $SAFEKEEPERS"
"$BIN/walproposer" --safekeepers "$SAFEKEEPERS" --tenant-id $TENANT --timeline-id $TIMELINE \
	--primary "host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres sslmode=disable" \
	--status-interval 5s >"$DIR/walproposer.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	[ "$(psql_pg $PGPORT "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'walproposer'")" = sync ] && break
	sleep 0.2
done
echo "   the primary sees the walproposer as its synchronous standby"

echo "== pgbench -i -s 10"
"$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p $PGPORT -U postgres postgres 2>&1 | tail -1

echo "== hot standby on port $STANDBYPORT, streaming from walkeeper 1"
as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p $PGPORT -U postgres -D "$DIR/standby" -X none -c fast
cat >>"$DIR/standby/postgresql.conf" <<CONF
port = $STANDBYPORT
hot_standby = on
synchronous_standby_names = ''
primary_conninfo = 'host=127.0.0.1 port=${SK_PORTS[0]} user=postgres dbname=replication sslmode=disable options=''-c timeline_id=$TIMELINE tenant_id=$TENANT'''
CONF
as_pg touch "$DIR/standby/standby.signal"
as_pg "$PGBIN/pg_ctl" start -w -D "$DIR/standby" -l "$DIR/standby.log" >/dev/null ||
	echo "   standby did not start; see $DIR/standby.log"

echo "== pgbench -c $CLIENTS (Ctrl-C to stop)"
"$PGBIN/pgbench" -n -c "$CLIENTS" -T 86400 -P 2 -h 127.0.0.1 -p $PGPORT -U postgres postgres >"$DIR/pgbench.log" 2>&1 &
PIDS+=($!)

lsn2int() { local hi=${1%/*} lo=${1#*/}; echo $(((16#$hi << 32) + 16#$lo)); }
prev=""
printf '%-8s %-12s %-12s %-26s %-26s %-26s %-12s %8s %s\n' time primary wp_flush "sk1 flush|commit" "sk2 flush|commit" "sk3 flush|commit" standby "MiB/s" pgbench
while sleep 2; do
	cur=$(psql_pg $PGPORT "SELECT pg_current_wal_flush_lsn()")
	wp=$(psql_pg $PGPORT "SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'walproposer'")
	sb=$(psql_pg $STANDBYPORT "SELECT pg_last_wal_replay_lsn()")
	rate="-"
	if [ -n "$prev" ] && [ "$cur" != "?" ]; then
		rate=$(awk -v a="$(lsn2int "$prev")" -v b="$(lsn2int "$cur")" 'BEGIN { printf "%.2f", (b - a) / 2 / 1048576 }')
	fi
	[ "$cur" != "?" ] && prev=$cur
	tps=$(grep -o '[0-9.]* tps' "$DIR/pgbench.log" | tail -1 || true)
	printf '%-8s %-12s %-12s %-26s %-26s %-26s %-12s %8s %s\n' "$(date +%T)" "$cur" "$wp" \
		"$(sk_status ${SK_PORTS[0]})" "$(sk_status ${SK_PORTS[1]})" "$(sk_status ${SK_PORTS[2]})" "$sb" "$rate" "$tps"
done
