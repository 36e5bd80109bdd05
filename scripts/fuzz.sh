#!/usr/bin/env bash
# Runs every Fuzz target of the module for a while each, package by
# package (go test -fuzz takes one target per run), and prints a table of
# executions per target.
#
#   scripts/fuzz.sh            # 10s per target
#   scripts/fuzz.sh 2000x      # CI smoke: a count of executions per target
#   FUZZ_PKGS="./reliability" scripts/fuzz.sh 1m
#
# Exits non-zero if any target fails; the failing input is written to the
# package's testdata/fuzz/<Target>/ by go test, where it then runs as a
# regression test with every plain `go test`.
#
# A duration (-fuzztime 1m) can end in a bare "context deadline exceeded"
# that no input caused: a race in Go's fuzzing coordinator when a worker
# is busy as the time runs out (golang/go#75804, fixed in Go 1.27). Such a
# run wrote no failing input; the script replays the target's corpus and,
# when that passes, reports the run as "flake" instead of failing. A count
# (2000x) has no deadline to race, which is why CI uses one.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-10s}"
pkgs="${FUZZ_PKGS:-$(go list ./...)}"
logdir="$(mktemp -d)"
trap 'rm -rf "$logdir"' EXIT

status=0
rows=()
for pkg in $pkgs; do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  targets="$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)"
  [ -n "$targets" ] || continue
  # Build the test binary once per package before timing the targets.
  go test -count=1 -run '^$' "$pkg" >/dev/null
  for t in $targets; do
    log="$logdir/$t.log"
    corpusdir="$dir/testdata/fuzz/$t"
    before="$(ls "$corpusdir" 2>/dev/null | sort || true)"
    start=$(date +%s)
    if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
      result=ok
    elif [ "$(ls "$corpusdir" 2>/dev/null | sort || true)" = "$before" ] &&
      grep -q '^    context deadline exceeded$' "$log" &&
      ! grep -q -e 'Failing input written' -e '^panic:' "$log" &&
      go test -count=1 -run "^${t}\$" "$pkg" >>"$log" 2>&1; then
      result=flake # golang/go#75804: see the header
      tail -n 3 "$log" >&2
    else
      result=FAIL
      status=1
      tail -n 30 "$log" >&2
    fi
    secs=$(( $(date +%s) - start ))
    # The last progress line carries the total, e.g.
    # "fuzz: elapsed: 10s, execs: 123456 (12345/sec), new interesting: 3 (total: 40)"
    # A run shorter than the baseline-coverage pass over the corpus ends
    # before fuzzing starts: it reports 0 executions.
    execs="$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | awk '{print $2}' || true)"
    corpus="$(grep -o 'total: [0-9]*' "$log" | tail -n 1 | awk '{print $2}' || true)"
    rows+=("$(printf '%-13s %-28s %-6s %12s %8s %6ss' ".${pkg#github.com/peliqan-community/peliqan-go}" "$t" "$result" "${execs:-0}" "${corpus:-?}" "$secs")")
  done
done

printf '\n%-13s %-28s %-6s %12s %8s %7s\n' package target result execs corpus wall
for r in "${rows[@]}"; do echo "$r"; done
exit $status
