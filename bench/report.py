"""The benchmark's report: each target of issue 6 met or not, the markdown table, and where it goes
(bench/results/latest.md, and between the bench markers of README.md and bench/README.md)."""

from __future__ import annotations

from pathlib import Path

MIB = 1024 * 1024


def targets(result: dict) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for every target of issue 6 item 2, and issue 17 item 4's ratio."""
    get, mix = result["scenarios"]["get"], result["scenarios"]["mix"]
    fraction = result["get_fraction_of_ceiling"]
    return [
        ("get-by-id >= 25% of the pgbench ceiling", f"{fraction * 100:.1f}%", fraction >= 0.25),
        ("get-by-id >= 35% of the pgbench ceiling (issue 17)", f"{fraction * 100:.1f}%", fraction >= 0.35),
        ("get-by-id p99 <= 30 ms", f"{get['latency_us']['p99'] / 1000:.2f} ms", get["latency_us"]["p99"] <= 30_000),
        ("get-by-id service CPU <= 80 us/request", f"{get['cpu_us_per_request']:.1f} us",
         get["cpu_us_per_request"] <= 80),
        ("mix p99 <= 30 ms", f"{mix['latency_us']['p99'] / 1000:.2f} ms", mix["latency_us"]["p99"] <= 30_000),
        ("mix zero errors", str(mix["error_count"]), mix["error_count"] == 0),
        ("idle RSS <= 15 MiB", f"{result['idle_rss_bytes'] / MIB:.1f} MiB", result["idle_rss_bytes"] <= 15 * MIB),
        ("peak RSS <= 64 MiB", f"{result['peak_rss_bytes'] / MIB:.1f} MiB", result["peak_rss_bytes"] <= 64 * MIB),
        ("ready <= 100 ms after start", f"{result['ready_ms']:.1f} ms", result["ready_ms"] <= 100),
    ]


def markdown(result: dict) -> str:
    c = result["config"]
    lines = [
        f"Run {result['timestamp']}: {result['machine']['cpus']} CPUs, {c['duration_s']} s per scenario, "
        f"{c['connections']} connections, {c['wrk_threads']} wrk threads, pool {c['pool']}, "
        f"{c['users']} users x {c['entries_per_user']} entries, RUST_LOG={c['rust_log']}.",
        "",
        "| scenario | req/s | p50 ms | p90 ms | p99 ms | errors | service CPU us/req | CPU s: service / PostgreSQL / wrk |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in result["scenarios"].items():
        lat = s["latency_us"]
        lines.append(f"| {name} | {s['rps']:,.0f} | {lat['p50'] / 1000:.2f} | {lat['p90'] / 1000:.2f} | "
                     f"{lat['p99'] / 1000:.2f} | {s['error_count']} | {s['cpu_us_per_request']:.1f} | "
                     f"{s['service_cpu_s']:.1f} / {s['postgres_cpu_s']:.1f} / {s['wrk_cpu_s']:.1f} |")
    p = result["pgbench"]
    runs = ", ".join(f"{tps:,.0f}" for tps in p.get("runs_tps", [p["tps"]]))
    lines.append(f"| pgbench get-by-id SELECT (ceiling, -c {p['clients']}; median of {runs}) | "
                 f"{p['tps']:,.0f} | | | | {p['failed']} | | |")
    # Results from before the ceiling was measured in pairs have none: their ratio is one get run's.
    pairs = ", ".join(f"{pair['get_rps']:,.0f} / {pair['tps']:,.0f} = {pair['ratio'] * 100:.1f}%"
                      for pair in result.get("ceiling_pairs", [])) or "none"
    lines += [
        "",
        "| measure | value |",
        "|---|---:|",
        f"| ready (spawn to first 200 of /health/ready) | {result['ready_ms']:.1f} ms |",
        f"| idle RSS (2 s after ready) | {result['idle_rss_bytes'] / MIB:.1f} MiB |",
        f"| peak RSS (whole run) | {result['peak_rss_bytes'] / MIB:.1f} MiB |",
        f"| RSS / peak after seeding | {result['memory_phases_bytes']['after_seed_rss'] / MIB:.1f} / "
        f"{result['memory_phases_bytes']['after_seed_hwm'] / MIB:.1f} MiB |",
        "| RSS / peak after each scenario | " + ", ".join(
            f"{n} {s['rss_after_bytes'] / MIB:.0f}/{s['hwm_after_bytes'] / MIB:.0f}"
            for n, s in result["scenarios"].items()) + " MiB |",
        f"| get-by-id CPU per request | {result['scenarios']['get']['cpu_us_per_request']:.1f} us |",
        f"| get-by-id / pgbench ceiling (median of pairs {pairs}) | "
        f"{result['get_fraction_of_ceiling'] * 100:.1f}% |",
        "",
        "| target (issues 6 and 17) | measured | |",
        "|---|---:|---|",
    ]
    for target, measured, met in targets(result):
        lines.append(f"| {target} | {measured} | {'met' if met else '**not met**'} |")
    return "\n".join(lines) + "\n"


def show_latest(document: Path, table: str, marker: str = "bench") -> None:
    """Puts the table between the `<!-- bench:start -->` and `<!-- bench:end -->` markers (another
    `marker` for another table: bench/scale.py's is `scale`)."""
    text = document.read_text()
    start, end = f"<!-- {marker}:start -->\n", f"<!-- {marker}:end -->"
    before, found, rest = text.partition(start)
    if not found or end not in rest:
        print(f"[bench] {document}: no {marker} markers; not updated", flush=True)
        return
    document.write_text(before + start + table + end + rest.split(end, 1)[1])
    print(f"[bench] updated the table in {document}", flush=True)
