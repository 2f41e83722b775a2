#!/usr/bin/env bash
# The README's "Run it, test it" commands, as a new user runs them, on a machine without a system
# PostgreSQL: /usr/lib/postgresql is hidden under an empty tmpfs (in a mount namespace of this check
# only) and no pg_ctl is on PATH, so the dev database and the tests must fetch their private server.
#
# In a fresh clone of this repository (sharing target/, so nothing is rebuilt from scratch):
#   1. the README's run line, twice in a row: it must start the service (ready on :9000) both times,
#      and Ctrl-C (SIGINT to the process group) must end it with exit status 0; the second run finds
#      PostgreSQL still running from the first and reuses it;
#   2. with the development DATABASE_URL still exported, the README's test command (filtered to the
#      health tests, to stay short): the development server must see no connection at all (its log
#      records each one meanwhile), keep the same databases and still run.
# Needs root (or passwordless sudo) for the mount namespace; ports 5432, 8000 and 9000 free.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO TEST_FILTER=health

say() { printf 'check-first-run: %s\n' "$*" >&2; }
die() {
  say "FAIL: $*"
  exit 1
}

if [[ -z ${FIRST_RUN_INSIDE:-} ]]; then
  if [[ $EUID -ne 0 ]]; then
    exec sudo --preserve-env unshare -m --propagation private env FIRST_RUN_INSIDE=1 FIRST_RUN_USER="$USER" \
      PATH="$PATH" bash "$0" "$@"
  fi
  exec unshare -m --propagation private env FIRST_RUN_INSIDE=1 bash "$0" "$@"
fi

if [[ -z ${FIRST_RUN_HIDDEN:-} ]]; then
  [[ -d /usr/lib/postgresql ]] && mount -t tmpfs tmpfs /usr/lib/postgresql
  # Back to the invoking user, if sudo got us here: a new user is not root.
  if [[ -n ${FIRST_RUN_USER:-} && $FIRST_RUN_USER != root ]]; then
    exec runuser -u "$FIRST_RUN_USER" -- env FIRST_RUN_HIDDEN=1 PATH="$PATH" HOME="$(getent passwd "$FIRST_RUN_USER" | cut -d: -f6)" bash "$0" "$@"
  fi
  export FIRST_RUN_HIDDEN=1
fi

# PATH without any pg_ctl.
clean_path=""
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  [[ -x $dir/pg_ctl ]] || clean_path+="${clean_path:+:}$dir"
done
export PATH=$clean_path
[[ -z $(find /usr/lib/postgresql -name pg_ctl 2>/dev/null) ]] || die "/usr/lib/postgresql is not hidden"
unset DATABASE_URL PG_BIN ECHODIARY_TEST_PG_BIN ECHODIARY_TEST_DATABASE_URL PGPORT

for port in 5432 8000 9000; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is taken: the README's commands need 5432, 8000 and 9000"
  fi
done

# The README's two commands, from its "Run it, test it" block.
# shellcheck disable=SC2016 # sed addresses, not shell expansions
block=$(sed -n '/^## Run it, test it/,/^## /p' "$REPO/README.md" | sed -n '/^```sh$/,/^```$/p')
run_line=$(grep -m1 'cargo run' <<<"$block" | sed 's/[[:space:]]*#.*$//')
test_line=$(grep -m1 '^cargo test' <<<"$block" | sed 's/[[:space:]]*#.*$//')
[[ -n $run_line && -n $test_line ]] || die "no run line or test line in the README's \"Run it, test it\" block"
say "run line: $run_line"
say "test line: $test_line"

work=$(mktemp -d)
chmod 755 "$work"
clone=$work/echodiary
cleanup() {
  (cd "$clone" 2>/dev/null && scripts/dev-postgres.sh reset >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT
git clone -q "$REPO" "$clone"
export CARGO_TARGET_DIR=$REPO/target

ready() { curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:9000/health/ready 2>/dev/null; }

run_once() {
  local round=$1 log=$work/run-$1.log pid status waited=0
  (cd "$clone" && exec setsid bash -c "$run_line") >"$log" 2>&1 &
  pid=$!
  until ready; do
    kill -0 "$pid" 2>/dev/null || {
      tail -n 20 "$log" >&2
      die "run $round: the run line exited before the service was ready"
    }
    ((waited++ < 600)) || die "run $round: not ready after 5 minutes"
    sleep 0.5
  done
  say "run $round: ready on :9000; Ctrl-C"
  kill -INT -- "-$pid"
  status=0
  wait "$pid" || status=$?
  ((status == 0)) || {
    tail -n 20 "$log" >&2
    die "run $round: exit status $status after Ctrl-C (want 0)"
  }
  say "run $round: exit status 0"
}

run_once 1
run_once 2

cd "$clone"
# Every connection to the development server gets a log line from here on: the tests must make none.
scripts/dev-postgres.sh stop
echo "log_connections = on" >>"$clone/.dev/postgres/data/postgresql.conf"
eval "$(scripts/dev-postgres.sh start)"
log=$clone/.dev/postgres/server.log
databases() { ls "$clone/.dev/postgres/data/base"; }
before=$(databases)
offset=$(wc -l <"$log")
say "with DATABASE_URL=$DATABASE_URL exported: $test_line --test api $TEST_FILTER"
$test_line --test api "$TEST_FILTER" 2>&1 | tail -n 5
connections=$(tail -n "+$((offset + 1))" "$log" | grep -c 'connection received' || true)
((connections == 0)) || die "the tests connected to the development server $connections times"
[[ $before == "$(databases)" ]] || die "the tests changed the development server's databases"
scripts/dev-postgres.sh status 2>&1 | grep -q running || die "the development server no longer runs"
say "OK: the run line works twice in a row and cargo test leaves the development server untouched"
