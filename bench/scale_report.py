"""The data-scale benchmark's report (issue 17): every variant at every size side by side, what each
size held and cost, and each target met or not, comparing the sizes of one run (the figures of two
runs on a shared machine are not comparable); written between the scale markers of bench/README.md."""

from __future__ import annotations

from pathlib import Path

from report import show_latest

BASELINE = 100_000  # the size every other one is compared with
MIB = 1024 * 1024
PICKED = ("common word", "rare word", "absent word", "common tag", "rare tag")


def p99(variant: dict) -> float:
    return variant["latency_us"]["p99"] / 1000


def targets(result: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met or None when this run cannot tell) for each size of the run."""
    sizes = result["sizes"]
    base = next((s["variants"] for s in sizes.values() if s["entries"] == BASELINE), None)
    rows = []
    for label, size in sizes.items():
        v = size["variants"]
        if size["entries"] > BASELINE:
            if base:
                ratios = {name: p99(r) / p99(base[name]) for name, r in v.items() if name in base}
                worst = max(ratios, key=ratios.get)
                rows.append((f"{label}: every variant's p99 <= 1.5x its p99 at 100k",
                             f"worst: {worst}, {ratios[worst]:.2f}x", ratios[worst] <= 1.5))
                rows.append((f"{label}: create p99 <= 1.2x its p99 at 100k",
                             f"{ratios['create']:.2f}x ({p99(v['create']):.2f} ms)", ratios["create"] <= 1.2))
            else:
                for what in ("every variant's p99 <= 1.5x", "create p99 <= 1.2x"):
                    rows.append((f"{label}: {what} its p99 at 100k", "no 100k size in this run", None))
            slowest = min(v, key=lambda name: v[name]["rps"])
            rows.append((f"{label}: every variant >= 3,000 req/s", f"slowest: {slowest}, {v[slowest]['rps']:,.0f}",
                         v[slowest]["rps"] >= 3_000))
        deep = p99(v["deep page"]) / p99(v["first page"])
        rows.append((f"{label}: page 2,000 entries deep p99 <= 1.5x the first page's",
                     f"{deep:.2f}x ({p99(v['deep page']):.2f} / {p99(v['first page']):.2f} ms)", deep <= 1.5))
        rows.append((f"{label}: 50,000-entry user, absent word: p99 <= 50 ms",
                     f"{p99(v['q absent']):.2f} ms", p99(v["q absent"]) <= 50))
        errors = sum(r["error_count"] for r in v.values())
        rows.append((f"{label}: no errors (non-2xx, socket) in any variant", str(errors), errors == 0))
    return rows


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def measured_apart(sizes: dict) -> str:
    """When the sizes were measured in separate runs (`scale.py --replace`), when each run's
    measuring began."""
    times = {label: size["measured_at"] for label, size in sizes.items() if "measured_at" in size}
    if len(set(times.values())) < 2:
        return ""
    return " Sizes measured at: " + ", ".join(f"{label} {at}" for label, at in times.items()) + "."


def markdown(result: dict) -> str:
    c, sizes = result["config"], result["sizes"]
    labels = list(sizes)
    first = next(iter(sizes.values()))
    lines = [
        f"Run {result['timestamp']}: {result['machine']['cpus']} CPUs, "
        f"{result['machine']['memory_bytes'] / 1024 ** 3:.0f} GiB, PostgreSQL {first['server_version']} "
        f"(shared_buffers {c['pg_settings']['shared_buffers']}); {c['duration']} s per variant after "
        f"{c['warmup']} s of warm-up, {c['connections']} connections, {c['threads']} wrk threads, pool {c['pool']}, "
        f"seed {c['seed']}; each request as a random driven user of the variant's kind."
        + measured_apart(sizes),
        "",
        "| variant | users | " + " | ".join(f"{s} req/s | p50 ms | p99 ms | errors" for s in labels) + " |",
        "|---|---|" + "---:|---:|---:|---:|" * len(labels),
    ]
    for name, variant in first["variants"].items():
        cells = []
        for size in sizes.values():
            r = size["variants"].get(name)
            cells.append(f"{r['rps']:,.0f} | {r['latency_us']['p50'] / 1000:.2f} | {p99(r):.2f} | {r['error_count']}"
                         if r else " | | | ")
        lines.append(f"| {name} | {variant['users']} | " + " | ".join(cells) + " |")

    def row(measure: str, cell) -> str:
        return f"| {measure} | " + " | ".join(cell(s) for s in sizes.values()) + " |"

    def per_entry(s: dict, size_bytes: int) -> str:
        return f"{size_bytes / s['entries']:,.0f}"

    indexes = sorted({name for s in sizes.values() for name in s["sizes"]["index_bytes"]})
    lines += [
        "",
        "| | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
        row("users with 50,000 / 5,000 / 50 entries",
            lambda s: " / ".join(f"{g['users']:,}" for g in s["seed"]["groups"][:3])),
        row("driven users: 50,000 / 5,000 / 50 entries",
            lambda s: " / ".join(str(s["driven"][k]) for k in ("very heavy", "heavy", "typical"))),
        row("seeding: all (COPY / indexes / VACUUM ANALYZE)", lambda s: (
            f"{duration(s['seed']['timings']['total_s'])} ({duration(s['seed']['timings']['copy_s'])} / "
            f"{duration(sum(s['seed']['timings']['indexes_s'].values()))} / "
            f"{duration(s['seed']['timings']['vacuum_analyze_s'])})")),
        row("preparing: PostgreSQL start, seeding, restart, logins",
            lambda s: duration(s["prepare_s"]) if "prepare_s" in s else "n/a"),
        row("measuring: every size's variants in turn", lambda s: duration(s["measure_s"]) if "measure_s" in s
            else f"{duration(s['wall_s'])} with preparing"),
        row("load average (1 min) before / after measuring, this benchmark's processes included",
            lambda s: " / ".join(f"{x:.1f}" for x in s["loadavg"])),
        row("entries with its indexes and entry_tags", lambda s: f"{s['sizes']['total_bytes'] / MIB:,.0f} MiB"),
        row("bytes per entry: all", lambda s: per_entry(s, s["sizes"]["total_bytes"])),
        row("bytes per entry: table (heap, TOAST)", lambda s: per_entry(s, s["sizes"]["table_bytes"])),
    ]
    for index in indexes:
        lines.append(row(f"bytes per entry: {index}",
                         lambda s, i=index: per_entry(s, s["sizes"]["index_bytes"].get(i, 0))))
    for what in PICKED:
        lines.append(row(f"{what}: share of entries", lambda s, w=what: (
            f"{s['seed']['picked'][w]['value']} "
            f"{s['seed']['picked'][w].get('share', s['seed']['picked'][w]['sample_share']) * 100:.2f}%")))
    lines += ["", "| target (issue 17) | measured | |", "|---|---:|---|"]
    for target, measured, met in targets(result):
        verdict = "n/a" if met is None else "met" if met else "**not met**"
        lines.append(f"| {target} | {measured} | {verdict} |")
    return "\n".join(lines) + "\n"


def write_report(result: dict, readme: Path) -> str:
    table = markdown(result)
    show_latest(readme, table, marker="scale")
    return table
