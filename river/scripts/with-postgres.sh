#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]: runs CMD with a throwaway PostgreSQL
# cluster, its URL in PELIQAN_TEST_DATABASE_URL, and removes the cluster
# afterwards:
#
#   cd river && scripts/with-postgres.sh go test ./...
#
# - PELIQAN_TEST_DATABASE_URL already set: CMD runs against that server.
# - No server binaries (/usr/lib/postgresql/*/bin/initdb, or on PATH): as
#   root with apt-get, installs Debian's postgresql package (no cluster of
#   the package's own is started or used).
# - The cluster runs as an unprivileged user (as root: "postgres" if it
#   exists, else "nobody"), with its data and socket directories in a
#   temporary folder that user owns, on a free loopback port, without
#   durability (fsync off: it is thrown away).
# - Still no PostgreSQL: CMD runs without the variable, so the tests that
#   need it skip, unless PELIQAN_REQUIRE_SERVICES is true (as in CI), when
#   this script fails instead.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2; exit 2
fi
if [ -n "${PELIQAN_TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi

required() {
  case "${PELIQAN_REQUIRE_SERVICES:-}" in
    1|t|T|true|TRUE|True) return 0 ;;
  esac
  return 1
}

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "with-postgres: installing PostgreSQL from the distribution's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; then
    bindir=$(find_bindir || true)
  fi
fi
if [ -z "$bindir" ]; then
  msg="with-postgres: no PostgreSQL server (initdb, pg_ctl) and no way to install it"
  if required; then
    echo "$msg, and PELIQAN_REQUIRE_SERVICES=${PELIQAN_REQUIRE_SERVICES} requires it" >&2; exit 1
  fi
  echo "$msg: the tests that need it skip" >&2
  exec "$@"
fi

# As root, the server runs as an unprivileged user (initdb refuses root).
as_user=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=nobody
  id postgres >/dev/null 2>&1 && owner=postgres
  command -v runuser >/dev/null 2>&1 || { echo "with-postgres: runuser (util-linux) is missing" >&2; exit 1; }
  as_user=(runuser -u "$owner" --)
fi

dir=$(mktemp -d /tmp/peliqan-pg.XXXXXX)
chmod 700 "$dir"
[ "$(id -u)" = 0 ] && chown "$owner" "$dir"

cleanup() {
  "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
  local p tries=0
  while [ $tries -lt 200 ]; do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
    tries=$((tries + 1))
  done
  return 1
}

"${as_user[@]}" "$bindir/initdb" -D "$dir/data" -U peliqan --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2; exit 1; }
mkdir -p "$dir/sock" && { [ "$(id -u)" != 0 ] || chown "$owner" "$dir/sock"; }
started=
for _ in 1 2 3; do
  port=$(free_port)
  if "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $dir/sock -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB" \
      start >/dev/null; then
    started=1; break
  fi
done
if [ -z "$started" ]; then
  echo "with-postgres: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1
fi

export PELIQAN_TEST_DATABASE_URL="postgres://peliqan@127.0.0.1:${port}/postgres?sslmode=disable"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:${port} as ${owner} (data in ${dir})" >&2
status=0
"$@" || status=$?
exit "$status"
