"""Anchors: severus side by side with a ceiling and with IRC servers, same workloads, one run.

- ceiling: ``bench/ceiling.py``, a TLS frame forwarder with no Noise, no msgpack, no
  checks, on the severus host's own TLS technique (memory BIOs, writes coalesced per
  loop turn): the floor of this stack;
- ngIRCd and InspIRCd 3 from Debian (``apt-get install -y ngircd inspircd``), TLS with
  the same certificate and key, limits lifted, clients in one channel;
- severus: ``python -m bench --only memory,handshake,relay,latency,fanout --modes direct
  --json``, run in the middle of the anchors and read back.

Every anchor gets the shapes severus gets (bench/anchor_shapes.py): relay, fan-out to N
one message at a time and pipelined, latency, connect and idle memory. Each table shows
one group of figures per server and the ratio severus / that server. Run:
``python -m bench.anchors [--quick] [--json] [--anchors ceiling,ngircd,...]``; an anchor
that is not installed is skipped with a reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import anchor_shapes as shapes
from bench.anchor_report import ROWS, Sizes, print_tables, ratios, summarize
from bench.anchor_servers import DEFAULT, NAMES, Anchor, Server, prepare
from bench.common import LOAD_CPU, can_pin, pin
from bench.report import ROOT, machine_info

SHAPE_LIMIT = 600.0  # seconds any one shape may take
SEVERUS_SCENARIOS = "memory,handshake,relay,latency,fanout"


def plan(anchor: Anchor, pid: int, z: Sizes) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    """The shapes, in the order severus runs them (memory first, on a fresh server)."""
    kind, port, parallel = anchor.kind, anchor.port, anchor.parallel
    crowd = max(4, parallel)  # severus's load connects 4 at a time
    return [
        ("memory", lambda: shapes.memory(kind, port, pid, z.memory_clients, crowd)),
        ("connect", lambda: shapes.connect(kind, port, pid, z.connects, z.rounds, parallel)),
        (
            "relay",
            lambda: shapes.relay(kind, port, pid, z.relay_messages, z.relay_window, z.rounds),
        ),
        ("latency", lambda: shapes.latency(kind, port, pid, z.latency_messages, z.rounds)),
        (
            "fanout",
            lambda: shapes.fanout(
                kind,
                port,
                pid,
                z.fanout_clients,
                z.fanout_messages,
                z.pipelined_messages,
                z.window,
                z.rounds,
                crowd,
            ),
        ),
    ]


def measure(anchor: Anchor, folder: Path, z: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {"version": anchor.version, "metrics": {}, "rounds": {}, "wall_s": {}}
    if anchor.note:
        out["note"] = anchor.note
    try:
        server = Server(anchor, folder / f"{anchor.name}.log")
    except (RuntimeError, OSError) as error:
        out["errors"] = {"start": str(error)}
        return out
    try:
        for name, shape in plan(anchor, server.pid, z):
            progress(f"{anchor.name}: {name}")
            begin = time.perf_counter()
            try:
                summarize(asyncio.run(_limited(shape())), out)
                if not server.alive():
                    raise RuntimeError(f"{anchor.name} died")
            except (RuntimeError, OSError, TimeoutError, ValueError) as error:
                out.setdefault("errors", {})[name] = f"{type(error).__name__}: {error}"
                progress(f"{anchor.name}: {name} failed: {error}")
            out["wall_s"][name] = round(time.perf_counter() - begin, 1)
            if not server.alive():
                break
    finally:
        server.stop()
    return out


async def _limited(work: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(work, SHAPE_LIMIT)


def severus(quick: bool) -> dict[str, Any]:
    """severus's own figures for the same shapes, from ``python -m bench --json``."""
    argv = [sys.executable, "-m", "bench", "--only", SEVERUS_SCENARIOS, "--modes", "direct"]
    progress("severus: " + " ".join(argv[2:]))
    begin = time.perf_counter()
    done = subprocess.run(
        [*argv, "--json", *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
        check=False,
    )
    out: dict[str, Any] = {"version": "", "metrics": {}, "rounds": {}, "wall_s": {}}
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        out["errors"] = {"bench": done.stderr[-1500:] or f"exit {done.returncode}"}
        return out
    out["version"] = "commit " + str(report["machine"].get("commit") or "?")
    scenarios: dict[str, Any] = report["scenarios"]
    for row in ROWS:
        scenario = scenarios.get(row.scenario, {})
        if "error" in scenario:
            out.setdefault("errors", {})[row.scenario] = scenario["error"]
        metric = scenario.get("metrics", {}).get(row.metric, {})
        if "direct" in metric:
            out["metrics"][row.key] = float(metric["direct"])
            out["rounds"][row.key] = metric.get("rounds", {}).get("direct", [])
    out["wall_s"] = {name: s.get("wall_s", 0.0) for name, s in scenarios.items()}
    out["wall_s"]["total"] = round(time.perf_counter() - begin, 1)
    return out


def run(names: tuple[str, ...], quick: bool) -> dict[str, Any]:
    pinned = can_pin() and pin(0, LOAD_CPU)  # this process is the anchors' load
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192 and (hard == resource.RLIM_INFINITY or hard > soft):
        wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    machine = machine_info(pinned)
    z = Sizes.make(quick)
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="severus-anchors-") as tmp:
        anchors, skipped = prepare(names, Path(tmp))
        middle = (len(anchors) + 1) // 2  # severus runs in the middle of the anchors
        for index, anchor in enumerate(anchors):
            if index == middle:
                results["severus"] = severus(quick)
            results[anchor.name] = measure(anchor, Path(tmp), z)
        if "severus" not in results:
            results["severus"] = severus(quick)
        for name, reason in skipped.items():
            results[name] = {"skipped": reason}
    machine["wall_s"] = round(time.perf_counter() - started, 1)
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    order = ["severus", *(name for name in names if name in results)]
    ordered = {name: results[name] for name in order}
    return {
        "anchors": ordered,
        "ratios": ratios(ordered),
        "sizes": asdict(z),
        "machine": machine,
        "quick": quick,
    }


def progress(text: str) -> None:
    print(f"anchors: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anchors", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--anchors",
        default=",".join(DEFAULT),
        help=f"comma-separated, of: {', '.join(NAMES)} (default: {','.join(DEFAULT)})",
    )
    args = parser.parse_args(argv)
    names = tuple(name.strip() for name in args.anchors.split(",") if name.strip())
    report = run(names, args.quick)
    if args.json:
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_tables(report)
    failed = any(result.get("errors") for result in report["anchors"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
