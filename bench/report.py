"""Turns the runner's raw figures into results/latest.md (tables, settings, targets) and latest.png."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TITLES = {
    "single": "Single enqueue (jobs/s, higher is better)",
    "bulk": "Bulk enqueue (jobs/s, higher is better)",
    "drain-noop": "Drain, no-op body, one worker process (jobs/s, higher is better)",
    "drain-rtt": "Drain, body of one Redis round trip (INCR), one worker process (jobs/s, higher is better)",
}

#: Why a library does (or does not) bring back the job of a worker killed mid-job, with its defaults.
CRASH_NOTES = {
    "tasks": "the lease (30 s from when the job was held) expires; an idle worker wakes at that moment and requeues it",
    "rq": "the job stays in StartedJobRegistry; cleanup moves it to the FailedJobRegistry (AbandonedJobError), "
    "no retry by default",
    "arq": "the in-progress key expires after job_timeout (300 s); the job is then picked up again",
    "dramatiq": "unacked messages of a worker whose heartbeat is older than 60 s are requeued by maintenance, "
    "which runs on 1 call in 1,000",
    "celery": "acks on receipt by default (task_acks_late=False): the message was acknowledged, the job is lost",
    "huey": "BRPOP removed the message from Redis: the job is lost",
}


def _median(values: Sequence[float | None]) -> float | None:
    good = [v for v in values if v is not None]
    return statistics.median(good) if good else None


def _num(value: float | None, digits: int = 0) -> str:
    return "failed" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}"


def figures(raw: dict[str, Any], libraries: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """Median figure per workload and library; latency as ``latency-p50`` / ``latency-p99`` in ms."""
    out: dict[str, dict[str, float | None]] = {}
    for workload in TITLES:
        out[workload] = {lib: _median(raw.get(workload, {}).get(lib, [])) for lib in libraries}
    for pct in ("p50", "p99"):
        out[f"latency-{pct}"] = {
            lib: _median([r and r[pct] for r in raw.get("latency", {}).get(lib, [])]) for lib in libraries
        }
    return out


def markdown(raw: dict[str, Any], meta: dict[str, Any], libraries: Sequence[str]) -> str:
    fig = figures(raw, libraries)
    lines = [
        "# tasks against its Python peers",
        "",
        f"Run {meta['date']}: {meta['cores']} cores shared with other work, Python {meta['python']}, "
        f"redis-server {meta['redis']} of the run's own (no persistence), redis-py {meta['versions'].get('redis')}; "
        f"{meta['rounds']} round(s), libraries interleaved in each (order reversed every other round); figures "
        f"are medians of the rounds, ratios compare figures of this run. The whole run took "
        f"{meta['seconds'] / 60:.1f} min. Reproduce with `make bench`.",
        "",
    ]
    for workload, title in TITLES.items():
        lines += [
            f"## {title}",
            "",
            "| library | jobs per round | median | each round | ratio to tasks |",
            "|---|---:|---:|---|---:|",
        ]
        base = fig[workload].get("tasks")
        for lib in libraries:
            rounds = " / ".join(_num(v) for v in raw.get(workload, {}).get(lib, []))
            size = raw.get("sizes", {}).get(workload, {}).get(lib, "")
            lines.append(
                f"| {lib} | {size:,} | {_num(fig[workload][lib])} | {rounds} | {_ratio(fig[workload][lib], base)} |"
            )
        mode = {"single": "rtt", "bulk": "pipelined"}.get(workload)
        if mode and raw.get(f"raw-{mode}"):
            ceiling = _median(raw[f"raw-{mode}"])
            label = "one round trip at a time" if mode == "rtt" else "pipelined, 1,000 per round trip"
            rounds = " / ".join(_num(v) for v in raw[f"raw-{mode}"])
            lines.append(
                f"| *redis-py LPUSH, {label}* | 20,000 | {_num(ceiling)} | {rounds} | {_ratio(ceiling, base)} |"
            )
            share = raw_share(raw, workload)
            if share is not None:
                lines += [
                    "",
                    f"tasks reaches **{100 * share:.0f} %** of the raw redis-py rate (median of the "
                    "per-round ratios; raw redis-py runs right before tasks in each round).",
                ]
        lines.append("")
    lines += _latency(raw, fig, libraries)
    lines += _crash(raw, libraries)
    lines += _rss(raw)
    lines += ["## Settings", "", "| library | version | settings |", "|---|---|---|"]
    for lib in libraries:
        lines.append(f"| {lib} | {meta['versions'].get(lib, '?')} | {meta['settings'].get(lib, '')} |")
    lines += [
        "",
        "Every worker logs at WARNING (per-job INFO lines would measure the logger). Job bodies are "
        "the same everywhere: `noop` does nothing (the first and last jobs record a time), `rtt` does one "
        "`INCR`, the latency job pushes `now - t0` with `t0` read just before the dispatch call.",
        "",
    ]
    lines += targets(raw, fig, libraries)
    return "\n".join(lines) + "\n"


def _latency(raw: dict[str, Any], fig: dict[str, dict[str, float | None]], libraries: Sequence[str]) -> list[str]:
    count = (raw.get("sizes") or {}).get("latency", 200)
    lines = [
        f"## Latency, idle worker: {count} jobs 20 ms apart, enqueue to start (ms, lower is better)",
        "",
        "| library | p50 | p99 | each round (p50/p99) | p50 ratio to tasks | p99 ratio to tasks |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for lib in libraries:
        rounds = " · ".join(
            "failed" if r is None else f"{r['p50']:.2f}/{r['p99']:.2f}" for r in raw.get("latency", {}).get(lib, [])
        )
        p50, p99 = fig["latency-p50"][lib], fig["latency-p99"][lib]
        ours50, ours99 = fig["latency-p50"].get("tasks"), fig["latency-p99"].get("tasks")
        lines.append(
            f"| {lib} | {_num(p50, 2)} | {_num(p99, 2)} | {rounds} | {_ratio(p50, ours50)} | {_ratio(p99, ours99)} |"
        )
    return [*lines, ""]


def _crash(raw: dict[str, Any], libraries: Sequence[str]) -> list[str]:
    crash = raw.get("crash")
    if not crash:
        return []
    lines = [
        "## Crash to redelivery: SIGKILL mid-job, a fresh worker started at once (each library's defaults)",
        "",
        "| library | seconds from kill to the job's next start | why |",
        "|---|---:|---|",
    ]
    for lib in libraries:
        result = crash.get(lib)
        if result is None:
            cell = "failed"
        elif result["seconds"] is None:
            cell = f"not within {result['cap']:.0f} s"
        else:
            cell = f"{result['seconds']:.1f}"
        lines.append(f"| {lib} | {cell} | {CRASH_NOTES.get(lib, '')} |")
    return [*lines, "", "One round: these waits are set by timeouts, not by speed.", ""]


def _rss(raw: dict[str, Any]) -> list[str]:
    samples = (raw.get("rss") or {}).get("rss")
    if not samples:
        return []
    warm = next((kib for done, kib in samples if done >= 20_000), samples[0][1])
    end = samples[-1][1]
    peak = max(kib for _, kib in samples)
    drift = 100 * (end - warm) / warm
    return [
        "## Worker memory over 200,000 no-op jobs (tasks: RSS of the supervisor and its one worker process)",
        "",
        f"RSS after 20,000 jobs {warm / 1024:.1f} MiB, after 200,000 {end / 1024:.1f} MiB "
        f"(peak {peak / 1024:.1f} MiB): drift **{drift:+.1f} %** (target within ±10 %).",
        "",
    ]


def raw_share(raw: dict[str, Any], workload: str) -> float | None:
    """Median over the rounds of tasks' rate divided by raw redis-py's in the same round."""
    mode = {"single": "rtt", "bulk": "pipelined"}[workload]
    pairs = zip(raw.get(workload, {}).get("tasks", []), raw.get(f"raw-{mode}", []))
    return _median([ours / ceiling for ours, ceiling in pairs if ours and ceiling])


Row = tuple[str, str, bool]


def targets(raw: dict[str, Any], fig: dict[str, dict[str, float | None]], libraries: Sequence[str]) -> list[str]:
    """The performance targets of tasks, each with the figure that meets it or not."""
    peers = [lib for lib in libraries if lib != "tasks"]
    ours = {k: v.get("tasks") for k, v in fig.items()}
    rows = [
        *_against_peers(fig, peers, ours),
        *_against_raw(raw),
        *_absolute(raw, ours),
    ]
    lines = ["## Targets of tasks", "", "| target | this run | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if ok else 'no'} |" for name, value, ok in rows]
    return [*lines, ""]


def _best(fig: dict[str, dict[str, float | None]], peers: Sequence[str], key: str, low: bool) -> tuple[str, float]:
    values = [(lib, value) for lib in peers if (value := fig[key][lib]) is not None]
    return (min if low else max)(values, key=lambda kv: kv[1]) if values else ("", 0.0)


def _against_peers(
    fig: dict[str, dict[str, float | None]], peers: Sequence[str], ours: dict[str, float | None]
) -> list[Row]:
    rows: list[Row] = []
    for workload in ("drain-noop", "drain-rtt"):
        lib, top = _best(fig, peers, workload, low=False)
        value = ours[workload]
        if lib and value:
            rows.append((f"{workload}: at least 2x the fastest peer", f"{value / top:.2f}x {lib}", value >= 2 * top))
    for pct in ("p50", "p99"):
        lib, top = _best(fig, peers, f"latency-{pct}", low=True)
        value = ours[f"latency-{pct}"]
        if lib and value is not None:
            figure = f"{value:.2f} ms vs {top:.2f} ms {lib}"
            rows.append((f"latency {pct} at or below the best peer", figure, value <= top))
    return rows


def _against_raw(raw: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for key, mode, share in (("single", "rtt", 0.9), ("bulk", "pipelined", 0.5)):
        got = raw_share(raw, key)
        if got is not None:
            rows.append((f"{key} enqueue at least {share:.0%} of raw redis-py ({mode})", f"{got:.0%}", got >= share))
    return rows


def _absolute(raw: dict[str, Any], ours: dict[str, float | None]) -> list[Row]:
    rows: list[Row] = []
    if ours["latency-p99"] is not None:
        rows.append(("latency p99 under 2 ms idle", f"{ours['latency-p99']:.2f} ms", ours["latency-p99"] < 2))
    if ours["drain-noop"] is not None:
        rows.append(("stretch: 20,000 no-op jobs/s", f"{ours['drain-noop']:,.0f}", ours["drain-noop"] >= 20_000))
    drift = rss_drift(raw)
    if drift is not None:
        rows.append(("worker RSS flat (within 10 %) over 200,000 jobs", f"{drift:+.1%}", abs(drift) <= 0.10))
    return rows


def rss_drift(raw: dict[str, Any]) -> float | None:
    """RSS at the end over RSS once 20,000 jobs ran (warm), minus one."""
    samples = (raw.get("rss") or {}).get("rss")
    if not samples:
        return None
    warm = next((kib for done, kib in samples if done >= 20_000), samples[0][1])
    return float(samples[-1][1] - warm) / warm


def complete(raw: dict[str, Any], libraries: Sequence[str]) -> bool:
    """True when every workload of every library produced a figure (the smoke run's pass condition)."""
    ok = all(v is not None for w in TITLES for lib in libraries for v in raw.get(w, {}).get(lib, [None]))
    return ok and all(r is not None for lib in libraries for r in raw.get("latency", {}).get(lib, [None]))


def chart(raw: dict[str, Any], libraries: Sequence[str], path: Path) -> None:
    """Bars of each peer's figure relative to tasks (tasks = 1), oriented so that higher is better for the peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig = figures(raw, libraries)
    groups = [
        ("single", "single\nenqueue", False),
        ("bulk", "bulk\nenqueue", False),
        ("drain-noop", "drain\nno-op", False),
        ("drain-rtt", "drain\n1 round trip", False),
        ("latency-p50", "latency\np50", True),
        ("latency-p99", "latency\np99", True),
    ]
    peers = [lib for lib in libraries if lib != "tasks"]
    width = 0.8 / max(1, len(peers))
    plot, ax = plt.subplots(figsize=(11, 5.5))
    for index, lib in enumerate(peers):
        heights = []
        for key, _, lower_better in groups:
            ours, theirs = fig[key].get("tasks"), fig[key].get(lib)
            if not ours or not theirs:
                heights.append(0.0)
            else:
                heights.append(ours / theirs if lower_better else theirs / ours)
        xs = [g + index * width - 0.4 + width / 2 for g in range(len(groups))]
        ax.bar(xs, heights, width, label=lib)
    ax.axhline(1.0, color="black", linewidth=1.2, label="tasks = 1")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(range(len(groups)), [label for _, label, _ in groups])
    ax.set_ylabel("peer relative to tasks (log; above 1: the peer is ahead)")
    ax.set_title("Each peer against tasks: throughput ratio, or inverse latency ratio (medians of the rounds)")
    ax.legend(ncol=len(peers) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    plot.tight_layout()
    plot.savefig(path, dpi=110)
    plt.close(plot)
