"""Which path a joiner's session took, and when: for the status line and /stats.

A session starts on one path (direct, QUIC, punched, relayed), may move to a better
one without reconnecting (PROTOCOL.md 4.8), and after a reconnect starts on whatever
answered first. The history keeps when each began, so ``/stats`` can say how the
session got where it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from severus_cli.core.client.routes import describe_path

KEEP = 8  # paths remembered; older ones are dropped
DIRECT = {"direct": "now direct", "quic": "now direct", "punched": "now direct (punched)"}


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


@dataclass(slots=True)
class PathHistory:
    """(path, since when) in order, the current one last."""

    paths: list[tuple[str, float]] = field(default_factory=list)

    def now(self, path: str, at: float) -> None:
        """The session is on ``path`` from ``at`` on."""
        self.paths.append((path, at))
        del self.paths[:-KEEP]

    @property
    def current(self) -> str:
        return self.paths[-1][0] if self.paths else ""

    def line(self) -> str:
        """The one line shown when the session moved: "now direct (punched)"."""
        return DIRECT.get(self.current, f"now {self.current}")

    def describe(self) -> str:
        """For /stats: the path now, and the ones before it, with when each started."""
        if not self.paths:
            return "none yet"
        path, since = self.paths[-1]
        text = f"{describe_path(path)} since {_clock(since)}"
        if len(self.paths) > 1:
            before = ", ".join(f"{p} from {_clock(t)}" for p, t in self.paths[:-1])
            text += f" (before: {before})"
        return text
