#!/usr/bin/env bash
# Proves the logical backup restores with nothing lost, on a real PostgreSQL:
#   scripts/backup-roundtrip.sh [--binary PATH] [--corrupt row|text|schema] [--keep]
#
# 1. starts a throwaway PostgreSQL (scripts/dev-postgres.sh on a free port, in a temp directory);
# 2. applies the real schema with the service binary (`echodiary migrate`), writes data through the
#    service's API (a registered user and an entry) and a few thousand realistic rows through SQL
#    (unicode, tag arrays, moods, NULLs, edits and deletions, dates across 25 years);
# 3. backs it up with the CronJob's own scripts, deploy/k8s/base/backup/dump.sh (pg_dump
#    --format=custom, verified with pg_restore --list) and upload.sh (against a local stand-in for
#    `aws s3 cp`, which proves the object key layout);
# 4. restores that object into a fresh database the way docs/backup-restore.md says (sha256 check,
#    pg_restore --no-owner --no-privileges --clean --if-exists, then `echodiary migrate`);
# 5. compares source and restore: the set of tables, per-table row counts and content checksums
#    (every column, the generated search column and _sqlx_migrations included), and the schema
#    (columns, defaults, generated expressions, constraints, indexes); then starts the service on
#    the restored database: /health/ready must answer 200, and the API user must log in and read
#    their entry back unchanged;
# 6. prints one summary line and removes everything (--keep leaves the directory for a look).
#
# Any difference fails the run (exit 1) with every mismatch listed. --corrupt damages the restored
# database before the comparison (row: deletes an entry; text: changes one character of one entry;
# schema: drops an index) to show that the comparison catches it: the run must then fail.
#
# --binary: the `echodiary` binary to use (CI passes target/debug/echodiary, already built by
# `cargo test`); without it, `cargo build -q` builds it once. The client tools (pg_dump, pg_restore,
# psql) come from PG_CLIENT_BIN or the newest /usr/lib/postgresql/*/bin, and must be at least the
# server's major version; here they are Debian's 15 against the PostgreSQL 15 server (production runs
# the postgres:16 image's tools against RDS 16). The server binaries follow scripts/dev-postgres.sh
# (PG_BIN, pg_ctl on PATH, or the newest /usr/lib/postgresql/*/bin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly BACKUP_SCRIPTS=deploy/k8s/base/backup
readonly USERS=65 ENTRIES=4000

binary="" corrupt="" keep=false
while (($#)); do
  case $1 in
    --binary)
      binary=${2:?--binary needs a path}
      shift 2
      ;;
    --corrupt)
      corrupt=${2:?--corrupt needs row, text or schema}
      [[ $corrupt =~ ^(row|text|schema)$ ]] || { echo "--corrupt: row, text or schema" >&2; exit 2; }
      shift 2
      ;;
    --keep)
      keep=true
      shift
      ;;
    -h | --help)
      sed -n '2,3p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown argument $1 (see --help)" >&2
      exit 2
      ;;
  esac
done

started_ns=$(date +%s%N)
log() { printf 'backup-roundtrip: %s\n' "$*" >&2; }
elapsed() { printf '%.1f s' "$(($(date +%s%N) - started_ns))e-9"; }
die() {
  printf 'backup-roundtrip: FAIL: %s\n' "$*" >&2
  exit 1
}
# Anything else that stops the run says so too, with where.
set -E
trap 'printf "backup-roundtrip: FAIL: unexpected error (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

# ------------------------------------------------------------------------------------------ setup

client_bin=${PG_CLIENT_BIN:-}
if [[ -z $client_bin ]]; then
  client_bin=$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/pg_dump' -printf '%h\n' 2>/dev/null |
    sort -V | tail -n1)
fi
for tool in pg_dump pg_restore psql; do
  [[ -x $client_bin/$tool ]] || die "no $tool in '$client_bin' (set PG_CLIENT_BIN)"
done

work=$(mktemp -d)
# The server runs as the postgres user when this runs as root: it must reach its directory.
chmod 755 "$work"
service_pid=""
stop_service() {
  if [[ -n $service_pid ]]; then
    kill -TERM "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
    service_pid=""
  fi
}
cleanup() {
  stop_service
  scripts/dev-postgres.sh stop >/dev/null 2>&1 || true
  if [[ $keep == true ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Prints N distinct free loopback ports (all held open together while choosing, so never the same).
free_ports() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

if [[ -z $binary ]]; then
  log "building the service (cargo build -q)"
  cargo build -q --bin echodiary
  binary=${CARGO_TARGET_DIR:-target}/debug/echodiary
fi
[[ -x $binary ]] || die "no executable service binary at $binary"

export DEV_PG_DIR=$work/postgres PGPORT
PGPORT=$(free_ports 1)
scripts/dev-postgres.sh start >/dev/null
readonly SERVER=postgres://postgres@127.0.0.1:$PGPORT
readonly SOURCE_URL=$SERVER/echodiary RESTORED_URL=$SERVER/echodiary_restored
# Row text (timestamps above all) must print the same in every session that compares.
export PGTZ=UTC PGDATESTYLE=ISO,YMD PGCLIENTENCODING=UTF8

psql_() { "$client_bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
query() { psql_ "$1" -At -c "$2"; }

server_major=$(($(query "$SOURCE_URL" 'SHOW server_version_num') / 10000))
client_major=$("$client_bin/pg_dump" --version | awk '{ print $3 }' | cut -d. -f1)
((client_major >= server_major)) ||
  die "pg_dump $client_major cannot dump a PostgreSQL $server_major server (set PG_CLIENT_BIN)"
log "PostgreSQL $server_major on 127.0.0.1:$PGPORT, client tools $client_major ($client_bin)"

migrate() {
  DATABASE_URL=$1 RUST_LOG=warn "$binary" migrate >"$work/migrate.log" 2>&1 ||
    die "echodiary migrate failed on $1: $(tail -n5 "$work/migrate.log")"
}

# HTTP against the service under test: prints the status code, then the body. Named so that it
# does not shadow the standard library's `http` package.
cat >"$work/httpreq.py" <<'PY'
import json, sys, urllib.request, urllib.error
method, url, body, token = (sys.argv[1:] + ["", ""])[:4]
request = urllib.request.Request(url, method=method, data=body.encode() if body else None)
if body:
    request.add_header("Content-Type", "application/json")
if token:
    request.add_header("Authorization", f"Bearer {token}")
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.status)
        print(response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code)
    print(error.read().decode())
except OSError as error:
    print(0)
    print(error)
PY
# Sets $status and $body.
request() {
  local out
  out=$(python3 "$work/httpreq.py" "$@") || die "the HTTP helper failed on $*"
  status=${out%%$'\n'*}
  body=${out#*$'\n'}
}
json_field() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

# Starts `echodiary serve` on free loopback ports against database $1 with migrations off (so
# readiness reflects the schema as restored) and waits for /health/ready; prints its status code.
serve() {
  local url=$1 status body i
  read -r api_port ops_port < <(free_ports 2)
  DATABASE_URL=$url RUST_LOG=warn \
    ECHODIARY__SERVER__ADDR=127.0.0.1:$api_port ECHODIARY__SERVER__OPS_ADDR=127.0.0.1:$ops_port \
    ECHODIARY__DATABASE__MIGRATE_ON_START=false \
    ECHODIARY__SERVER__SHUTDOWN_GRACE_MS=0 ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS=1000 \
    "$binary" serve >"$work/service.log" 2>&1 &
  service_pid=$!
  for i in $(seq 1 100); do
    kill -0 "$service_pid" 2>/dev/null || die "the service exited: $(tail -n5 "$work/service.log")"
    request GET "http://127.0.0.1:$ops_port/health/ready"
    [[ $status == 200 ]] && break
    sleep 0.1
  done
  ready_status=$status
  log "service on $url: GET /health/ready -> $status after $(((i - 1) * 100)) ms${body:+ $body}"
}

# ------------------------------------------------------------------------------------------ source data

migrate "$SOURCE_URL"

# Through the API: a real password hash and an entry exactly as the service writes them.
readonly API_EMAIL=roundtrip@example.org API_PASSWORD='correct horse battery staple'
readonly API_CONTENT=$'Dear diary,\n«Ünïcödé» survives: 日本語, עברית, emoji 🧪👩‍🔬, tab\there, "quotes" and \\backslash.'
serve "$SOURCE_URL"
[[ $ready_status == 200 ]] || die "the service never got ready on the source database"
request POST "http://127.0.0.1:$api_port/api/v1/auth/register" \
  "$(python3 -c 'import json, sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2],
    "display_name": "Röundtrip Tester"}))' "$API_EMAIL" "$API_PASSWORD")"
[[ $status == 201 ]] || die "register answered $status: $body"
request POST "http://127.0.0.1:$api_port/api/v1/auth/login" \
  "$(python3 -c 'import json, sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' \
    "$API_EMAIL" "$API_PASSWORD")"
[[ $status == 200 ]] || die "login answered $status: $body"
token=$(json_field access_token <<<"$body")
request POST "http://127.0.0.1:$api_port/api/v1/entries" \
  "$(python3 -c 'import json, sys; print(json.dumps({"title": "Before the backup", "content": sys.argv[1],
    "mood": "great", "tags": ["backup", "ünïcode"], "entry_date": "2024-02-29"}))' "$API_CONTENT")" "$token"
[[ $status == 201 ]] || die "creating an entry answered $status: $body"
api_entry=$(json_field id <<<"$body")
stop_service

# Through SQL: bulk data with the awkward cases. Deterministic (ids from md5), so runs compare.
psql_ "$SOURCE_URL" -v users="$USERS" -v entries="$ENTRIES" <<'SQL'
BEGIN;
INSERT INTO users (id, email, password_hash, display_name, created_at)
SELECT md5('roundtrip-user-' || i)::uuid,
       format('user%s@example.org', i),
       format('$argon2id$v=19$m=19456,t=2,p=1$%s$%s',
              rtrim(encode(sha256(convert_to('salt' || i, 'UTF8')), 'base64'), '='),
              rtrim(encode(sha256(convert_to('hash' || i, 'UTF8')), 'base64'), '=')),
       CASE WHEN i % 7 = 0 THEN NULL
            ELSE (ARRAY['Zoë Ångström', 'Łukasz Żółć', 'Siobhán Ní Bhriain', '田中 はなこ', 'Мария Иванова',
                        'محمد الأحمد', 'O''Brien', 'José "Pepe" Núñez', 'Ñandú 🐦‍🔥', 'back\slash; semi;colon'
                       ])[1 + i % 10] END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '3 hours 17 minutes 0.123456 seconds'
FROM generate_series(1, :users) AS i;

-- Users above 60 keep no entries at all.
INSERT INTO entries (id, user_id, title, content, mood, tags, entry_date, created_at, updated_at, version)
SELECT md5('roundtrip-entry-' || i)::uuid,
       md5('roundtrip-user-' || (1 + i % 60))::uuid,
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE (ARRAY['Morning pages', 'Café au lait ☕', 'Über den Wolken', '晴れの日', 'Тихий вечер',
                        'יום טוב', 'Quotes "double" and ''single''', E'Tab\tinside', 'Family 👩‍👩‍👧‍👦',
                        U&'e\0301 combining'])[1 + i % 10] || ' #' || i END,
       concat_ws(E'\n',
                 (ARRAY['Ran 5 km before breakfast; legs complained.',
                        'Schrödinger''s cat: alive in the morning, unsure by night.',
                        '今日は雨でしたが、散歩に行きました。',
                        'Сегодня был длинный день, но хороший.',
                        'كان يوماً جميلاً مع العائلة',
                        'Line with a backslash \ and a percent % and an underscore _',
                        E'Carriage\r\nreturn and a NUL-free control char \x01 here',
                        'JSON-ish {"mood": "good", "tags": ["a", "b"]} in plain text'])[1 + i % 8],
                 CASE WHEN i % 3 = 0 THEN 'A second paragraph about ' || (ARRAY['work', 'travel', 'books'])[1 + i % 3] END,
                 CASE WHEN i % 97 = 0 THEN repeat('long text ', 1999) END),
       (ARRAY['great', 'good', 'okay', 'bad', 'awful', NULL])[1 + i % 6],
       CASE i % 6
            WHEN 0 THEN '{}'::text[]
            WHEN 1 THEN ARRAY['work']
            WHEN 2 THEN ARRAY['family', 'travel ✈️']
            WHEN 3 THEN ARRAY['with,comma', 'with "quote"', 'NULL', '{braces}', 'back\slash']
            WHEN 4 THEN ARRAY['日記', 'ψυχή', 'x', 'a tag that is exactly 32 chars!!']
            ELSE ARRAY['health', 'running', 'sleep', 'food', 'mood', 'books', 'music', 'friends', 'rain', 'sun']
       END,
       CASE WHEN i % 500 = 0 THEN date '2024-02-29' ELSE date '2001-01-01' + (i * 37) % 9300 END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes 3.000001 seconds',
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes 3.000001 seconds',
       1
FROM generate_series(1, :entries) AS i;

-- Edits and deletions, as a year of use leaves them (of these rows only: the API user's entry must
-- read back exactly as it was written).
UPDATE entries SET content = content || E'\n\n(edited)', version = version + 1 + get_byte(decode(md5(id::text), 'hex'), 1) % 3,
                   updated_at = updated_at + interval '2 days 3 hours'
 WHERE get_byte(decode(md5(id::text), 'hex'), 0) < 40 AND user_id IN (SELECT id FROM users WHERE email LIKE 'user%');
DELETE FROM entries
 WHERE get_byte(decode(md5(id::text), 'hex'), 0) >= 250 AND user_id IN (SELECT id FROM users WHERE email LIKE 'user%');
COMMIT;
ANALYZE;
SQL

# ------------------------------------------------------------------------------------------ backup

printf '%s\n' "$SOURCE_URL" >"$work/database-url"
chmod 600 "$work/database-url"
mkdir "$work/backup"
dump_start=$(date +%s%N)
DATABASE_URL_FILE=$work/database-url BACKUP_DIR=$work/backup PG_BIN=$client_bin \
  sh "$BACKUP_SCRIPTS/dump.sh" 2>&1 | sed 's/^/  /' >&2 || die "dump.sh failed (see above)"
dump_ms=$((($(date +%s%N) - dump_start) / 1000000))
dump_file=$(find "$work/backup" -name 'echodiary-*.dump')
[[ -n $dump_file ]] || die "dump.sh left no dump"

# A stand-in for `aws s3 cp SRC s3://BUCKET/KEY ...`: copies into a local directory per bucket.
mkdir -p "$work/s3" "$work/bin"
cat >"$work/bin/aws" <<EOF
#!/usr/bin/env bash
set -euo pipefail
[[ \$1 == s3 && \$2 == cp && \$4 == s3://* ]] || { echo "fake aws: unsupported: \$*" >&2; exit 2; }
target=$work/s3/\${4#s3://}
mkdir -p "\$(dirname "\$target")"
cp "\$3" "\$target"
EOF
chmod +x "$work/bin/aws"
AWS=$work/bin/aws BACKUP_BUCKET=echodiary-backups-roundtrip BACKUP_ENV=ci AWS_REGION=eu-central-1 \
  BACKUP_DIR=$work/backup sh "$BACKUP_SCRIPTS/upload.sh" 2>&1 | sed 's/^/  /' >&2 || die "upload.sh failed (see above)"
object=$(cd "$work/s3" && find . -name 'echodiary-*.dump' | sed 's|^\./||')
[[ $object =~ ^echodiary-backups-roundtrip/echodiary/ci/[0-9]{4}/[0-9]{2}/[0-9]{2}/echodiary-[0-9]{8}T[0-9]{6}Z\.dump$ ]] ||
  die "unexpected object key: $object"
stamp=${object##*/echodiary-}
[[ $object == */${stamp:0:4}/${stamp:4:2}/${stamp:6:2}/* ]] || die "object key date does not match the dump's: $object"

# ------------------------------------------------------------------------------------------ restore

# As docs/backup-restore.md says: check the sha256, restore into a fresh database, then migrate.
(cd "$work/s3/${object%/*}" && sha256sum -c --quiet "${object##*/}.sha256") ||
  die "the downloaded dump does not match its .sha256"
query "$SERVER/postgres" "CREATE DATABASE echodiary_restored" >/dev/null
restore_start=$(date +%s%N)
"$client_bin/pg_restore" --no-owner --no-privileges --clean --if-exists --exit-on-error \
  --single-transaction --dbname="$RESTORED_URL" "$work/s3/$object" ||
  die "pg_restore failed"
restore_ms=$((($(date +%s%N) - restore_start) / 1000000))
migrate "$RESTORED_URL"

case $corrupt in
  row) query "$RESTORED_URL" "DELETE FROM entries WHERE id = (SELECT min(id::text)::uuid FROM entries)" ;;
  text) query "$RESTORED_URL" "UPDATE entries SET content = content || '.'
                               WHERE id = (SELECT max(id::text)::uuid FROM entries)" ;;
  schema) query "$RESTORED_URL" "DROP INDEX entries_tags_idx" ;;
esac
[[ -z $corrupt ]] || log "deliberately corrupted the restored database ($corrupt): this run must FAIL"

# ------------------------------------------------------------------------------------------ compare

mismatches=()
mismatch() {
  mismatches+=("$*")
  printf 'backup-roundtrip: MISMATCH: %s\n' "$*" >&2
}

tables_sql="SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
source_tables=$(query "$SOURCE_URL" "$tables_sql")
restored_tables=$(query "$RESTORED_URL" "$tables_sql")
[[ $source_tables == "$restored_tables" ]] ||
  mismatch "tables differ: source [${source_tables//$'\n'/ }], restored [${restored_tables//$'\n'/ }]"
for required in public.users public.entries public._sqlx_migrations; do
  grep -qx "$required" <<<"$source_tables" || die "the source has no table $required: the schema is not what this test expects"
done

# Every column of every row, in its text form (the generated tsvector included), in a fixed order.
table_fingerprint() {
  query "$1" "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text COLLATE \"C\"), ''))
                FROM $2 AS t"
}
counts=()
total_rows=0
while read -r table; do
  read -r source_count source_md5 <<<"$(table_fingerprint "$SOURCE_URL" "$table")"
  if ! grep -qx "$table" <<<"$restored_tables"; then
    mismatch "$table: missing from the restored database ($source_count rows in the source)"
    continue
  fi
  read -r restored_count restored_md5 <<<"$(table_fingerprint "$RESTORED_URL" "$table")"
  ((source_count == restored_count)) || mismatch "$table: $source_count rows in the source, $restored_count restored"
  [[ $source_md5 == "$restored_md5" ]] ||
    mismatch "$table: content checksum $source_md5 in the source, $restored_md5 restored"
  printf '  %-26s rows %6s / %-6s md5 %s / %s\n' "$table" "$source_count" "$restored_count" \
    "$source_md5" "$restored_md5" >&2
  counts+=("${table#public.}=$source_count")
  total_rows=$((total_rows + source_count))
done <<<"$source_tables"
((total_rows > ENTRIES / 2)) || die "the source holds only $total_rows rows: the seeding did not happen"

# The schema as the catalogue describes it: what a restore could lose without losing a row.
schema_sql=$(
  cat <<'SQL'
SELECT line FROM (
  SELECT format('column %s.%s %s not_null=%s generated=%s default=%s', a.attrelid::regclass, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT 'extension ' || extname FROM pg_extension
  UNION ALL
  SELECT 'function ' || oid::regprocedure FROM pg_proc WHERE pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT format('trigger %s %s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal
) AS s (line) ORDER BY line COLLATE "C"
SQL
)
query "$SOURCE_URL" "$schema_sql" >"$work/schema.source"
query "$RESTORED_URL" "$schema_sql" >"$work/schema.restored"
schema_objects=$(wc -l <"$work/schema.source")
if ! diff -u --label source --label restored "$work/schema.source" "$work/schema.restored" >"$work/schema.diff"; then
  mismatch "schema differs ($(grep -c '^[-+][^-+]' "$work/schema.diff") line(s)):"$'\n'"$(tail -n +3 "$work/schema.diff")"
fi

# Full-text search still finds what it found (the GIN index and generated column at work).
search_sql="SELECT count(*) FROM entries WHERE search @@ websearch_to_tsquery('english', 'morning OR schrödinger')"
source_hits=$(query "$SOURCE_URL" "$search_sql")
restored_hits=$(query "$RESTORED_URL" "$search_sql")
((source_hits > 0 && source_hits == restored_hits)) ||
  mismatch "full-text search: $source_hits hits in the source, $restored_hits restored"

# ------------------------------------------------------------------------------------------ the service

serve "$RESTORED_URL"
[[ $ready_status == 200 ]] || mismatch "the service is not ready on the restored database (HTTP $ready_status)"
if [[ $ready_status == 200 ]]; then
  request POST "http://127.0.0.1:$api_port/api/v1/auth/login" \
    "$(python3 -c 'import json, sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' \
      "$API_EMAIL" "$API_PASSWORD")"
  if [[ $status != 200 ]]; then
    mismatch "the API user cannot log in on the restored database (HTTP $status)"
  else
    token=$(json_field access_token <<<"$body")
    request GET "http://127.0.0.1:$api_port/api/v1/entries/$api_entry" "" "$token"
    if [[ $status != 200 ]]; then
      mismatch "the API user's entry is gone on the restored database (HTTP $status)"
    elif [[ $(json_field content <<<"$body") != "$API_CONTENT" ]]; then
      mismatch "the API user's entry reads back different on the restored database: $body"
    fi
  fi
fi
stop_service

# ------------------------------------------------------------------------------------------ verdict

dump_bytes=$(wc -c <"$dump_file")
details="${#counts[@]} tables ($(
  IFS=' '
  echo "${counts[*]}"
)), $schema_objects schema objects, dump $((dump_bytes / 1024)) KiB in ${dump_ms} ms, restore ${restore_ms} ms, PostgreSQL $server_major with pg_dump $client_major"
if ((${#mismatches[@]})); then
  printf 'backup-roundtrip: FAIL: %d mismatch(es) after a round trip of %s; %s\n' \
    "${#mismatches[@]}" "$details" "$(elapsed)"
  exit 1
fi
printf 'backup-roundtrip: PASS: %s row(s) restored identical: %s; service ready on the restore, API login and entry OK; %s\n' \
  "$total_rows" "$details" "$(elapsed)"
