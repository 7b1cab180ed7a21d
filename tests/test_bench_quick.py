"""The benchmark harness runs end to end and reports every scenario.

No timing is asserted (CI machines are noisy): only that ``python -m bench --quick
--json`` starts real hosts, drives them, and reports a positive number for every figure.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"handshake", "relay", "latency", "fanout", "memory", "startup", "e2e"}
BOTH_MODES = {"handshake", "relay", "latency"}


@pytest.mark.timeout(600)  # a smoke test: its time is no assertion, and CI may be busy
def test_quick_benchmark_reports_every_scenario() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    assert set(report["scenarios"]) == SCENARIOS
    assert report["machine"]["logical_cpus"] >= 1
    for name, scenario in report["scenarios"].items():
        assert "error" not in scenario, f"{name}: {scenario.get('error')}"
        metrics = scenario["metrics"]
        assert metrics, name
        for key, metric in metrics.items():
            modes = [mode for mode in ("direct", "quic") if mode in metric]
            assert "direct" in modes, f"{name}.{key} has no direct figure"
            for mode in modes:
                value = metric[mode]
                assert isinstance(value, int | float), f"{name}.{key}.{mode}: {value!r}"
                assert math.isfinite(value) and value > 0, f"{name}.{key}.{mode} = {value}"
        if name in BOTH_MODES:
            assert all("quic" in metric for metric in metrics.values()), name


def test_e2e_cost_quick_reports_every_room_size() -> None:
    """The end-to-end cost bench runs and reports positive figures for 2, 50, 200."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.e2e_cost", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=500,
        check=True,
    )
    results = json.loads(done.stdout)["e2e_cost"]
    assert set(results) == {"2", "50", "200"}
    for row in results.values():
        assert all(value > 0 for value in row.values())


def test_host_cost_quick_reports_every_shape() -> None:
    """The in-process host cost bench drives every shape through the real host code
    (every receiver registered, every connect closed again, or it fails) and reports
    positive figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.host_cost", "--quick", "--rounds", "1", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=500,
        check=True,
    )
    results = json.loads(done.stdout)
    assert set(results) == {"relay", "relay1", "room", "fanout", "piped", "connect"}
    assert all(value > 0 for value in results.values())


@pytest.mark.timeout(600)
def test_anchors_quick_report_every_shape_for_severus_and_the_ceiling() -> None:
    """bench.anchors runs the same shapes against the ceiling forwarder (and any IRC
    server installed) and reports positive figures for each; no timing is asserted."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.anchors", "--quick", "--json", "--anchors", "ceiling"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    anchors: dict[str, Any] = json.loads(done.stdout)["anchors"]
    assert {"severus", "ceiling"} <= set(anchors)
    shapes = set(anchors["ceiling"]["metrics"])
    assert {"relay_us_per_msg", "pipelined_us_per_delivery", "connect_cpu_ms"} <= shapes
    for name in ("severus", "ceiling"):
        for key in shapes:
            value = anchors[name]["metrics"][key]
            assert isinstance(value, int | float) and math.isfinite(value), f"{name}.{key}"
            assert value > 0, f"{name}.{key} = {value}"
