#!/usr/bin/env bash
# A local PostgreSQL for `cargo run`, without Docker: `scripts/dev-postgres.sh start|stop|url`.
# Data lives in ${DEV_PG_DIR:-.dev/postgres} (git-ignored); the server listens on 127.0.0.1:${PGPORT:-5432}.
# Server binaries come from PG_BIN, or pg_ctl on PATH, or the newest /usr/lib/postgresql/*/bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

port=${PGPORT:-5432}
dir=${DEV_PG_DIR:-$PWD/.dev/postgres}
url="postgres://postgres@127.0.0.1:$port/echodiary"

bin=${PG_BIN:-}
if [[ -z $bin ]]; then
  if command -v pg_ctl >/dev/null; then
    bin=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
  else
    bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
  fi
fi
[[ -x $bin/pg_ctl ]] || { echo "no PostgreSQL server binaries found (set PG_BIN)" >&2; exit 1; }

# The server refuses to run as root; as root, run it as the postgres user.
as_server() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case ${1:-start} in
  start)
    if [[ ! -f $dir/data/PG_VERSION ]]; then
      mkdir -p "$dir"
      [[ $(id -u) == 0 ]] && chown postgres "$dir"
      as_server "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    fi
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
    psql=$(command -v psql || echo "$bin/psql")
    "$psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'echodiary'" \
      | grep -q 1 || "$psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE echodiary"
    echo "export DATABASE_URL=$url"
    ;;
  stop) as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w stop ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
