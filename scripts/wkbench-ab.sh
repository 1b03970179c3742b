#!/usr/bin/env bash
# wkbench-ab.sh compares wkbench builds (say main and a branch) on a noisy
# machine: the binaries run in turn, RUNS times each, ROUNDS rounds a run,
# so that every build sees the same stretch of machine weather; then it
# prints, per build, the median and quartiles of the per-round fsync-on
# ingest ratio and the medians of the other figures.
#
#   go build -o /tmp/wk.a ./cmd/wkbench   # on main
#   go build -o /tmp/wk.b ./cmd/wkbench   # on the branch
#   scripts/wkbench-ab.sh /tmp/wk.a /tmp/wk.b
#
# Environment: RUNS (default 4), ROUNDS (default 5).
set -euo pipefail
if [ $# -lt 1 ]; then
	echo "usage: $0 WKBENCH_BINARY..." >&2
	exit 2
fi
runs=${RUNS:-4}
rounds=${ROUNDS:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$runs"); do
	for b in "$@"; do
		echo "run $i/$runs: $b" >&2
		# round N: ingest on A/B MB/s (K fsyncs), off C/D MB/s, commit p50 E/F ms p99 ...
		"$b" -rounds "$rounds" 2>&1 >/dev/null | sed -nE \
			"s|^round [0-9]+: ingest on ([0-9]+)/([0-9]+) MB/s.*off ([0-9]+)/([0-9]+) MB/s, commit p50 ([0-9.]+)/([0-9.]+) ms.*|$b \1 \2 \3 \4 \5 \6|p" >>"$out"
	done
done
# quantile F: the F-quantile (nearest rank) of the numbers on stdin.
quantile() { sort -g | awk -v f="$1" '{ a[NR] = $1 } END { if (NR) print a[int(f * (NR - 1) + 0.5) + 1] }'; }
for b in "$@"; do
	rows=$(grep -F "$b " "$out" || true)
	if [ -z "$rows" ]; then
		echo "$b: no rounds parsed"
		continue
	fi
	ratio() { awk '{ printf "%.4f\n", $2 / $3 }' <<<"$rows"; }
	col() { awk -v c="$1" '{ print $c }' <<<"$rows"; }
	printf '%s: %d rounds; fsync-on ratio median %.2f (q1 %.2f, q3 %.2f); ingest on %s MB/s, off %s MB/s; commit p50 %s ms (baseline %s)\n' \
		"$b" "$(wc -l <<<"$rows")" "$(ratio | quantile .5)" "$(ratio | quantile .25)" "$(ratio | quantile .75)" \
		"$(col 2 | quantile .5)" "$(col 4 | quantile .5)" "$(col 6 | quantile .5)" "$(col 7 | quantile .5)"
done
