#!/usr/bin/env bash
# Runs every benchmark of the module and writes BENCHMARKS.md: a table with
# each figure beside its target (the README's Performance table), then the raw
# output. Figures are the median of COUNT runs (default 3).
#
#   scripts/bench.sh                 # writes BENCHMARKS.md
#   COUNT=5 scripts/bench.sh out.md
#
# Run it on a quiet machine: the ratios compare the SDK with a baseline in
# the same run, so noise hits both, but absolute figures move with load.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-BENCHMARKS.md}"
count="${COUNT:-3}"
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT

bench() { # package, benchmark regexp, benchtime, extra flags...
  local pkg="$1" re="$2" bt="$3"
  shift 3
  echo "== go test -run '^\$' -bench '$re' -benchtime $bt -count $count $* $pkg" >&2
  go test -run '^$' -bench "$re" -benchtime "$bt" -count "$count" "$@" "$pkg" | tee -a "$raw" >&2
}

bench . '^BenchmarkRoundTrip$' 3000x -count "$(( count > 5 ? count : 5 ))" # the target is a median of 5
bench . '^BenchmarkQuery$' 10x
bench . '^BenchmarkWholeLoop$' 3x
bench . '^BenchmarkCallHookOverhead$' 2000x
bench . '^BenchmarkTenantTokenCached$' 1s -benchmem
bench . '^BenchmarkErrorPath$' 1s -benchmem
bench . '^BenchmarkColdTenant1000$' 5x
bench . '^BenchmarkLoadFanOut$' 3x
bench . '^BenchmarkConnectionHealth$' 1x
bench . '^BenchmarkRows$' 1x
bench ./peliqantest '^BenchmarkFake' 2000x

# median BENCH UNIT: the median of a metric over the runs.
median() {
  awk -v b="$1" -v u="$2" '
    $1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i < NF; i += 2) if ($(i+1) == u) print $i }' "$raw" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'
}

# row LABEL BENCH UNIT TARGET-TEXT OP LIMIT: one table row; OP is le, ge or
# "-" (no target: informational).
rows=""
row() {
  local label="$1" b="$2" u="$3" target="$4" op="$5" limit="$6" v met
  v="$(median "$b" "$u")"
  met="—"
  if [ "$v" != "n/a" ] && [ "$op" != "-" ]; then
    met="$(awk -v v="$v" -v l="$limit" -v op="$op" 'BEGIN { ok = (op == "le") ? (v <= l) : (v >= l); print ok ? "yes" : "**no**" }')"
  fi
  rows+="| $label | \`$b\` $u | $(awk -v v="$v" 'BEGIN { if (v == "n/a") print v; else if (v + 0 >= 10000) printf "%d\n", v + 0.5; else printf "%.4g\n", v }') | $target | $met |"$'\n'
}

row "ListServers (50 connections) vs hand-written net/http + encoding/json, loopback: time" BenchmarkRoundTrip/ListServers ratio "≤ 1.10" le 1.10
row "  allocations per call, SDK / baseline" BenchmarkRoundTrip/ListServers allocs-ratio "≤ 1.05" le 1.05
row "  SDK allocations per call" BenchmarkRoundTrip/ListServers sdk-allocs/op "—" - 0
row "GetServer vs hand-written net/http + encoding/json, loopback: time" BenchmarkRoundTrip/GetServer ratio "≤ 1.10" le 1.10
row "  allocations per call, SDK / baseline" BenchmarkRoundTrip/GetServer allocs-ratio "≤ 1.05" le 1.05
row "  SDK allocations per call" BenchmarkRoundTrip/GetServer sdk-allocs/op "—" - 0
row "Query, 15,000 rows × 8 columns vs encoding/json UseNumber into [][]any: time" BenchmarkQuery ratio "≤ 1.2" le 1.2
row "  allocations, SDK / baseline" BenchmarkQuery allocs-ratio "≤ 1.2" le 1.2
row "  bytes allocated per call, SDK (MB)" BenchmarkQuery sdk-MB/op "—" - 0
row "Whole loop (customers → connections → tables → 100 rows), 50 × 3, 20 ms, concurrency 32: wall vs hand-written loop" BenchmarkWholeLoop ratio "≤ 1.15" le 1.15
row "  new TCP connections per loop, SDK (shared pool)" BenchmarkWholeLoop sdk-new-conns "≤ 36 (concurrency + 4)" le 36
row "  new TCP connections per loop, hand-written loop" BenchmarkWholeLoop baseline-new-conns "—" - 0
row "  SDK wall / ideal (requests × 20 ms / 32)" BenchmarkWholeLoop x-ideal "—" - 0
row "ListServers with a no-op CallHook / without (all three hook functions set)" BenchmarkCallHookOverhead ratio "≈ 1 (≤ 1.05)" le 1.05
row "Warm tenant client + cached identity token (1,000 tenants, all Ps)" BenchmarkTenantTokenCached ns/op "≤ 200 ns" le 200
row "  allocations" BenchmarkTenantTokenCached allocs/op "0" le 0
row "Identity-token requests for 1,000 concurrent first calls on a cold tenant (fake)" BenchmarkColdTenant1000 identity-requests "exactly 1" le 1
row "Fan-out health scan, 1,000 tenants × 5 connections, 20 ms latency, concurrency 32: wall / ideal" BenchmarkConnectionHealth x-ideal "≤ 1.25" le 1.25
row "Rows: peak live heap at 1,000,000 rows / at 100,000 rows" BenchmarkRows peak-heap-1M/100k "≈ 1 (flat; ≤ 1.5)" le 1.5
row "  Rows peak live heap, 1,000,000 rows (MB)" BenchmarkRows peak-heap-MB-1M "about one page" - 0
row "  Rows peak heap / baseline (page read whole into []map)" BenchmarkRows peak-heap-vs-baseline "—" - 0
row "  Rows throughput / baseline" BenchmarkRows throughput-vs-baseline "—" - 0
row "  Rows throughput (rows/s)" BenchmarkRows rows/s "—" - 0
row "Error body → *APIError (tuple-string detail)" BenchmarkErrorPath ns/op "—" - 0
row "Whole stack through ForEachSubAccount against the fake, concurrency 64 (req/s)" BenchmarkLoadFanOut req/s "—" - 0
row "Fake: ListRows, 1,000 rows per page (rows/s)" BenchmarkFakeListRows1000 rows/s "—" - 0
row "Fake: ListServers (req/s)" BenchmarkFakeListServers req/s "—" - 0
row "Fake: heap kept per recorded request (bodiless GET, bytes)" BenchmarkFakeRecordBytes B/record "—" - 0

# --- Fleet (issue 14): SyncFleet, batched waits, rate limit, memory (fleet_bench_test.go) ---
bench . '^BenchmarkFleetSync$' 1x
bench . '^BenchmarkFleetSyncRateLimited$' 1x
bench . '^BenchmarkFleetSyncMemory$' 1x
row "Fleet sync, 1,000 customers × 5 connections, 20 ms per request, concurrency 32, 2 s syncs, 1 s polls: wall / (fan-out ideal + sync + one poll interval)" BenchmarkFleetSync x-ideal "≤ 1.2" le 1.2
row "  requests / (list pages + 2 × customers + connections + customers × 3 poll ticks)" BenchmarkFleetSync requests/budget "≤ 1" le 1
row "  runs started per connection, most (the fake's count)" BenchmarkFleetSync runs/conn-max "1" le 1
row "  runs started per connection, fewest" BenchmarkFleetSync runs/conn-min "1" ge 1
row "Fleet sync against a 10 req/s limit answering 429 + Retry-After, 20 × 5, NewRateLimiter(10, 10): connections failed" BenchmarkFleetSyncRateLimited failed "0" le 0
row "  share of requests answered 429" BenchmarkFleetSyncRateLimited share-429 "≤ 0.05" le 0.05
row "  runs started per connection, most" BenchmarkFleetSyncRateLimited runs/conn-max "1" le 1
row "  runs started per connection, fewest" BenchmarkFleetSyncRateLimited runs/conn-min "1" ge 1
row "Fleet sync with 10,000 runs in flight (stub, runs never end): heap growth per run after GC (bytes)" BenchmarkFleetSyncMemory heap-B/run "≤ 2048" le 2048
row "  goroutines besides net/http's connection goroutines (concurrency 32)" BenchmarkFleetSyncMemory goroutines "≤ 42" le 42
# --- River (issue 19): worker processes on one PostgreSQL (river/bench_test.go); information, no targets ---
echo "== (cd river && scripts/with-postgres.sh go test -run '^\$' -bench '^BenchmarkFleetSyncWorkers\$' -benchtime 1x -count $count .)" >&2
(cd river && scripts/with-postgres.sh go test -run '^$' -bench '^BenchmarkFleetSyncWorkers$' -benchtime 1x -count "$count" .) | tee -a "$raw" >&2
row "River fleet sync, 100 × 3 connections, 500 ms syncs, 100 ms polls, 1 worker process × 20 workers, limiter off: connections/s" BenchmarkFleetSyncWorkers/procs=1 conns/s "— (information)" - 0
row "  workers' CPU per connection (ms)" BenchmarkFleetSyncWorkers/procs=1 cpu-ms/conn "—" - 0
row "River fleet sync, the same with 3 worker processes: connections/s" BenchmarkFleetSyncWorkers/procs=3 conns/s "— (information)" - 0
row "  workers' CPU per connection (ms)" BenchmarkFleetSyncWorkers/procs=3 cpu-ms/conn "—" - 0
fleet_notes='- **Fleet** (`fleet_bench_test.go`): `SyncFleet` against the fake with a 20 ms latency fault
  on every request (and, for the rate-limit figure, `WithRateLimit(10, 10)`, which answers 429
  with `Retry-After`); requests, 429s and runs per connection are the fake'"'"'s own counts; the
  memory figure runs against a stateless stub whose runs never finish, once every run was
  started and polled.'
# --- end of the fleet block ---

{
  cat <<EOF
# Benchmarks

Generated by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(go version | awk '{print $3, $4}'),
$(nproc 2>/dev/null || echo '?') CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//' || echo unknown)).
Each figure is the median of $count runs. Targets are the performance targets in the
[README](README.md#performance); ratios compare the SDK with a hand-written baseline in the same run, so
machine noise hits both. Rerun with \`scripts/bench.sh\` (\`COUNT=5\` for more runs).

| Figure | Benchmark metric | Measured | Target | Met |
|---|---|---|---|---|
${rows}
How each is measured:

- **Round trip** (\`bench_test.go\`): the public \`ListServers\` (50 connections) and
  \`GetServer\` (routes table, auth, retry layer, capped read, tolerant decode keeping
  \`Raw\`) against \`net/http\` + \`encoding/json\` into a struct with the same fields plus
  the raw object, on a hand-written loopback server that allocates nothing per request
  (so allocations are the clients'), interleaved in one run. Median of 5 runs.
- **Query** (\`query_bench_test.go\`): \`Query\` on a 15,000-row answer against
  \`net/http\` + \`encoding/json\` with \`UseNumber\` into \`[][]any\` plus the columns, same
  server, interleaved.
- **Whole loop** (\`wholeloop_bench_test.go\`): \`ForEachSubAccount\` → \`ListServers\` →
  \`ConnectionTables\` → the first 100 rows of each table through \`Rows\`, against the fake
  with 20 ms added to every request, 50 customers × 3 connections, concurrency 32, versus a
  hand-written loop sending the same requests (checked per route) with a 32-worker pool and
  its own pooled transport; each side behind its own listener, which counts the TCP
  connections opened; both pools emptied before each loop; order alternated.
- **Tenant token cache** (\`partner_bench_test.go\`): \`p.SubAccount(ref)\` plus the
  cached identity token, over 1,000 warm tenants from every P at once; no network.
- **Cold tenant** (\`load_test.go\`): a fresh partner client, 1,000 goroutines
  call \`ListServers\` on one cold tenant client at once; the fake counts the
  identity-token requests.
- **Health fan-out** (\`health_test.go\`): \`ConnectionHealth\` over 1,000 tenants
  × 5 connections behind a server that sleeps 20 ms per request, concurrency 32;
  wall time over requests × 20 ms / 32.
- **Rows** (\`rows_bench_test.go\`): 1,000,000 and 100,000 rows × 10 columns in
  pages of 1,000, \`Rows\` against reading each page whole; sampled peak live heap.
- **Load** (\`load_test.go\`): requests per second through \`ForEachSubAccount\`
  (identity token + \`ListServers\` per customer) against the in-process fake, which
  shares the CPUs: a whole-stack figure for this machine, not a target.
- **Fake** (\`peliqantest/bench_test.go\`): the fake alone, with a plain client.
${fleet_notes}

Reliability evidence that is not a benchmark lives in tests: the fault-injection
matrix (\`go test -v -run TestFaultMatrix .\` logs requests sent vs expected per
fault kind), the load test (\`go test -v -run TestLoadFanOut .\`), goroutine-leak
checks (\`TestLeak*\`), the secrets scan (\`TestSecretsNeverLeak\`), and the fuzz
targets (\`scripts/fuzz.sh 30s\` prints executions per target).

## Raw output

\`\`\`
$(grep -E '^(Benchmark|goos|goarch|pkg|cpu)' "$raw")
\`\`\`
EOF
} >"$out"
echo "wrote $out" >&2
