"""What the host core decides (actions for the transport layer) and what it enforces.

Split from :mod:`severus_cli.core.host` so the routing rules stay short; that module
re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from severus_cli.core import packets as p
from severus_cli.core.framing import MAX_FRAME
from severus_cli.core.ratelimit import TokenBucket


# Actions are made for every packet handled and read once: plain slotted classes, as
# packets are (see packets.Packet), because frozen ones are three times slower to make.
@dataclass(slots=True)
class Send:
    conn: int
    data: bytes


@dataclass(slots=True)
class Broadcast:
    conns: tuple[int, ...]
    data: bytes


@dataclass(slots=True)
class Close:
    """Close ``conn`` after flushing what was queued for it."""

    conn: int
    reason: str


@dataclass(slots=True)
class Log:
    """A line for the host operator (never message content)."""

    text: str


Action = Send | Broadcast | Close | Log


UNLIMITED_RATE = 1e6  # the largest rate the protocol's limits field allows
MIN_FRAME = 1024  # smaller and a room message of a few hundred characters no longer fits
FRAME_OVERHEAD = 128  # a seal or relay packet around its data, with room to spare
MAX_BACKLOG = 1 << 20  # unsent bytes for one participant before it is dropped as too slow


@dataclass
class HostConfig:
    """Every limit the host enforces; the defaults are the documented ones (README)."""

    host_nick: str = ""
    max_clients: int = 256
    max_rooms: int = 256
    max_text: int = p.MAX_TEXT
    handshake_timeout: float = 10.0
    idle_timeout: float = 30.0
    rate_burst: float = 30.0
    rate_per_second: float = 10.0
    control_burst: float = 5000.0  # e2e handshakes and keys: a 200-member room rekeying
    control_per_second: float = 1000.0
    max_data: int = p.MAX_DATA  # bytes of end-to-end ciphertext in one message
    motd: str = ""
    max_frame: int = MAX_FRAME  # bytes in one frame a participant sends
    max_backlog: int = MAX_BACKLOG
    max_per_ip: int = 16  # concurrent connections from one address (0: no cap)
    allow: frozenset[str] | None = None  # fingerprints let in (--allow); None: anyone

    @property
    def message_limit(self) -> int:
        """Bytes of data in one message: what fits in a frame, and no more than allowed."""
        return min(self.max_data, self.max_frame - FRAME_OVERHEAD)


@dataclass(eq=False, slots=True)
class Participant:
    conn: int
    key: bytes
    accepted_at: float
    last_seen: float
    nick: str = ""
    registered_at: float = 0.0
    rooms: dict[str, None] = field(default_factory=dict)  # casefolded names, ordered
    bucket: TokenBucket | None = None  # room and private messages
    control: TokenBucket | None = None  # end-to-end handshakes and key hand-outs

    @property
    def registered(self) -> bool:
        return bool(self.nick)


@dataclass(eq=False, slots=True)
class Room:
    name: str
    members: dict[int, None] = field(default_factory=dict)  # conn ids, join order
