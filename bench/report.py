"""What ``python -m bench`` reports: metrics and their aggregation over rounds, the
machine it ran on, and the table."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import LOAD_CPU, median, percentile

ROOT = Path(__file__).resolve().parent.parent
MODES = ("direct", "quic")

Round = dict[str, Any]


@dataclass
class Metric:
    """One row of the report: a median per transport and the rounds behind it."""

    label: str
    unit: str
    values: dict[str, float] = field(default_factory=dict)
    rounds: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "unit": self.unit}
        for mode in MODES:
            if mode in self.values:
                out[mode] = self.values[mode]
        ratio = self.ratio()
        if ratio is not None:
            out["ratio_quic_direct"] = ratio
        out["rounds"] = self.rounds
        if self.note:
            out["note"] = self.note
        return out

    def ratio(self) -> float | None:
        direct, quic = self.values.get("direct"), self.values.get("quic")
        if direct is None or quic is None or direct == 0:
            return None
        return quic / direct


@dataclass
class ScenarioResult:
    name: str
    params: dict[str, Any]
    metrics: dict[str, Metric] = field(default_factory=dict)
    error: str = ""
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "params": self.params,
            "metrics": {key: metric.to_json() for key, metric in self.metrics.items()},
            "wall_s": round(self.wall_s, 3),
        }
        if self.error:
            out["error"] = self.error
        return out


# --- aggregation -------------------------------------------------------------------


def per_round(rounds: list[Round], key: str, label: str, unit: str, scale: float = 1.0) -> Metric:
    """The median over rounds of a per-round figure."""
    metric = Metric(label, unit)
    for mode in MODES:
        values = [r[key] * scale for r in rounds if r["mode"] == mode]
        if values:
            metric.rounds[mode] = values
            metric.values[mode] = median(values)
    return metric


def pooled(
    rounds: list[Round], key: str, fraction: float, label: str, unit: str, scale: float = 1.0
) -> Metric:
    """A percentile over every sample of every round (the rounds show each round's)."""
    metric = Metric(label, unit)
    for mode in MODES:
        samples = [r[key] for r in rounds if r["mode"] == mode]
        if samples:
            flat = [v * scale for sample in samples for v in sample]
            metric.values[mode] = percentile(flat, fraction)
            metric.rounds[mode] = [percentile(s, fraction) * scale for s in samples]
    return metric


# --- machine -----------------------------------------------------------------------


def machine_info(pinned: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "pinned": pinned,
        "host_cpu": 0 if pinned else None,
        "load_cpu": LOAD_CPU if pinned else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": package_versions(),
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return info


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in ("severus", "cryptography", "aioquic", "noiseprotocol", "msgpack"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_commit() -> str:
    """The checkout's commit; BENCH_COMMIT names it for a tree that is not a checkout."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        return os.environ.get("BENCH_COMMIT", "")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return ""


# --- output ------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(results: list[ScenarioResult], machine: dict[str, Any], quick: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    title = "Severus benchmarks" + (" (quick)" if quick else "")
    table = Table(title=title, caption=caption(machine))
    table.add_column("scenario")
    table.add_column("metric", no_wrap=True)
    table.add_column("direct", justify="right")
    table.add_column("quic", justify="right")
    table.add_column("quic/direct", justify="right")
    for result in results:
        if result.error:
            first_line = escape(result.error.splitlines()[0] if result.error else "")
            table.add_row(result.name, f"[red]failed: {first_line}[/]")
            continue
        first = True
        for metric in result.metrics.values():
            ratio = metric.ratio()
            table.add_row(
                result.name if first else "",
                f"{metric.label} ({metric.unit})",
                fmt(metric.values.get("direct")),
                fmt(metric.values.get("quic")),
                f"{ratio:.2f}x" if ratio is not None else "",
            )
            first = False
        table.add_section()
    console = Console()
    if not console.is_terminal:
        console = Console(width=100)  # a pasted table should not wrap
    console.print(table)
    for result in results:
        params = ", ".join(f"{k}={v}" for k, v in result.params.items())
        console.print(f"{result.name}: {escape(params)}; {result.wall_s:.1f} s", style="dim")


def caption(machine: dict[str, Any]) -> str:
    pinning = "host on CPU 0, load on CPU 1" if machine["pinned"] else "not pinned"
    load = machine["loadavg_at_start"][0]
    return (
        f"{machine['cpu']}, {machine['logical_cpus']} CPUs, {pinning}, load {load:.2f} at start; "
        f"Python {machine['python']}; commit {machine['commit'] or '?'}; medians over rounds"
    )
