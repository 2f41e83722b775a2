#!/usr/bin/env bash
# Regenerates the compile-time query data in .sqlx/ from a freshly migrated throwaway database, or
# with --check fails when the committed data differs from what the code and migrations produce.
# Needs only PostgreSQL server binaries (see scripts/dev-postgres.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-write}
work=$(mktemp -d)
# The server may run as the postgres user (when this runs as root): it must reach its directory.
chmod 755 "$work"
export DEV_PG_DIR=$work/postgres PGPORT=${SQLX_PREPARE_PORT:-55439}
cleanup() {
  scripts/dev-postgres.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

started=$(scripts/dev-postgres.sh start)
eval "$started"
export DATABASE_URL
# The binary itself applies the migrations: the same code path as production. A query that the
# offline data does not know yet keeps the binary from compiling; when writing, the migration files
# are then applied with psql, which is all the online expansion below needs.
if ! cargo run --quiet -- migrate; then
  if [[ $mode == --check ]]; then
    echo "error: the binary does not build with the committed .sqlx/ data" >&2
    exit 1
  fi
  echo "the binary needs new query data: applying migrations/*.sql with psql instead" >&2
  for migration in migrations/*.sql; do
    psql "$DATABASE_URL" --quiet --set ON_ERROR_STOP=1 --file "$migration"
  done
fi
mkdir "$work/sqlx"
# Touching the crate root makes cargo expand the query macros again, this time online.
touch src/lib.rs
SQLX_OFFLINE=false SQLX_OFFLINE_DIR=$work/sqlx cargo check --quiet --lib

if [[ $mode == --check ]]; then
  if ! diff -r .sqlx "$work/sqlx" >&2; then
    echo "error: .sqlx/ is stale; run scripts/sqlx-prepare.sh and commit the result" >&2
    exit 1
  fi
  echo ".sqlx/ is current ($(find .sqlx -name 'query-*.json' | wc -l) queries)"
else
  rm -rf .sqlx
  cp -r "$work/sqlx" .sqlx
  echo "wrote $(find .sqlx -name 'query-*.json' | wc -l) queries to .sqlx/"
fi
