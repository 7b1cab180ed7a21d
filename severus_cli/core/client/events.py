"""What the client core tells the user interface.

Every event carries ``ts`` (Unix seconds) so renderers can stamp lines. Text fields
hold exactly what a peer sent: renderers must show them literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LOBBY = "lobby"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A line said in a room (the lobby is a room)."""

    ts: float
    sender: str
    room: str
    text: str
    action: bool = False  # /me
    own: bool = False


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A private message; ``own`` means we sent it to ``peer``."""

    ts: float
    peer: str
    text: str
    action: bool = False
    own: bool = False


@dataclass(frozen=True, slots=True)
class Joined:
    """``nick`` entered ``room``; for the lobby this means they connected."""

    ts: float
    nick: str
    room: str
    count: int
    quiet: bool = False  # a send-only connection (PROTOCOL.md 4.7): shown as no line


@dataclass(frozen=True, slots=True)
class Left:
    """``nick`` left ``room``; for the lobby this means they disconnected."""

    ts: float
    nick: str
    room: str
    count: int
    reason: str = ""
    quiet: bool = False  # a send-only connection (PROTOCOL.md 4.7): shown as no line


Level = Literal["info", "warn", "error"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A system line for the user: help, confirmations, warnings, errors."""

    ts: float
    text: str
    level: Level = "info"


@dataclass(frozen=True, slots=True)
class Welcome:
    """Registration succeeded."""

    ts: float
    nick: str
    host: str  # the host's own nick, or "" when the host does not chat
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomChanged:
    """Plain lines now go to ``room``."""

    ts: float
    room: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserList:
    ts: float
    room: str
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomList:
    ts: float
    rooms: tuple[tuple[str, int], ...]  # (name, member count)


@dataclass(frozen=True, slots=True)
class WhoisInfo:
    ts: float
    nick: str
    fingerprint: str
    rooms: tuple[str, ...]
    connected_for: float  # seconds


@dataclass(frozen=True, slots=True)
class PingResult:
    ts: float
    rtt_ms: float


@dataclass(frozen=True, slots=True)
class HostStats:
    ts: float
    clients: int
    rooms: int
    bytes_in_per_s: float
    bytes_out_per_s: float
    uptime: float


@dataclass(frozen=True, slots=True)
class Membership:
    """Who the host says is in ``room`` when we did not see them join: a room it put us
    (back) in, more of the lobby after the welcome, or the lobby after a reconnect.
    ``added`` are shown so nobody gets our keys unseen; with ``after_reconnect`` they and
    ``removed`` compare with who was there before, and ``newcomers`` (among ``added``)
    were not connected at all then. Our own nick is never in ``added`` or ``removed``."""

    ts: float
    room: str
    members: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    newcomers: tuple[str, ...] = ()
    after_reconnect: bool = False


@dataclass(frozen=True, slots=True)
class Renamed:
    """``old`` is now called ``new``, with the same identity key; ``own``: we are."""

    ts: float
    old: str
    new: str
    own: bool = False


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The session ended; ``reason`` says why."""

    ts: float
    reason: str


UiEvent = (
    ChatMessage
    | DirectMessage
    | Joined
    | Left
    | Notice
    | Welcome
    | RoomChanged
    | UserList
    | RoomList
    | WhoisInfo
    | PingResult
    | HostStats
    | Membership
    | Renamed
    | Disconnected
)
