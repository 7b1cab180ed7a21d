"""The anchors' figures: which figure is which severus metric, aggregation over rounds,
ratios, and the tables (bench/anchors.py runs them)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from bench.common import median, percentile
from bench.report import fmt
from bench.runner import Settings

Round = dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One figure: its key in the anchors' rounds, and where severus reports it."""

    key: str
    label: str
    unit: str
    scenario: str  # severus's scenario and metric key in ``python -m bench --json``
    metric: str
    ratio: bool = True


GROUPS: list[tuple[str, list[Row]]] = [
    (
        "Relay: one sender to one receiver, pipelined",
        [
            Row("relay_us_per_msg", "host CPU / message", "µs", "relay", "host_cpu_us_per_msg"),
            Row("relay_msgs_per_s", "messages", "/s", "relay", "msgs_per_s"),
            Row("relay_busy_pct", "host busy", "%", "relay", "host_cpu_busy_pct", False),
        ],
    ),
    (
        "Fan-out to N, one message at a time",
        [
            Row(
                "fanout_us_per_delivery",
                "host CPU / delivery",
                "µs",
                "fanout",
                "host_cpu_us_per_delivery",
            ),
            Row("fanout_reach_p50_ms", "reaches all p50", "ms", "fanout", "reach_all_p50_ms"),
            Row("fanout_reach_p99_ms", "reaches all p99", "ms", "fanout", "reach_all_p99_ms"),
            Row("fanout_deliveries_per_s", "deliveries", "/s", "fanout", "deliveries_per_s"),
        ],
    ),
    (
        "Fan-out to N, pipelined (throughput)",
        [
            Row(
                "pipelined_us_per_delivery",
                "host CPU / delivery",
                "µs",
                "fanout",
                "piped_host_cpu_us_per_delivery",
            ),
            Row(
                "pipelined_deliveries_per_s",
                "deliveries",
                "/s",
                "fanout",
                "piped_deliveries_per_s",
            ),
            Row(
                "pipelined_busy_pct",
                "host busy",
                "%",
                "fanout",
                "piped_host_cpu_busy_pct",
                False,
            ),
        ],
    ),
    (
        "Latency: A to B, one message at a time",
        [
            Row("latency_p50_us", "p50", "µs", "latency", "one_way_p50_us"),
            Row("latency_p99_us", "p99", "µs", "latency", "one_way_p99_us"),
        ],
    ),
    (
        "Connect: TLS, register, join; then quit",
        [
            Row(
                "connect_cpu_ms", "host CPU / connect", "ms", "handshake", "host_cpu_ms_per_connect"
            ),
            Row("connect_p50_ms", "connect p50", "ms", "handshake", "connect_p50_ms"),
        ],
    ),
    (
        "Idle memory",
        [
            Row(
                "memory_kib_per_client",
                "host RSS / client",
                "KiB",
                "memory",
                "host_rss_kib_per_client",
            ),
        ],
    ),
]
ROWS = [row for _, rows in GROUPS for row in rows]
POOLED = {  # figures that are percentiles over every sample of every round
    "fanout_reach_p50_ms": ("reach_us", 0.5, 1e-3),
    "fanout_reach_p99_ms": ("reach_us", 0.99, 1e-3),
    "latency_p50_us": ("latency_us", 0.5, 1.0),
    "latency_p99_us": ("latency_us", 0.99, 1.0),
    "connect_p50_ms": ("connect_ms", 0.5, 1.0),
}


@dataclass(frozen=True)
class Sizes:
    """The workloads, the same as severus's (bench/runner.py Settings) where it has them."""

    rounds: int
    relay_messages: int
    relay_window: int
    latency_messages: int
    fanout_clients: int
    fanout_messages: int
    pipelined_messages: int
    window: int
    connects: int
    memory_clients: int

    @classmethod
    def make(cls, quick: bool) -> Sizes:
        s = Settings.make(quick)
        return cls(
            rounds=2 if quick else 3,
            relay_messages=s.relay_messages,
            relay_window=s.relay_window,
            latency_messages=s.latency_messages,
            fanout_clients=s.fanout_clients,
            fanout_messages=s.fanout_messages,
            pipelined_messages=s.fanout_piped_messages,
            window=s.fanout_window,
            connects=50 if quick else 200,
            memory_clients=s.memory_clients,
        )


def summarize(rounds: list[Round], into: dict[str, Any]) -> None:
    """Medians over rounds, pooled percentiles for the sampled figures."""
    for row in ROWS:
        if row.key in POOLED:
            sample, fraction, scale = POOLED[row.key]
            samples = [r[sample] for r in rounds if sample in r]
            if samples:
                flat = [v * scale for values in samples for v in values]
                into["metrics"][row.key] = percentile(flat, fraction)
                into["rounds"][row.key] = [percentile(v, fraction) * scale for v in samples]
        else:
            values = [r[row.key] for r in rounds if row.key in r]
            if values:
                into["metrics"][row.key] = median(values)
                into["rounds"][row.key] = values


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """severus / that server, for every figure both have (1.00 = the same)."""
    ours = results.get("severus", {}).get("metrics", {})
    table: dict[str, dict[str, float]] = {}
    for name, result in results.items():
        if name == "severus" or "metrics" not in result:
            continue
        theirs = result["metrics"]
        table[name] = {
            row.key: ours[row.key] / theirs[row.key]
            for row in ROWS
            if row.ratio and ours.get(row.key) and theirs.get(row.key)
        }
    return table


def print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=120)
    results: dict[str, dict[str, Any]] = report["anchors"]
    ratio_of = report["ratios"]
    for title, rows in GROUPS:
        table = Table(title=title, title_justify="left")
        table.add_column("server")
        for row in rows:
            table.add_column(f"{row.label} ({row.unit})", justify="right")
            if row.ratio:
                table.add_column("sev/x", justify="right")
        for name, result in results.items():
            cells: list[str] = []
            if "skipped" in result:
                cells = [f"[dim]skipped: {escape(result['skipped'])}[/]"]
            else:
                for row in rows:
                    value = result["metrics"].get(row.key)
                    cells.append(fmt(value) if value is not None else "[red]failed[/]")
                    if row.ratio:
                        ratio = ratio_of.get(name, {}).get(row.key)
                        cells.append(fmt_ratio(ratio))
            table.add_row(name, *cells)
        console.print(table)
    z, machine = report["sizes"], report["machine"]
    pinning = "server on CPU 0, load on CPU 1" if machine["pinned"] else "not pinned"
    console.print(
        f"sev/x: severus divided by that server (below 1.00x: severus uses less, or for rates "
        f"does less). {machine['cpu']}, {pinning}, load {machine['loadavg_at_start'][0]:.2f} "
        f"at start; commit {machine['commit'] or '?'}; medians over {z['rounds']} rounds "
        f"(severus: its own runner's rounds).",
        style="dim",
    )
    console.print(f"sizes: {escape(json.dumps(z))}", style="dim")
    for name, result in results.items():
        if "skipped" in result:
            continue
        walls = ", ".join(f"{k} {v:.1f} s" for k, v in result["wall_s"].items())
        console.print(f"{name} ({escape(result['version'])}): {walls}", style="dim")
        if result.get("note"):
            console.print(f"  {escape(result['note'])}", style="dim")
        for shape, error in result.get("errors", {}).items():
            console.print(f"  {shape} failed: {escape(error.splitlines()[0])}", style="red")
    console.print(f"total {machine['wall_s']:.1f} s", style="dim")


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"
