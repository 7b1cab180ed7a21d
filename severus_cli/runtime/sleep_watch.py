"""Notice when this process was not running for a while (a suspended laptop, ``kill
-STOP``): the timer loops run every fraction of a second, so a much longer gap between
two of their turns means the whole process slept. Pure: times in, a verdict out."""

from __future__ import annotations

SLEPT_AFTER = 5.0  # seconds without a turn that count as having slept, not as load


class SleepWatch:
    """Fed the wall clock at every turn of a timer loop; reports how long a gap was
    when it is long enough to mean the process slept. The wall clock, not a monotonic
    one: Linux stops ``CLOCK_MONOTONIC`` during a system suspend, and every timeout in
    the cores is measured on the wall clock anyway."""

    def __init__(self, now: float, threshold: float = SLEPT_AFTER) -> None:
        self._last = now
        self._threshold = threshold

    def check(self, now: float) -> float | None:
        """Seconds slept since the previous turn, or None if this turn came in time."""
        gap, self._last = now - self._last, now
        return gap if gap >= self._threshold else None


def resumed_notice(slept: float) -> str:
    """What the host's own chat says once, on waking up."""
    return (
        f"this host was suspended for {slept:.0f} s; the chat goes on, and participants "
        "who lost it reconnect by themselves"
    )
