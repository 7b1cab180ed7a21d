"""What the host core decides (actions for the transport layer) and what it enforces.

Split from :mod:`severus_cli.core.host.core` so the routing rules stay short; that module
re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from severus_cli.core.limits.ratelimit import TokenBucket
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.framing import MAX_FRAME


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
# Bytes of data each message token also allows (PROTOCOL.md 4.3): by default 80 KiB/s
# after a 240 KiB burst, what one sender can make the host queue for any one recipient.
# Well under a 2 Mbit/s link (about 240 KB/s of payload), and a burst well under
# MAX_BACKLOG, so no sender gets the others dropped as too slow. Derived from the
# announced message limits, so a client paces itself with no more on the wire.
BYTES_PER_MESSAGE = 8192


def byte_allowance(burst: float, rate: float, message_limit: int) -> tuple[float, float] | None:
    """The byte bucket's (burst, rate) for these message limits; None: no byte limit.
    The burst always holds one message of the largest size."""
    if rate >= UNLIMITED_RATE:
        return None
    return max(burst * BYTES_PER_MESSAGE, float(message_limit)), rate * BYTES_PER_MESSAGE


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
    # Every other request (join, part, names, rooms, whois, ping): answered to the
    # asker only, but each costs the host a decode and a reply.
    request_burst: float = 100.0  # a reconnect asks `names` for up to 64 rooms at once
    request_per_second: float = 10.0
    # Joins and parts that others hear (each makes every member rotate its key).
    membership_burst: float = 5.0
    membership_per_second: float = 1.0
    # Requests refused as over a limit before the participant is disconnected: a client
    # that paces itself is never refused, so these are a flood's and bound its cost.
    strike_burst: float = 200.0
    strike_per_second: float = 20.0
    max_rooms_per_user: int = 16  # rooms besides the lobby one participant may be in
    # Rooms one source address (an IPv6 /64 as one) may hold: created and still in,
    # or alone in (room_shares). None: max_rooms // 8; 0: no cap.
    max_rooms_per_ip: int | None = None
    max_data: int = p.MAX_DATA  # bytes of end-to-end ciphertext in one message
    motd: str = ""
    max_frame: int = MAX_FRAME  # bytes in one frame a participant sends
    max_backlog: int = MAX_BACKLOG
    max_per_ip: int = 16  # concurrent connections from one address (0: no cap)
    # New participants registered per source address (an IPv6 /64 as one), each of
    # which everyone hears join and leave: a burst, then one every 2 s (0: no limit).
    registration_burst: float = 10.0
    registration_per_second: float = 0.5
    allow: frozenset[str] | None = None  # fingerprints let in (--allow); None: anyone

    @property
    def message_limit(self) -> int:
        """Bytes of data in one message: what fits in a frame, and no more than allowed."""
        return min(self.max_data, self.max_frame - FRAME_OVERHEAD)

    @property
    def byte_limit(self) -> tuple[float, float] | None:
        """Burst and rate of bytes of data in seals and relays (None: unlimited)."""
        return byte_allowance(self.rate_burst, self.rate_per_second, self.message_limit)


@dataclass(eq=False, slots=True)
class Participant:
    conn: int
    key: bytes
    accepted_at: float
    last_seen: float
    nick: str = ""
    registered_at: float = 0.0
    rooms: dict[str, None] = field(default_factory=dict)  # casefolded names, ordered
    caps: tuple[str, ...] = ()  # what its client said it understands (hello caps)
    send_only: bool = False  # its hello said it only sends: others see no join or leave
    # A send-only connection under the nick (and key) of another one, the holder
    # (PROTOCOL.md 4.7): ``via`` 1..MAX_VIA tells it apart, ``holder`` is the holder's
    # conn; on a holder, ``secondaries`` maps via -> conn.
    via: int = 0
    holder: int = 0
    secondaries: dict[int, int] = field(default_factory=dict)
    yielded: bool = False  # a send that made way for its chat: ignored until it leaves
    # Allowances (PROTOCOL.md 4.3), made when the connection authenticates.
    bucket: TokenBucket | None = None  # room and private messages
    control: TokenBucket | None = None  # end-to-end handshakes and key hand-outs
    volume: TokenBucket | None = None  # bytes of data in both; None: no byte limit
    requests: TokenBucket | None = None  # join, part, names, rooms, whois, ping
    membership: TokenBucket | None = None  # joins and parts that change a room
    strikes: TokenBucket | None = None  # refusals left before the connection is closed

    @property
    def registered(self) -> bool:
        return bool(self.nick)


@dataclass(eq=False, slots=True)
class Room:
    name: str
    members: dict[int, None] = field(default_factory=dict)  # conn ids, join order
    source: str = ""  # the source address (or /64) of whoever created it
    holes: int = 0  # members removed since ``members`` was last rebuilt

    def remove(self, conn: int) -> None:
        """``conn`` leaves. A dict keeps a hole per key deleted until it grows again,
        and every message copies the members out of it: a lobby that once held 1,000
        and now holds 2 would walk 1,000 slots per message. Rebuilt once the holes
        outnumber the members, which costs O(1) per leave over time."""
        del self.members[conn]
        self.holes += 1
        if self.holes > len(self.members) + 8:
            self.members = dict(self.members)
            self.holes = 0
