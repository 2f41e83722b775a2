#!/usr/bin/env python3
"""EchoDiary data-scale benchmark (issue 17): is every way of listing entries as fast with 2 million
and 10 million entries in the table as with 100,000? One command, everything on 127.0.0.1, everything
stops by itself:

    bench/scale.py                                        100k, 2M and 10M entries
    bench/scale.py --sizes 100k --duration 5              one size, shorter
    bench/scale.py --binary target/release/echodiary      measure a given binary instead of building one
    bench/scale.py --sizes 100k --variants create,"tag rare"   some variants only
    bench/scale.py --sizes 2M --variants "q rare" --hold  then keep the database and service up

For each size, from scratch: a throwaway PostgreSQL (bench/run.py's, with a 2 GB buffer cache);
`echodiary migrate`; one user registered through the API, whose password hash every seeded user
shares; N entries copied in by bench/seed.py (deterministic for a given --seed); `echodiary serve`;
the driven users (16 heavy, 16 typical, the 50,000-entry ones) logged in. Every size stays up, and
then each variant of VARIANTS runs at every size in turn for --duration seconds at --connections
with wrk (bench/scenario.lua's replay scenario), after a --warmup that is not counted, --rounds
times. Results: bench/results/scale.json, and the table between the scale markers of
bench/README.md (bench/scale_report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from run import Bench
from scale_report import write_report
from seed import Seeder
from support import Client, log

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PASSWORD = "scale benchmark password"
DRIVEN = 16  # heavy and typical users the load generator acts as (all very heavy ones)
DEEP_ENTRIES = 2_000  # the deep page starts after this many entries: page 101 of 20
PAGE_LIMIT = 100  # page size used to walk to the deep cursor (the cursor is the same as with 20)
MOOD = "bad"  # about 12% of entries
CREATE_BODIES = 32  # different bodies per driven user for the create variant
# For every size. A buffer cache several times the 100k table, so that what changes with the size
# is the data, not a cache that the small table fits and the large one does not.
SETTINGS = {"max_connections": 64, "shared_buffers": "2GB", "maintenance_work_mem": "1GB", "max_wal_size": "4GB"}
# Only while seeding: a COPY into a table truncated in the same transaction then writes no WAL.
SEEDING = {"wal_level": "minimal", "max_wal_senders": 0}
# (name, whose diaries, method, path): {…} filled per request from the picked words and the user.
VARIANTS = (
    ("get", "typical", "GET", "/api/v1/entries/{id}"),
    ("first page", "heavy", "GET", "/api/v1/entries"),
    ("deep page", "heavy", "GET", "/api/v1/entries?cursor={cursor}"),
    ("tag common", "heavy", "GET", "/api/v1/entries?tag={common tag}"),
    ("tag rare", "heavy", "GET", "/api/v1/entries?tag={rare tag}"),
    ("mood", "heavy", "GET", "/api/v1/entries?mood={mood}"),
    ("from/to", "heavy", "GET", "/api/v1/entries?from={from}&to={to}"),
    ("q common", "heavy", "GET", "/api/v1/entries?q={common word}"),
    ("q rare", "heavy", "GET", "/api/v1/entries?q={rare word}"),
    ("q absent", "very heavy", "GET", "/api/v1/entries?q={absent word}"),
    ("tag common + mood", "heavy", "GET", "/api/v1/entries?tag={common tag}&mood={mood}"),
    ("q common + from/to", "heavy", "GET", "/api/v1/entries?q={common word}&from={from}&to={to}"),
    ("create", "heavy", "POST", "/api/v1/entries"),  # last: it adds entries to the heavy users
)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def median_run(runs: list[dict]) -> dict:
    """The run whose p99 is the median of the variant's rounds (the lower middle for an even
    count), with the median throughput and every round's errors added up: one busy stretch of a
    shared host then moves neither figure."""
    by_p99 = sorted(runs, key=lambda r: r["latency_us"]["p99"])
    middle = dict(by_p99[(len(runs) - 1) // 2])
    rps = sorted(r["rps"] for r in runs)
    middle["rps"] = rps[(len(rps) - 1) // 2] if len(rps) % 2 else (rps[len(rps) // 2 - 1] + rps[len(rps) // 2]) / 2
    middle["error_count"] = sum(r["error_count"] for r in runs)
    return middle


def parse_size(text: str) -> int:
    """100k, 2M, 10M, or a plain number."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    number = float(text[:-1] if scale > 1 else text) * scale
    if number < 20_000:
        raise argparse.ArgumentTypeError(f"{text}: at least 20k entries (one 5,000-entry user needs 20k)")
    return int(number)


class ScaleBench(Bench):
    """One size: run.py's PostgreSQL, service and wrk plumbing, with this benchmark's settings and data."""

    def __init__(self, args: argparse.Namespace, label: str, total: int) -> None:
        super().__init__(args)
        self.label, self.total = label, total
        self.binary = args.binary
        self.pg_settings = {**SETTINGS, **SEEDING}
        self.service_log = RESULTS / f"scale-service-{label}.log"  # the sizes' services run side by side

    def service_env(self) -> dict:
        # The tokens are taken once per size: they must outlive the longest measurement.
        return dict(super().service_env(), ECHODIARY__AUTH__ACCESS_TOKEN_TTL_SECS=str(6 * 3600))

    # ---- database access for bench/seed.py ------------------------------------------------------
    def psql_argv(self) -> list[str]:
        return [str(self.pg_bin / "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                "-d", "echodiary", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-f", "-"]

    def psql_script(self, script: str) -> str:
        result = subprocess.run(self.psql_argv(), input=script, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    @contextmanager
    def psql_stream(self):
        """A pipe into psql for a script too long to hold in memory (COPY data inline)."""
        output = self.work / "psql-stream.log"
        with open(output, "w") as out:
            proc = subprocess.Popen(self.psql_argv(), stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)
        self.children.append(proc)
        try:
            yield proc.stdin
            proc.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped reading: its output says why
        except BaseException:
            proc.kill()
            raise
        finally:
            returncode = proc.wait()
            self.children.remove(proc)
        if returncode != 0:
            raise SystemExit(f"psql failed ({returncode}): {output.read_text().strip()[-2000:]}")

    # ---- phases ---------------------------------------------------------------------------------
    def stop_service(self) -> None:
        os.killpg(self.service.pid, signal.SIGTERM)
        self.service.wait(timeout=30)
        self.service = None

    def template_hash(self) -> str:
        """Registers one user through the API: its Argon2 hash is every seeded user's."""
        status, body = Client(self.api_port).call(
            "POST", "/api/v1/auth/register", {"email": "scale-template@example.com", "password": PASSWORD})
        if status != 201:
            raise SystemExit(f"register -> {status}: {body}")
        return self.psql("SELECT password_hash FROM users WHERE email = 'scale-template@example.com'")

    def table_sizes(self) -> dict:
        indexes = self.psql("SELECT c.relname || ' ' || pg_relation_size(c.oid) FROM pg_index i"
                            " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'entries'::regclass"
                            " ORDER BY c.relname")
        total, table, tags = self.psql("SELECT pg_total_relation_size('entries') || ' ' || pg_table_size('entries')"
                                       " || ' ' || pg_total_relation_size('entry_tags')").split()
        index_bytes = {n: int(b) for n, b in (line.split() for line in indexes.splitlines())}
        # The tag filter's own table is part of what an entry costs.
        index_bytes["entry_tags (table and key)"] = int(tags)
        return {"total_bytes": int(total) + int(tags), "table_bytes": int(table), "index_bytes": index_bytes}

    def driven_users(self, seeder: Seeder) -> dict[str, list[dict]]:
        """Logs in a sample of each kind and finds what its requests need: its dates, its entry
        ids (typical), its cursor 2,000 entries deep (heavy; walked through the API)."""
        rng = random.Random(f"{self.args.seed}-driven")
        client = Client(self.api_port)
        driven = {}
        for kind in ("very heavy", "heavy", "typical"):
            pool = [u for u in seeder.users if u[2] == kind]
            driven[kind] = []
            for user_id, email, _, _ in pool if kind == "very heavy" else rng.sample(pool, min(DRIVEN, len(pool))):
                status, body = client.call("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
                if status != 200:
                    raise SystemExit(f"login {email} -> {status}: {body}")
                driven[kind].append({"id": user_id, "token": body["access_token"]})
        users = {u["id"]: u for group in driven.values() for u in group}
        ids = ",".join(f"'{u}'" for u in users)
        for line in self.psql(f"SELECT user_id, min(entry_date), max(entry_date) FROM entries"
                              f" WHERE user_id IN ({ids}) GROUP BY user_id").splitlines():
            user_id, first, last = line.split("|")
            first, last = date.fromisoformat(first), date.fromisoformat(last)
            middle = first + (last - first) / 2
            users[user_id].update({"from": (middle - timedelta(days=15)).isoformat(),
                                   "to": (middle + timedelta(days=14)).isoformat()})
        typical = ",".join(f"'{u['id']}'" for u in driven["typical"])
        for line in self.psql(f"SELECT user_id, id FROM entries WHERE user_id IN ({typical})").splitlines():
            user_id, entry_id = line.split("|")
            users[user_id].setdefault("entries", []).append(entry_id)
        for user in driven["heavy"]:
            cursor = None
            for _ in range(DEEP_ENTRIES // PAGE_LIMIT):
                path = f"/api/v1/entries?limit={PAGE_LIMIT}" + (f"&cursor={cursor}" if cursor else "")
                status, body = client.call("GET", path, token=user["token"])
                if status != 200 or len(body["items"]) != PAGE_LIMIT:
                    raise SystemExit(f"GET {path} -> {status}: not a full page")
                cursor = body["next_cursor"]
            user["cursor"] = cursor
        return driven

    def request_file(self, number: int, variant: tuple, driven: dict, picked: dict, seeder: Seeder) -> Path:
        """The variant's requests, one per line for the replay scenario: every driven user of the
        variant's kind, with each own entry (get) or each of CREATE_BODIES bodies (create)."""
        _, kind, method, template = variant
        rng = random.Random(f"{self.args.seed}-bodies")
        lines = []
        for user in driven[kind]:
            fields = {**{k: v["value"] for k, v in picked.items()}, **user, "mood": MOOD}
            if "{id}" in template:
                lines += [f"{method}\t{user['token']}\t{template.format(id=i)}\t\n" for i in user["entries"]]
            elif method == "POST":
                lines += [f"{method}\t{user['token']}\t{template}\t{seeder.create_body(rng)}\n"
                          for _ in range(CREATE_BODIES)]
            else:
                lines.append(f"{method}\t{user['token']}\t{template.format_map(fields)}\t\n")
        path = self.work / f"variant-{number}.txt"
        path.write_text("".join(lines))
        return path

    def measure(self, variant: tuple, round_number: int) -> None:
        name = variant[0]
        if self.args.warmup:
            self.wrk("replay", self.files[name], duration=self.args.warmup)
        result = self.wrk("replay", self.files[name])
        log(f"  {self.label} {name} (round {round_number + 1}): {result['rps']:,.0f} req/s, "
            f"p50 {result['latency_us']['p50'] / 1000:.2f} ms, p99 {result['latency_us']['p99'] / 1000:.2f} ms, "
            f"errors {result['error_count']}")
        self.runs[name].append(result)

    def prepare(self) -> None:
        """Seeds the size and leaves it ready to measure: PostgreSQL restarted with production's
        settings, the service up, the driven users logged in, every variant's requests written."""
        started = time.monotonic()
        phases = {}
        self.start_postgres()
        self.migrate()
        self.start_service()
        password_hash = self.template_hash()
        self.stop_service()
        phases["setup_s"] = time.monotonic() - started
        log(f"{self.label}: seeding {self.total:,} entries (seed {self.args.seed})")
        seeder = Seeder(self, self.args.seed, self.total)
        self.seeded = seeder.run(password_hash)
        phases["seed_s"] = self.seeded["timings"]["total_s"]
        log(f"seeded in {phases['seed_s']:.1f} s; picked " + ", ".join(
            f"{what} {p['value']!r} ({p.get('share', p['sample_share']) * 100:.2f}%)"
            for what, p in self.seeded["picked"].items()))
        self.table_bytes = self.table_sizes()
        log(f"entries: {self.table_bytes['total_bytes'] / self.total:,.0f} bytes per entry with its indexes")

        mark = time.monotonic()
        for name in SEEDING:  # measured as production runs: WAL for replicas and backups
            self.psql(f"ALTER SYSTEM RESET {name}")
        self.postgres("stop")
        self.postgres("start")
        self.start_service()
        self.driven = self.driven_users(seeder)
        phases["restart_login_s"] = time.monotonic() - mark
        log(f"{self.label}: driven users " + ", ".join(f"{len(v)} {k}" for k, v in self.driven.items()))
        chosen = [(number, v) for number, v in enumerate(VARIANTS) if v[0] in self.args.variants]
        self.files = {v[0]: self.request_file(number, v, self.driven, self.seeded["picked"], seeder)
                      for number, v in chosen}
        self.runs: dict[str, list[dict]] = {v[0]: [] for _, v in chosen}
        self.phases = phases
        self.server_version = self.psql("SHOW server_version")
        self.prepare_s = time.monotonic() - started

    def result(self) -> dict:
        variants = {}
        for name, kind, method, template in VARIANTS:
            if name in self.runs:
                variants[name] = dict(median_run(self.runs[name]), users=kind, request=f"{method} {template}",
                                      driven=len(self.driven[kind]), rounds=self.runs[name])
        return {"entries": self.total, "seed": self.seeded, "sizes": self.table_bytes, "phases_s": self.phases,
                "prepare_s": self.prepare_s, "variants": variants,
                "driven": {k: len(v) for k, v in self.driven.items()},
                "server_version": self.server_version}


def measure_interleaved(benches: list[ScaleBench], args: argparse.Namespace) -> dict:
    """Every round of every read variant at every size, the sizes one after another for each
    variant: a variant's figures at 100k, 2M and 10M are taken within a minute of each other, so a
    slow spell of the host (figures moved by a third between rounds of one size) lands on all
    sizes rather than on whichever was measured then. Then create's rounds, size by size, each
    size stopped after its own (unless held): the entries they add leave autovacuum and a
    checkpoint to do, which would otherwise run during the next size's creates."""
    mark, loadavg = time.monotonic(), [os.getloadavg()[0]]
    chosen = [v for v in VARIANTS if v[0] in args.variants]
    reads = [v for v in chosen if v[2] != "POST"]
    writes = [v for v in chosen if v[2] == "POST"]
    for round_number in range(args.rounds):
        for variant in reads:
            for bench in benches:
                bench.measure(variant, round_number)
    for bench in benches:
        for variant in writes:
            for round_number in range(args.rounds):
                bench.measure(variant, round_number)
        if writes and not args.hold:
            bench.stop()
    loadavg.append(os.getloadavg()[0])
    return {"measure_s": time.monotonic() - mark, "loadavg": loadavg}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k,2M,10M", help="entries per size, in order (default 100k,2M,10M)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per variant (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted seconds before each variant (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--pool", type=int, default=10, help="service pool size (default 10)")
    parser.add_argument("--seed", type=int, default=17, help="seed of the generated data (default 17)")
    parser.add_argument("--binary", type=Path, help="an echodiary binary to measure instead of building one")
    parser.add_argument("--rounds", type=int, default=3, help="runs per variant; the median counts (default 3)")
    parser.add_argument("--variants", help="comma-separated variant names to measure (default: all), for a quick comparison")
    parser.add_argument("--hold", action="store_true",
                        help="after measuring, keep every size's PostgreSQL and service up (to EXPLAIN a query on "
                             "the seeded data) until Ctrl-C or SIGTERM")
    parser.add_argument("--replace", action="store_true",
                        help="measure --sizes again and keep the other sizes of results/scale.json (each size "
                             "carries the time it was measured)")
    args = parser.parse_args()
    names = [name for name, *_ in VARIANTS]
    args.variants = [v.strip() for v in args.variants.split(",")] if args.variants else names
    if unknown := set(args.variants) - set(names):
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(names)}")
    sizes = [(label.strip(), parse_size(label.strip())) for label in args.sizes.split(",")]

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.binary:
        args.binary = args.binary.resolve()
    else:
        log("cargo build --release --bin echodiary")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "echodiary"], cwd=ROOT, check=True)
        args.binary = (ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "release" / "echodiary").resolve()

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    result = {"timestamp": utc_now(),
              "machine": {"cpus": os.cpu_count(), "memory_bytes": memory, "kernel": os.uname().release},
              "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
              | {"pg_settings": SETTINGS, "driven_per_kind": DRIVEN, "mood": MOOD, "deep_entries": DEEP_ENTRIES},
              "sizes": {}}
    if args.replace:  # the earlier sizes, in their order; the ones measured now take their place
        earlier = json.loads((RESULTS / "scale.json").read_text())
        result["sizes"] = {label: dict(size, measured_at=size.get("measured_at", earlier["timestamp"]))
                           for label, size in earlier["sizes"].items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    benches: list[ScaleBench] = []
    try:
        for label, total in sizes:  # each takes its ports when the ones before are in use
            benches.append(ScaleBench(args, label, total))
            benches[-1].prepare()
        started_at = utc_now()
        measured = measure_interleaved(benches, args)
        for bench in benches:
            result["sizes"][bench.label] = bench.result() | measured | {"measured_at": started_at}
        if args.hold:
            log("holding: " + "; ".join(f"{b.label} psql -h 127.0.0.1 -p {b.pg_port} -U postgres echodiary, "
                                        f"service http://127.0.0.1:{b.api_port}" for b in benches)
                + "; Ctrl-C or SIGTERM to end")
            try:
                signal.pause()
            except KeyboardInterrupt:
                log("released")
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        for bench in benches:
            bench.stop()
    if len(args.variants) < len(VARIANTS):  # a comparison, not a result: the report stays
        out, table = RESULTS / "scale-variants.json", None
    else:
        out = RESULTS / "scale.json"
        table = write_report(result, BENCH / "README.md")
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"measured in {measured['measure_s'] / 60:.1f} min; wrote {out}")
    if table:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
