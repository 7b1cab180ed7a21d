"""Helpers shared by the runner and the load generators: statistics, CPU, affinity."""

from __future__ import annotations

import contextlib
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
    """CPU time of process ``pid``: the time each of its threads has spent on a CPU, in
    nanoseconds, from /proc/<pid>/task/*/schedstat, summed.

    That counts user and system time alike, as utime + stime do, but to the nanosecond
    rather than to the clock tick (10 ms), so short phases and cheap servers measure
    well. Threads that have exited drop out of the sum; none of the servers measured
    starts and ends threads while it works. Without schedstat (an old or unusual kernel),
    utime + stime from /proc/<pid>/stat, in clock ticks.
    """
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            path = f"/proc/{pid}/task/{task}/schedstat"
            with contextlib.suppress(FileNotFoundError, ProcessLookupError), open(path, "rb") as f:
                total += int(f.read().split()[0])  # a thread that just ended is skipped
    except (OSError, ValueError, IndexError):
        total = 0
    if total > 0:
        return total / 1e9
    return process_cpu_ticks(pid)


def process_cpu_ticks(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads, exited ones too), from
    /proc/<pid>/stat, in seconds; its resolution is one clock tick (usually 10 ms)."""
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
