#!/bin/sh
# Step 1 of the daily logical backup (the CronJob `echodiary-backup`, container `dump`, image
# postgres:16): a custom-format pg_dump of the database named by the URL in $DATABASE_URL_FILE,
# verified by reading its table of contents back, then published under $BACKUP_DIR as
#   echodiary-<YYYYmmddTHHMMSSZ>.dump   and   echodiary-<...>.dump.sha256
# for step 2 (upload.sh) to send to S3. Nothing is published unless every check passed.
#
# tests/stack/test_backup.py runs this very file against a throwaway PostgreSQL, so what CI proves
# restorable is what production writes. POSIX sh: the image's /bin/sh is dash.
#
# Environment (defaults are the CronJob's mounts):
#   DATABASE_URL_FILE      file holding the connection string   (/secrets/database-url)
#   BACKUP_DIR             where the dump goes                   (/backup)
#   BACKUP_EXPECT_TABLES   tables whose data must be in the dump (users entries _sqlx_migrations)
#   PG_BIN                 directory of pg_dump/pg_restore       (found on PATH)
set -eu

url_file=${DATABASE_URL_FILE:-/secrets/database-url}
out_dir=${BACKUP_DIR:-/backup}
expect_tables=${BACKUP_EXPECT_TABLES:-users entries _sqlx_migrations}
pg_dump=${PG_BIN:+$PG_BIN/}pg_dump
pg_restore=${PG_BIN:+$PG_BIN/}pg_restore

log() { printf '%s backup-dump: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

[ -r "$url_file" ] || fail "cannot read the database URL from $url_file"
if [ ! -d "$out_dir" ] || [ ! -w "$out_dir" ]; then fail "$out_dir is not a writable directory"; fi
url=$(cat "$url_file")
[ -n "$url" ] || fail "$url_file is empty"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
name=echodiary-$stamp.dump
partial=$out_dir/.$name.partial
trap 'rm -f "$partial" "$partial.toc"' EXIT

log "pg_dump $("$pg_dump" --version | sed 's/^pg_dump //') -> $name"
# The URL goes on pg_dump's command line, visible only inside this pod's own process namespace; the
# log line above never carries it. --lock-wait-timeout: fail rather than queue behind a migration's
# ACCESS EXCLUSIVE lock (and make the API queue behind us). Owners and grants are left in the dump;
# the restore procedure drops them (--no-owner --no-privileges), so any role can restore it.
"$pg_dump" --format=custom --compress=6 --lock-wait-timeout=120s --no-password \
  --file="$partial" --dbname="$url" || fail "pg_dump exited with $?"

# A dump that pg_restore cannot list is worthless: read the whole table of contents back, and insist
# that the data of every expected table is in it (a dump of the wrong, empty database lists none).
"$pg_restore" --list "$partial" >"$partial.toc" || fail "pg_restore --list cannot read the dump"
for table in $expect_tables; do
  grep -Eq "TABLE DATA [^ ]+ $table " "$partial.toc" || fail "the dump holds no data for table $table"
done
entries=$(grep -Ecv '^(;|$)' "$partial.toc" || true)

size=$(wc -c <"$partial" | tr -d ' ')
sum=$(sha256sum <"$partial" | cut -d' ' -f1)
# The checksum file first, the dump last: upload.sh only picks up a dump that is complete.
printf '%s  %s\n' "$sum" "$name" >"$out_dir/$name.sha256"
mv "$partial" "$out_dir/$name"
log "ok: $name, $size bytes, $entries TOC entries, sha256 $sum"
