"""Helpers shared by the runner and the load generators: statistics, CPU, affinity."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

HOST_CPU = 0  # the host process runs here
LOAD_CPU = 1  # the runner, load generators and CLI processes run here

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc/<pid>/stat.

    The resolution is one clock tick (usually 10 ms), so phases are made long enough for
    that not to matter.
    """
    with open(f"/proc/{pid}/stat", "rb") as stat:
        data = stat.read()
    # The command name (field 2) may contain spaces and parentheses: split after its end.
    fields = data[data.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def can_pin() -> bool:
    """True when the host and the load can each have a CPU of their own."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return False
    return HOST_CPU in allowed and LOAD_CPU in allowed


def pin(pid: int, cpu: int) -> bool:
    """Pin ``pid`` (0: this process) to ``cpu``; False when that is not possible."""
    try:
        os.sched_setaffinity(pid, {cpu})
    except (AttributeError, OSError, ValueError):
        return False
    return True


def process_rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB, from /proc/<pid>/status (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
