#!/usr/bin/env bash
# Starts a private PostgreSQL 15 cluster for the test suites and prints the URL to export.
# Usage: eval "$(bash .ci/postgres.sh [DATA_DIR] [PORT])"
# Installs Debian's postgresql if it is missing (needs root and apt), runs the server as the
# `postgres` user on its own data directory and port, so it never touches a system cluster.
set -euo pipefail
data_dir=${1:-${TMPDIR:-/tmp}/dongbo-pg}
port=${2:-54329}
bin=/usr/lib/postgresql/15/bin

if [ ! -x "$bin/initdb" ]; then
  echo "installing postgresql 15 with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql-15 >&2 || apt-get install -y -qq postgresql >&2
fi

run_pg() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

if [ ! -f "$data_dir/PG_VERSION" ]; then
  mkdir -p "$data_dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$data_dir"
  run_pg "$bin/initdb -D '$data_dir' -U postgres --auth=trust -E UTF8 --no-locale" >&2
fi
if ! run_pg "$bin/pg_ctl -D '$data_dir' status" >/dev/null 2>&1; then
  run_pg "$bin/pg_ctl -D '$data_dir' -l '$data_dir/server.log' -w -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >&2
fi
echo "export DONGBO_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres"
