"""``python -m bench``: start real hosts, run the scenarios, report medians.

The runner starts one ``severus host`` per transport (pinned to CPU 0), then runs each
scenario in a separate load-generator process (pinned, like the runner, to CPU 1) that
alternates between the transports round by round, so both are measured side by side
under the same conditions. The startup scenario times the ``severus`` command itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import LOAD_CPU, can_pin, median, pin
from bench.hostproc import HostProcess
from bench.report import (
    MODES,
    ROOT,
    Metric,
    Round,
    ScenarioResult,
    machine_info,
    per_round,
    pooled,
    print_table,
)

RELAY_ROOM = "bench"  # a room the host's own participant is not in
SCENARIO_NAMES = ("handshake", "relay", "latency", "fanout", "memory", "startup", "e2e")


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
    fanout_piped_messages: int = 1000
    fanout_window: int = 32
    memory_clients: int = 1000

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(True, 60, 2, 4000, 2, 256, 200, 2, 50, 100, 2, 5, 3, 400, 32, 100)
        return cls(False, 200, 5, 20000, 5, 256, 1000, 3, 200, 200, 3, 10, 5, 1000, 32, 1000)


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
    def __init__(
        self, settings: Settings, work: Path, pinned: bool, modes: tuple[str, ...] = MODES
    ) -> None:
        self.settings = settings
        self.work = work
        self.pinned = pinned
        self.modes = modes
        self.client_dir = work / "client"
        self.hosts: dict[str, HostProcess] = {}

    @property
    def one_mode(self) -> tuple[str, ...]:
        """Where the one-transport scenarios (fanout, memory) run: direct if it runs."""
        return ("direct",) if "direct" in self.modes else self.modes[:1]

    def targets(self, modes: Iterable[str]) -> list[dict[str, Any]]:
        return [
            {"mode": mode, "ticket": self.hosts[mode].ticket, "pid": self.hosts[mode].pid}
            for mode in modes
        ]

    def job(
        self, scenario: str, modes: Iterable[str] | None = None, **params: Any
    ) -> dict[str, Any]:
        return {
            "scenario": scenario,
            "targets": self.targets(self.modes if modes is None else modes),
            "config_dir": str(self.client_dir),
            "pin": self.pinned,
            **params,
        }

    def start_hosts(self) -> None:
        for mode in self.modes:
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
                "pipelined_messages": s.fanout_piped_messages,
                "window": s.fanout_window,
                "rounds": s.fanout_rounds,
            },
        )
        rounds = run_loadgen(
            self.job(
                "fanout",
                modes=self.one_mode,
                rounds=s.fanout_rounds,
                messages=s.fanout_messages,
                clients=s.fanout_clients,
                piped_messages=s.fanout_piped_messages,
                window=s.fanout_window,
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
            "piped_deliveries_per_s": per_round(
                rounds, "piped_deliveries_per_s", "deliveries, pipelined", "deliveries/s"
            ),
            "piped_host_cpu_us_per_delivery": per_round(
                rounds, "piped_host_cpu_us_per_delivery", "host CPU per delivery, pipelined", "µs"
            ),
            "piped_host_cpu_busy_pct": per_round(
                rounds, "piped_host_cpu_share", "host CPU busy, pipelined", "%", 100
            ),
        }
        return result

    def memory(self) -> ScenarioResult:
        s = self.settings
        result = ScenarioResult("memory", {"clients": s.memory_clients})
        rounds = run_loadgen(self.job("memory", self.one_mode, clients=s.memory_clients), 300)
        result.metrics = {
            "host_rss_kib_per_client": per_round(
                rounds, "host_rss_kib_per_client", "idle host memory per client", "KiB"
            ),
        }
        return result

    def e2e(self) -> ScenarioResult:
        """What end-to-end encryption costs per room message (bench.e2e_cost), in
        process: no transport, so the figures sit in the direct column."""
        from bench.e2e_cost import SIZES, measure

        rounds = 5 if self.settings.quick else 40
        result = ScenarioResult("e2e", {"rounds": rounds, "members": list(SIZES)})
        for size, row in measure(rounds).items():
            for key, who in (
                ("e2e_sender_us", "sender"),
                ("e2e_host_us", "host"),
                ("e2e_each_receiver_us", "each receiver"),
            ):
                metric = Metric(f"{size} members: {who} CPU per message", "µs")
                metric.values["direct"] = row[key]
                metric.note = "in process, no transport"
                result.metrics[f"{key}_{size}"] = metric
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
        times: dict[str, list[float]] = {mode: [] for mode in self.modes}
        for index in range(s.send_runs + 1):
            for mode in self.modes if index % 2 == 0 else self.modes[::-1]:
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
        for mode in self.modes:
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


# --- main --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs, for CI (< 60 s)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios to run, in this order: "
        + ",".join(SCENARIO_NAMES)
        + " (default: all)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="comma-separated transports to start hosts for (default: direct,quic)",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIO_NAMES]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.scenarios = chosen or list(SCENARIO_NAMES)
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if not modes or any(mode not in MODES for mode in modes):
        parser.error(f"--modes takes some of: {', '.join(MODES)}")
    args.modes = tuple(mode for mode in MODES if mode in modes)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.make(args.quick)
    pinned = can_pin() and pin(0, LOAD_CPU)  # children inherit: loadgens and CLI runs
    started = time.perf_counter()
    machine = machine_info(pinned)
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="severus-bench-") as tmp:
        bench = Bench(settings, Path(tmp), pinned, args.modes)
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
                "memory": bench.memory,
                "e2e": bench.e2e,
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
        print_table(results, machine, settings.quick)
        print(f"total {machine['wall_s']:.1f} s")
    return 1 if any(r.error for r in results) else 0


def progress(text: str) -> None:
    """Progress goes to stderr, so --json keeps stdout to the one object."""
    print(f"bench: {text}", file=sys.stderr, flush=True)
