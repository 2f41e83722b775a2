#!/usr/bin/env python3
"""EchoDiary benchmark: one command, everything on 127.0.0.1, everything stops by itself.

    bench/run.py                         build, start, seed, measure, write bench/results/latest.{json,md}
    bench/run.py --duration 5 --connections 32   shorter / lighter run

Steps: `cargo build --release`; a throwaway PostgreSQL (scripts/dev-postgres.sh in a temp dir,
max_connections=64); `echodiary migrate`; `echodiary serve` with MIGRATE_ON_START=false, timing the
first 200 from /health/ready on the ops port (polled every 2 ms); idle RSS after 2 s; 50 users x 200
entries seeded through the public API; wrk scenarios (bench/scenario.lua) at fixed duration and
concurrency; pgbench with the get-by-id SELECT at the pool's connection count as the ceiling, each
run right after a get run of its own (the ratio is the median of those pairs').
See bench/README.md for what each number means and the targets of issue 6.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from report import markdown, show_latest, targets
from support import Client, cpu_seconds, find_pg_bin, free_port, log, postgres_cpu_seconds, proc_status

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LUA = BENCH / "scenario.lua"
BINARY = ROOT / "target" / "release" / "echodiary"
PG_MAX_CONNECTIONS = 64
CEILING_RUNS = 3
SCENARIOS = (  # (name, wrk scenario argument, description)
    ("ready", "ready", "GET /health/ready"),
    ("get", "get", "GET /api/v1/entries/{id} (random own entry)"),
    ("list", "list", "GET /api/v1/entries (first page)"),
    ("create", "create", "POST /api/v1/entries"),
    ("mix", "mix", "80% get / 15% list / 5% create"),
)
# The SELECT the get-by-id route runs (src/entries/db.rs), with its two parameters looked up by a
# random row number in a helper table filled from the seeded data (one statement, one round trip).
PGBENCH_SCRIPT = """\\set r random(1, {rows})
SELECT e.id, e.title, e.content, e.mood, e.tags, e.entry_date, e.created_at, e.updated_at, e.version
  FROM entries e JOIN bench_ids b ON e.id = b.id AND e.user_id = b.user_id
 WHERE b.n = :r;
"""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="echodiary-bench-"))
        self.work.chmod(0o755)  # PostgreSQL runs as the postgres user when this runs as root
        self.pg_port = free_port()
        self.api_port = free_port()
        self.jwt_secret = secrets.token_urlsafe(48)  # per run, never written anywhere
        self.ops_port = free_port()
        self.pg_env = dict(os.environ, DEV_PG_DIR=str(self.work / "postgres"), PGPORT=str(self.pg_port))
        self.pg_bin = find_pg_bin()
        self.database_url = ""
        self.service: subprocess.Popen | None = None
        self.children: list[subprocess.Popen] = []
        self.peak_rss_polled = 0
        self.sampling = threading.Event()
        self.service_log = RESULTS / "service.log"
        # What a subclass (bench/scale.py) changes: the binary, the server settings set by ALTER SYSTEM.
        self.binary = BINARY
        self.pg_settings: dict[str, object] = {"max_connections": PG_MAX_CONNECTIONS}

    # ---- processes -------------------------------------------------------------------------
    def postgres(self, action: str) -> str:
        result = subprocess.run(["bash", str(ROOT / "scripts" / "dev-postgres.sh"), action],
                                env=self.pg_env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"PostgreSQL {action} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def psql(self, sql: str) -> str:
        result = subprocess.run(
            [str(self.pg_bin / "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
             "-d", "echodiary", "-v", "ON_ERROR_STOP=1", "-tAc", sql],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def service_env(self) -> dict:
        return dict(
            os.environ,
            DATABASE_URL=self.database_url,
            # As in production: JSON log lines, which needs a real (long, random) token secret.
            ECHODIARY__ENVIRONMENT="production",
            ECHODIARY__AUTH__JWT_SECRET=self.jwt_secret,
            ECHODIARY__SERVER__ADDR=f"127.0.0.1:{self.api_port}",
            ECHODIARY__SERVER__OPS_ADDR=f"127.0.0.1:{self.ops_port}",
            ECHODIARY__SERVER__SHUTDOWN_GRACE_MS="0",
            ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS="5000",
            ECHODIARY__DATABASE__MIGRATE_ON_START="false",
            ECHODIARY__DATABASE__MAX_CONNECTIONS=str(self.args.pool),
            # Seeding registers every user from 127.0.0.1, past the per-address default.
            ECHODIARY__AUTH__REGISTER_MAX_PER_ADDRESS="100000",
            RUST_LOG=os.environ.get("RUST_LOG", "info"),
        )

    def start_postgres(self) -> None:
        log(f"scratch directory {self.work}; PostgreSQL on 127.0.0.1:{self.pg_port}")
        self.database_url = self.postgres("start").split("=", 1)[1]
        for name, value in self.pg_settings.items():
            self.psql(f"ALTER SYSTEM SET {name} = '{value}'")
        self.postgres("stop")
        self.postgres("start")
        log(f"max_connections = {self.psql('SHOW max_connections')}")

    def migrate(self) -> None:
        result = subprocess.run([str(self.binary), "migrate"], env=self.service_env(), capture_output=True,
                                text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise SystemExit(f"echodiary migrate failed:\n{result.stdout}{result.stderr}")

    def start_service(self) -> float:
        """Spawns `echodiary serve`; returns ms from spawn to the first 200 of /health/ready."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        log_file = open(self.service_log, "wb")  # noqa: SIM115 (closed when this process exits)
        started = time.perf_counter()
        self.service = subprocess.Popen([str(self.binary), "serve"], stdout=log_file, stderr=subprocess.STDOUT,
                                        env=self.service_env(), cwd=self.work, start_new_session=True)
        deadline = started + 30
        request = b"GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        while time.perf_counter() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.ops_port), timeout=1) as sock:
                    sock.sendall(request)
                    head = sock.recv(64)
                    if head.startswith(b"HTTP/1.1 200"):
                        return (time.perf_counter() - started) * 1000
            except OSError:
                pass
            if self.service.poll() is not None:
                raise SystemExit(f"echodiary serve exited with {self.service.returncode}; see {self.service_log}")
            time.sleep(0.002)
        raise SystemExit("echodiary serve did not become ready within 30 s")

    def sample_rss(self) -> None:
        pid = self.service.pid
        while not self.sampling.is_set():
            try:
                self.peak_rss_polled = max(self.peak_rss_polled, proc_status(pid, "VmRSS"))
            except (OSError, KeyError):
                return
            self.sampling.wait(0.05)

    def stop(self) -> None:
        self.sampling.set()
        for proc in [*self.children, self.service]:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in [*self.children, self.service]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if (self.work / "postgres" / "data" / "postmaster.pid").exists():
            try:
                self.postgres("stop")
            except SystemExit as error:  # already stopping (Ctrl-C reaches it too)
                log(str(error))
        shutil.rmtree(self.work, ignore_errors=True)

    # ---- seeding ---------------------------------------------------------------------------
    def seed(self, users: int, per_user: int) -> list[tuple[str, list[str]]]:
        local = threading.local()

        def client() -> Client:
            if not hasattr(local, "client"):
                local.client = Client(self.api_port)
            return local.client

        def make_user(n: int) -> str:
            email = f"bench-{n}-{os.getpid()}@example.com"
            password = f"bench password {n}"
            status, body = client().call("POST", "/api/v1/auth/register", {"email": email, "password": password})
            if status != 201:
                raise SystemExit(f"register -> {status}: {body}")
            status, body = client().call("POST", "/api/v1/auth/login", {"email": email, "password": password})
            if status != 200:
                raise SystemExit(f"login -> {status}: {body}")
            return body["access_token"]

        def make_entry(job: tuple[str, int]) -> str:
            token, n = job
            status, body = client().call("POST", "/api/v1/entries", {
                "title": f"seed {n}", "content": f"Seeded diary entry {n}: a quiet day, some reading, a walk.",
                "mood": ("great", "good", "okay", "bad", "awful")[n % 5], "tags": ["seed", f"t{n % 7}"],
                "entry_date": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
            }, token)
            if status != 201:
                raise SystemExit(f"create -> {status}: {body}")
            return body["id"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            tokens = list(pool.map(make_user, range(users)))
            jobs = [(token, n) for token in tokens for n in range(per_user)]
            ids = list(pool.map(make_entry, jobs))
        return [(token, ids[i * per_user:(i + 1) * per_user]) for i, token in enumerate(tokens)]

    # ---- load ------------------------------------------------------------------------------
    def wrk(self, scenario: str, data_file: Path, duration: int | None = None) -> dict:
        duration = duration or self.args.duration
        pid = self.service.pid
        cpu_before = cpu_seconds(pid)
        pg_before = postgres_cpu_seconds(self.work / "postgres" / "data")
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        argv = ["wrk", "-t", str(self.args.threads), "-c", str(self.args.connections),
                "-d", f"{duration}s", "--timeout", "10s", "--latency", "-s", str(LUA),
                f"http://127.0.0.1:{self.api_port}", "--", scenario, str(data_file)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=BENCH,
                                start_new_session=True)
        self.children.append(proc)
        output, _ = proc.communicate(timeout=duration + 60)
        self.children.remove(proc)
        cpu_after = cpu_seconds(pid)
        pg_after = postgres_cpu_seconds(self.work / "postgres" / "data")
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu = (children_after.ru_utime + children_after.ru_stime
                   - children_before.ru_utime - children_before.ru_stime)
        match = re.search(r"^BENCH_JSON (\{.*\})$", output, re.M)
        if proc.returncode != 0 or not match:
            raise SystemExit(f"wrk {scenario} failed ({proc.returncode}):\n{output}")
        result = json.loads(match.group(1))
        errors = sum(result["errors"].values())
        seconds = result["duration_us"] / 1e6
        result.update(
            rps=result["requests"] / seconds,
            error_count=errors,
            service_cpu_s=cpu_after - cpu_before,
            cpu_us_per_request=(cpu_after - cpu_before) * 1e6 / max(result["requests"], 1),
            postgres_cpu_s=pg_after - pg_before,
            wrk_cpu_s=wrk_cpu,
        )
        return result

    def pgbench(self, rows: int) -> dict:
        script = self.work / "get-by-id.sql"
        script.write_text(PGBENCH_SCRIPT.format(rows=rows))
        argv = [str(self.pg_bin / "pgbench"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                "-n", "-M", "prepared", "-c", str(self.args.pool), "-j", "2", "-T", str(self.args.duration),
                "-f", str(script), "echodiary"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self.children.append(proc)
        output, _ = proc.communicate(timeout=self.args.duration + 60)
        self.children.remove(proc)
        match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
        failed = re.search(r"number of failed transactions: (\d+)", output)
        latency = re.search(r"latency average = ([\d.]+) ms", output)
        if proc.returncode != 0 or not match:
            raise SystemExit(f"pgbench failed ({proc.returncode}):\n{output}")
        return {"tps": float(match.group(1)), "failed": int(failed.group(1)) if failed else 0,
                "latency_avg_ms": float(latency.group(1)) if latency else None,
                "clients": self.args.pool, "threads": 2}

    def run(self) -> dict:
        self.start_postgres()
        self.migrate()
        log("migrated; starting the service")
        ready_ms = self.start_service()
        log(f"ready after {ready_ms:.1f} ms; idling 2 s")
        time.sleep(2)
        idle_rss = proc_status(self.service.pid, "VmRSS")
        threading.Thread(target=self.sample_rss, daemon=True).start()

        log(f"seeding {self.args.users} users x {self.args.entries} entries through the API")
        started = time.monotonic()
        users = self.seed(self.args.users, self.args.entries)
        log(f"seeded in {time.monotonic() - started:.1f} s")
        memory = {"idle_rss": idle_rss, "after_seed_rss": proc_status(self.service.pid, "VmRSS"),
                  "after_seed_hwm": proc_status(self.service.pid, "VmHWM")}
        data_file = self.work / "users.txt"
        data_file.write_text("".join(f"{token} {' '.join(ids)}\n" for token, ids in users))
        self.psql("CREATE TABLE bench_ids AS SELECT row_number() OVER (ORDER BY id) AS n, id, user_id FROM entries;"
                  " ALTER TABLE bench_ids ADD PRIMARY KEY (n); ANALYZE bench_ids; ANALYZE entries")
        rows = int(self.psql("SELECT count(*) FROM bench_ids"))

        scenarios = {}
        for name, arg, what in SCENARIOS:
            log(f"wrk {name}: {what}, {self.args.duration} s, {self.args.connections} connections")
            scenarios[name] = dict(self.wrk(arg, data_file), description=what,
                                   rss_after_bytes=proc_status(self.service.pid, "VmRSS"),
                                   hwm_after_bytes=proc_status(self.service.pid, "VmHWM"))
            s = scenarios[name]
            log(f"  {s['rps']:.0f} req/s, p99 {s['latency_us']['p99'] / 1000:.2f} ms, errors {s['error_count']}")
            time.sleep(1)
        # The headline ratio: get-by-id req/s over the pgbench ceiling. The host moves both (the
        # ceiling alone measured 31k-82k tps on different days of this 2-core machine), so each
        # ceiling run comes straight after a get run of its own and the ratio is the median of
        # the pairs': a busy stretch of the host slows both halves of one pair, not one side only.
        pairs = []
        for attempt in range(1, CEILING_RUNS + 1):
            log(f"pair {attempt}/{CEILING_RUNS}: wrk get, then pgbench get-by-id SELECT -c {self.args.pool} "
                f"-j 2 -T {self.args.duration} -M prepared")
            get_rps = self.wrk("get", data_file)["rps"]
            ceiling_run = self.pgbench(rows)
            pairs.append(dict(ceiling_run, get_rps=get_rps, ratio=get_rps / ceiling_run["tps"]))
            log(f"  {get_rps:.0f} req/s, {ceiling_run['tps']:.0f} tps: {pairs[-1]['ratio'] * 100:.1f}%")
        by_ratio = sorted(pairs, key=lambda pair: pair["ratio"])
        ceiling = dict(sorted(pairs, key=lambda pair: pair["tps"])[len(pairs) // 2],
                       runs_tps=[pair["tps"] for pair in pairs], failed=sum(pair["failed"] for pair in pairs))

        peak_rss = max(proc_status(self.service.pid, "VmHWM"), self.peak_rss_polled)
        log_lines = sum(1 for _ in self.service_log.open("rb"))
        return {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
            "config": {"duration_s": self.args.duration, "connections": self.args.connections,
                       "wrk_threads": self.args.threads, "pool": self.args.pool, "users": self.args.users,
                       "entries_per_user": self.args.entries, "pg_max_connections": PG_MAX_CONNECTIONS,
                       "rust_log": os.environ.get("RUST_LOG", "info"),
                       "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}},
            "ready_ms": ready_ms,
            "idle_rss_bytes": idle_rss,
            "peak_rss_bytes": peak_rss,
            "memory_phases_bytes": memory,
            "service_log_lines": log_lines,
            "scenarios": scenarios,
            "pgbench": ceiling,
            "ceiling_pairs": [{"get_rps": pair["get_rps"], "tps": pair["tps"], "ratio": pair["ratio"]}
                              for pair in pairs],
            "get_fraction_of_ceiling": by_ratio[len(by_ratio) // 2]["ratio"],
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario (default 15)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--pool", type=int, default=10, help="service pool size = pgbench clients (default 10)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--entries", type=int, default=200, help="entries per user (default 200)")
    parser.add_argument("--binary", type=Path, help="an echodiary binary to measure instead of building one")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    global BINARY  # noqa: PLW0603 (one binary per run)
    if args.binary:
        BINARY = args.binary.resolve()
    else:
        log("cargo build --release --bin echodiary")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "echodiary"], cwd=ROOT, check=True)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    bench = Bench(args)
    try:
        result = bench.run()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        bench.stop()
    result["targets"] = [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(result)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (RESULTS / "latest.md").write_text(table)
    for document in (ROOT / "README.md", BENCH / "README.md"):
        show_latest(document, table)
    print(table)
    log(f"wrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'}; service log {bench.service_log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
