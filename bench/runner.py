"""``python -m bench``: start real hosts, run the scenarios, report medians.

The runner starts one ``severus host`` per transport (pinned to CPU 0), then runs each
scenario in a separate load-generator process (pinned, like the runner, to CPU 1) that
alternates between the transports round by round, so both are measured side by side
under the same conditions. The startup scenario times the ``severus`` command itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import LOAD_CPU, can_pin, median, percentile, pin
from bench.hostproc import HostProcess

ROOT = Path(__file__).resolve().parent.parent
MODES = ("direct", "quic")
RELAY_ROOM = "bench"  # a room the host's own participant is not in
SCENARIO_NAMES = ("handshake", "relay", "latency", "fanout", "startup")

Round = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """How much work each scenario does; ``--quick`` is sized for CI."""

    quick: bool
    handshake_connects: int
    handshake_rounds: int
    relay_messages: int
    relay_rounds: int
    relay_window: int
    latency_messages: int
    latency_rounds: int
    fanout_clients: int
    fanout_messages: int
    fanout_rounds: int
    help_runs: int
    send_runs: int

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(True, 60, 2, 4000, 2, 256, 200, 2, 50, 100, 2, 5, 3)
        return cls(False, 200, 5, 20000, 5, 256, 1000, 3, 200, 200, 3, 10, 5)


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


# --- running load generators --------------------------------------------------------


def run_loadgen(job: dict[str, Any], time_limit: float) -> list[Round]:
    """Run one job in a separate ``python -m bench.loadgen`` process."""
    job = dict(job, time_limit=time_limit)
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=json.dumps(job).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=time_limit + 30,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(
            f"loadgen {job['scenario']} exited with {done.returncode}:\n" + "\n".join(tail)
        )
    rounds: list[Round] = json.loads(done.stdout)["rounds"]
    return rounds


class Bench:
    def __init__(self, settings: Settings, work: Path, pinned: bool) -> None:
        self.settings = settings
        self.work = work
        self.pinned = pinned
        self.client_dir = work / "client"
        self.hosts: dict[str, HostProcess] = {}

    def targets(self, modes: Iterable[str] = MODES) -> list[dict[str, Any]]:
        return [
            {"mode": mode, "ticket": self.hosts[mode].ticket, "pid": self.hosts[mode].pid}
            for mode in modes
        ]

    def job(self, scenario: str, modes: Iterable[str] = MODES, **params: Any) -> dict[str, Any]:
        return {
            "scenario": scenario,
            "targets": self.targets(modes),
            "config_dir": str(self.client_dir),
            "pin": self.pinned,
            **params,
        }

    def start_hosts(self) -> None:
        for mode in MODES:
            host = HostProcess(mode, self.work / f"host-{mode}", self.work, self.pinned)
            self.hosts[mode] = host
            host.start()
        for host in self.hosts.values():
            host.wait_ready()

    def stop_hosts(self) -> None:
        for host in self.hosts.values():
            host.stop()

    def check_hosts(self) -> None:
        for mode, host in self.hosts.items():
            if not host.alive():
                raise RuntimeError(f"the {mode} host died")

    # --- scenarios ---------------------------------------------------------------

    def handshake(self) -> ScenarioResult:
        s = self.settings
        per = max(1, s.handshake_connects // s.handshake_rounds)
        result = ScenarioResult(
            "handshake",
            {"connects": per * s.handshake_rounds, "rounds": s.handshake_rounds},
        )
        rounds = run_loadgen(
            self.job("handshake", rounds=s.handshake_rounds, connects_per_round=per), 300
        )
        result.metrics = {
            "connect_p50_ms": pooled(rounds, "connect_ms", 0.5, "connect p50", "ms"),
            "connect_p90_ms": pooled(rounds, "connect_ms", 0.9, "connect p90", "ms"),
            "host_cpu_ms_per_connect": per_round(
                rounds, "host_cpu_ms_per_connect", "host CPU per connect", "ms"
            ),
        }
        return result

    def relay(self) -> ScenarioResult:
        s = self.settings
        params = {
            "messages": s.relay_messages,
            "rounds": s.relay_rounds,
            "window": s.relay_window,
            "text_chars": 32,
        }
        result = ScenarioResult("relay", params)
        rounds = run_loadgen(
            self.job(
                "relay",
                rounds=s.relay_rounds,
                messages=s.relay_messages,
                window=s.relay_window,
                rooms=["lobby", RELAY_ROOM],
            ),
            300,
        )
        lobby = [r for r in rounds if r["room"] == "lobby"]
        room = [r for r in rounds if r["room"] == RELAY_ROOM]
        result.metrics = {
            "msgs_per_s": per_round(lobby, "msgs_per_s", "throughput", "msgs/s"),
            "host_cpu_us_per_msg": per_round(
                lobby, "host_cpu_us_per_msg", "host CPU per message", "µs"
            ),
            "host_cpu_busy_pct": per_round(lobby, "host_cpu_share", "host CPU busy", "%", 100),
            "room_msgs_per_s": per_round(room, "msgs_per_s", "in a room: throughput", "msgs/s"),
            "room_host_cpu_us_per_msg": per_round(
                room, "host_cpu_us_per_msg", "in a room: host CPU per message", "µs"
            ),
            "room_host_cpu_busy_pct": per_round(
                room, "host_cpu_share", "in a room: host CPU busy", "%", 100
            ),
        }
        return result

    def latency(self) -> ScenarioResult:
        s = self.settings
        result = ScenarioResult(
            "latency", {"messages": s.latency_messages, "rounds": s.latency_rounds}
        )
        rounds = run_loadgen(
            self.job("latency", rounds=s.latency_rounds, messages=s.latency_messages), 300
        )
        result.metrics = {
            "one_way_p50_us": pooled(rounds, "one_way_us", 0.5, "send to receive p50", "µs"),
            "one_way_p99_us": pooled(rounds, "one_way_us", 0.99, "send to receive p99", "µs"),
        }
        return result

    def fanout(self) -> ScenarioResult:
        s = self.settings
        result = ScenarioResult(
            "fanout",
            {
                "clients": s.fanout_clients,
                "messages": s.fanout_messages,
                "rounds": s.fanout_rounds,
            },
        )
        rounds = run_loadgen(
            self.job(
                "fanout",
                modes=("direct",),
                rounds=s.fanout_rounds,
                messages=s.fanout_messages,
                clients=s.fanout_clients,
            ),
            300,
        )
        result.metrics = {
            "deliveries_per_s": per_round(rounds, "deliveries_per_s", "deliveries", "deliveries/s"),
            "host_cpu_us_per_delivery": per_round(
                rounds, "host_cpu_us_per_delivery", "host CPU per delivery", "µs"
            ),
            "host_cpu_busy_pct": per_round(rounds, "host_cpu_share", "host CPU busy", "%", 100),
            "reach_all_p50_ms": pooled(
                rounds, "reach_all_us", 0.5, "one message reaches all p50", "ms", 1e-3
            ),
            "reach_all_p99_ms": pooled(
                rounds, "reach_all_us", 0.99, "one message reaches all p99", "ms", 1e-3
            ),
            "host_rss_kib_per_client": per_round(
                rounds, "host_rss_kib_per_client", "host memory per client", "KiB"
            ),
        }
        return result

    def startup(self) -> ScenarioResult:
        s = self.settings
        command = severus_command()
        result = ScenarioResult(
            "startup",
            {"command": " ".join(command), "help_runs": s.help_runs, "send_runs": s.send_runs},
        )
        env = dict(os.environ, NO_COLOR="1")
        help_times = [timed([*command, "--help"], env, b"") for _ in range(s.help_runs + 1)][1:]
        help_metric = Metric("severus --help", "ms")
        help_metric.values["direct"] = median(help_times) * 1000
        help_metric.rounds["direct"] = [t * 1000 for t in help_times]
        help_metric.note = "no transport: shown in the direct column"
        send_metric = Metric("severus send, one line", "ms")
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        for index in range(s.send_runs + 1):
            for mode in MODES if index % 2 == 0 else MODES[::-1]:
                send_env = dict(env, SEVERUS_TICKET=self.hosts[mode].ticket)
                argv = [
                    *command,
                    "send",
                    "--nick",
                    f"send{mode}{index}",
                    "--config-dir",
                    str(self.client_dir),
                ]
                elapsed = timed(argv, send_env, b"hello from the benchmark\n")
                if index > 0:  # the first of each is a warm-up
                    times[mode].append(elapsed)
        for mode in MODES:
            send_metric.values[mode] = median(times[mode]) * 1000
            send_metric.rounds[mode] = [t * 1000 for t in times[mode]]
        result.metrics = {"help_ms": help_metric, "send_ms": send_metric}
        return result


def severus_command() -> list[str]:
    """The installed ``severus`` script next to this Python, else ``python -m``."""
    script = Path(sys.executable).parent / "severus"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "severus_cli"]


def timed(argv: list[str], env: dict[str, str], stdin: bytes) -> float:
    """Wall time from process start to exit; the command must succeed."""
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=60, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:2])} exited with {done.returncode}: "
            + done.stderr.decode(errors="replace")[-500:]
        )
    return elapsed


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


def print_table(results: list[ScenarioResult], machine: dict[str, Any], settings: Settings) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    title = "Severus benchmarks" + (" (quick)" if settings.quick else "")
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


# --- main --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs, for CI (< 60 s)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios to run: " + ",".join(SCENARIO_NAMES),
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIO_NAMES]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.scenarios = chosen or list(SCENARIO_NAMES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.make(args.quick)
    pinned = can_pin() and pin(0, LOAD_CPU)  # children inherit: loadgens and CLI runs
    started = time.perf_counter()
    machine = machine_info(pinned)
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="severus-bench-") as tmp:
        bench = Bench(settings, Path(tmp), pinned)
        try:
            progress("starting hosts")
            bench.start_hosts()
            subprocess.run(  # the load's identity, made once so no run pays for it
                [*severus_command(), "keygen", "--config-dir", str(bench.client_dir)],
                capture_output=True,
                timeout=60,
                check=True,
            )
            runners: dict[str, Callable[[], ScenarioResult]] = {
                "handshake": bench.handshake,
                "relay": bench.relay,
                "latency": bench.latency,
                "fanout": bench.fanout,
                "startup": bench.startup,
            }
            for name in args.scenarios:
                progress(f"running {name}")
                begin = time.perf_counter()
                try:
                    result = runners[name]()
                    bench.check_hosts()
                except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as error:
                    result = ScenarioResult(name, {}, error=str(error))
                result.wall_s = time.perf_counter() - begin
                results.append(result)
        finally:
            bench.stop_hosts()
    machine["wall_s"] = round(time.perf_counter() - started, 2)
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        report = {
            "scenarios": {r.name: r.to_json() for r in results},
            "machine": machine,
            "quick": settings.quick,
        }
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_table(results, machine, settings)
        print(f"total {machine['wall_s']:.1f} s")
    return 1 if any(r.error for r in results) else 0


def progress(text: str) -> None:
    """Progress goes to stderr, so --json keeps stdout to the one object."""
    print(f"bench: {text}", file=sys.stderr, flush=True)
