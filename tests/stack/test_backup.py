"""The logical backup restores with nothing lost, on a real PostgreSQL.

Data goes in through the service's API (a real password hash, an entry as the service writes it)
and through SQL (backup/seed.sql: a few thousand awkward rows). The CronJob's own scripts
(deploy/k8s/base/backup/dump.sh and upload.sh, against a stand-in for `aws s3 cp`) back it up, and
it is restored the way docs/backup-restore.md says (sha256 check, the extensions pg_stat_statements and btree_gin
created beforehand and left out of pg_restore --no-owner --no-privileges --clean --if-exists, then
`echodiary migrate`). Source and restore must then match table by table (row counts and a checksum
of every column, the generated search column and _sqlx_migrations included) and in the schema; the
service must serve the restore. The comparison itself is shown to catch a lost row, a changed
character and a dropped index.

Client tools come from PG_CLIENT_BIN or the newest /usr/lib/postgresql/*/bin and must be at least the
server's major version (production runs the postgres:16 image's tools against RDS 16).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, Service, http, login

HERE = Path(__file__).parent / "backup"
BACKUP_SCRIPTS = ROOT / "deploy/k8s/base/backup"
USERS, ENTRIES = 65, 4000
API_EMAIL, API_PASSWORD = "roundtrip@example.org", "correct horse battery staple"
API_CONTENT = ('Dear diary,\n«Ünïcödé» survives: 日本語, עברית, emoji 🧪👩\u200d🔬, tab\there, "quotes" and '
               "\\backslash.")
OBJECT_KEY = re.compile(r"echodiary-backups-roundtrip/echodiary/ci/(\d{4})/(\d{2})/(\d{2})/echodiary-(\d{8})T\d{6}Z\.dump")
TABLES = "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables " \
         "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
# docs/backup-restore.md, step 3: `grep -Ev` leaves these table-of-contents lines out of the restore.
RESTORE_SKIPS = re.compile(r" EXTENSION (- )?(pg_stat_statements|btree_gin)( |$)")
SEARCH = "SELECT count(*) FROM entries WHERE search @@ websearch_to_tsquery('english', 'morning OR schrödinger')"


def client_bin() -> Path:
    if os.environ.get("PG_CLIENT_BIN"):
        return Path(os.environ["PG_CLIENT_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), key=lambda p: int(p.parts[-3]))
    assert found, "no pg_dump under /usr/lib/postgresql (set PG_CLIENT_BIN)"
    return found[-1].parent


def psql(url: str, sql: str, **variables: object) -> str:
    """Runs `sql` and returns its unaligned output. Row text must print the same in every session."""
    env = dict(os.environ, PGTZ="UTC", PGDATESTYLE="ISO,YMD", PGCLIENTENCODING="UTF8")
    argv = [str(client_bin() / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url]
    argv += [arg for name, value in variables.items() for arg in ("-v", f"{name}={value}")]
    result = subprocess.run(argv, input=sql, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"psql failed: {result.stderr}"
    return result.stdout.strip()


def migrate(binary: Path, url: str) -> None:
    result = subprocess.run([str(binary), "migrate"], env=dict(os.environ, DATABASE_URL=url, RUST_LOG="warn"),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"echodiary migrate failed on {url}: {result.stderr[-1000:]}"


def differences(source: str, restored: str) -> list[str]:
    """Everything a restore could lose: tables, rows, column values, schema objects, search hits."""
    found = []
    tables, restored_tables = psql(source, TABLES).splitlines(), psql(restored, TABLES).splitlines()
    if tables != restored_tables:
        found.append(f"tables differ: source {tables}, restored {restored_tables}")
    for table in tables:
        # Every column of every row in its text form, in a fixed order.
        fingerprint = (f"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' "
                       f"ORDER BY t::text COLLATE \"C\"), '')) FROM {table} AS t")
        ours = psql(source, fingerprint)
        theirs = psql(restored, fingerprint) if table in restored_tables else "missing"
        if ours != theirs:
            found.append(f"{table}: rows and checksum {ours} in the source, {theirs} restored")
    schema = (HERE / "schema.sql").read_text()
    source_schema, restored_schema = psql(source, schema).splitlines(), psql(restored, schema).splitlines()
    found += [f"schema: only in the source: {line}" for line in sorted(set(source_schema) - set(restored_schema))]
    found += [f"schema: only restored: {line}" for line in sorted(set(restored_schema) - set(source_schema))]
    if psql(source, SEARCH) != psql(restored, SEARCH):
        found.append(f"full-text search: {psql(source, SEARCH)} hits in the source, {psql(restored, SEARCH)} restored")
    return found


@dataclass
class RoundTrip:
    source: str
    restored: str
    object_key: str
    entry_id: str


@pytest.fixture(scope="module")
def round_trip(binary, postgres, tmp_path_factory) -> RoundTrip:
    work = tmp_path_factory.mktemp("backup")
    source, restored = postgres.url("echodiary"), postgres.url("echodiary_restored")
    server_major = int(psql(source, "SHOW server_version_num")) // 10000
    client = subprocess.run([str(client_bin() / "pg_dump"), "--version"], capture_output=True, text=True, check=True)
    assert int(client.stdout.split()[2].split(".")[0]) >= server_major, "pg_dump older than the server"

    migrate(binary, source)
    service = Service(binary, source, work / "service.log")
    try:
        assert service.ready() == 200
        token = login(service.api, API_EMAIL, API_PASSWORD)
        entry = {"title": "Before the backup", "content": API_CONTENT, "mood": "great",
                 "tags": ["backup", "ünïcode"], "entry_date": "2024-02-29"}
        status, body = http("POST", f"{service.api}/api/v1/entries", entry, token)
        assert status == 201, body
    finally:
        service.stop()
    psql(source, (HERE / "seed.sql").read_text(), users=USERS, entries=ENTRIES)
    assert int(psql(source, "SELECT count(*) FROM entries")) > ENTRIES / 2, "the seeding did not happen"

    # Back up with the CronJob's scripts; upload to a local stand-in for S3.
    (work / "database-url").write_text(source + "\n")
    (work / "backup").mkdir()
    env = dict(os.environ, DATABASE_URL_FILE=str(work / "database-url"), BACKUP_DIR=str(work / "backup"),
               PG_BIN=str(client_bin()), AWS=str(HERE / "fake-aws"), FAKE_S3_ROOT=str(work / "s3"),
               BACKUP_BUCKET="echodiary-backups-roundtrip", BACKUP_ENV="ci", AWS_REGION="eu-central-1")
    for script in ("dump.sh", "upload.sh"):
        subprocess.run(["sh", str(BACKUP_SCRIPTS / script)], env=env, check=True)
    (dump,) = (work / "s3").rglob("echodiary-*.dump")

    # Restore as docs/backup-restore.md says: check the sha256, restore into a fresh database, migrate.
    expected_sha = (dump.parent / f"{dump.name}.sha256").read_text().split()[0]
    assert hashlib.sha256(dump.read_bytes()).hexdigest() == expected_sha, "the dump does not match its .sha256"
    psql(postgres.url("postgres"), "CREATE DATABASE echodiary_restored")
    # The extensions the application's own roles may not create are made by the administrator and
    # left out of the restore, so that those roles can restore the rest.
    psql(restored, "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION btree_gin")
    listing = subprocess.run([str(client_bin() / "pg_restore"), "--list", str(dump)], capture_output=True,
                             text=True, check=True).stdout.splitlines(keepends=True)
    kept = [line for line in listing if not RESTORE_SKIPS.search(line)]
    assert len(listing) - len(kept) == 4, "the dump should hold two extensions and their comments"
    (work / "restore.list").write_text("".join(kept))
    subprocess.run([str(client_bin() / "pg_restore"), f"--use-list={work / 'restore.list'}", "--no-owner",
                    "--no-privileges", "--clean", "--if-exists", "--exit-on-error", "--single-transaction",
                    f"--dbname={restored}", str(dump)], check=True)
    migrate(binary, restored)
    return RoundTrip(source, restored, str(dump.relative_to(work / "s3")), body["id"])


def test_the_restore_matches_the_source_in_every_row_and_the_schema(round_trip):
    assert differences(round_trip.source, round_trip.restored) == []


def test_the_object_key_is_dated_like_the_dump(round_trip):
    key = OBJECT_KEY.fullmatch(round_trip.object_key)
    assert key, f"unexpected object key: {round_trip.object_key}"
    assert "".join(key.group(1, 2, 3)) == key.group(4), "the key's date is not the dump's"


def test_the_service_serves_the_restore(round_trip, serve):
    service = serve(round_trip.restored, DATABASE__MIGRATE_ON_START="false")
    assert service.ready() == 200, "the service is not ready on the restored database"
    token = login(service.api, API_EMAIL, API_PASSWORD, register=False)
    status, entry = http("GET", f"{service.api}/api/v1/entries/{round_trip.entry_id}", token=token)
    assert (status, entry["content"]) == (200, API_CONTENT)


@pytest.mark.parametrize("damage", [
    "DELETE FROM entries WHERE id = (SELECT min(id::text)::uuid FROM entries)",
    "UPDATE entries SET content = content || '.' WHERE id = (SELECT max(id::text)::uuid FROM entries)",
    "DROP INDEX entries_owner_keys_idx",
], ids=["a lost row", "a changed character", "a dropped index"])
def test_the_comparison_catches(damage, round_trip, postgres):
    damaged = postgres.url("echodiary_damaged")
    psql(postgres.url("postgres"), "DROP DATABASE IF EXISTS echodiary_damaged")
    psql(postgres.url("postgres"), "CREATE DATABASE echodiary_damaged TEMPLATE echodiary_restored")
    psql(damaged, damage)
    assert differences(round_trip.source, damaged) != []
