"""What every packet shares: the protocol's size limits, name rules, the
:class:`Packet` base (how a packet becomes a msgpack map) and the rate limits a
host announces. Packets themselves are in client_packets and host_packets, their
encoding and validation in codec; :mod:`severus_cli.core.wire.packets` gathers all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from severus_cli.core.wire.fields import NAME_RE, Absent, Float, Int, Kind

LOBBY = "lobby"
MAX_TEXT = 16384  # characters in one message (checked by clients: the host sees ciphertext)
ROSTER_PAGE = 500  # (nick, key) pairs per welcome or roster packet: fits with 32-char nicks
MAX_DATA = 65000  # bytes of opaque end-to-end data in one seal or relay
MIN_DATA = 512  # the lowest max_data a host may announce
MAX_SHORT = 300  # reasons, error messages, client names
MAX_PACKET = 65535  # one frame (PROTOCOL.md section 2)
# Send-only connections that may share one nick (and key) with its holder at once,
# told apart on the wire by ``via`` 1..MAX_VIA (PROTOCOL.md 4.7); 0 is the holder.
MAX_VIA = 8


def valid_nick(nick: str) -> bool:
    return NAME_RE.fullmatch(nick) is not None


def valid_room(room: str) -> bool:
    return NAME_RE.fullmatch(room) is not None


class Packet:
    """Base of every packet: ``TYPE`` is the wire tag, ``SCHEMA`` the field checks.

    Packets are plain slotted dataclasses, not frozen ones: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, three times slower,
    and the host makes several packets per message it relays. Nothing mutates them.
    """

    TYPE: ClassVar[str]
    SCHEMA: ClassVar[dict[str, Kind]]

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"t": self.TYPE}
        absent = _absent(type(self))
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if absent and name in absent and value == absent[name]:
                continue  # an optional field at its default is left out (older peers)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, RateLimits):
                value = value.to_wire()
            wire[name] = value
        return wire


_FIELD_NAMES: dict[type[Packet], tuple[str, ...]] = {}


def _field_names(cls: type[Packet]) -> tuple[str, ...]:
    """A packet class's field names, in order; cached (``fields()`` is slow per call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    return names


_ABSENT: dict[type[Packet], dict[str, Any]] = {}


def _absent(cls: type[Packet]) -> dict[str, Any]:
    """The optional fields of ``cls`` and their defaults; cached."""
    found = _ABSENT.get(cls)
    if found is None:
        found = _ABSENT[cls] = {
            n: k.default for n, k in cls.SCHEMA.items() if isinstance(k, Absent)
        }
    return found


@dataclass(frozen=True, slots=True)
class RateLimits:
    """What the host enforces, so well-behaved clients can pace themselves."""

    burst: float = 30.0  # messages sent at once
    rate: float = 10.0  # messages per second after that
    max_text: int = MAX_TEXT
    max_data: int = MAX_DATA  # bytes of data in one seal or relay

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"burst": self.burst, "rate": self.rate, "max_text": self.max_text}
        if self.max_data != MAX_DATA:  # optional: only a host with a lower limit sends it
            wire["max_data"] = self.max_data
        return wire


@dataclass(frozen=True)
class Limits(Kind):
    def check(self, value: Any) -> Any:
        if type(value) is not dict or len(value) > 8:
            raise ValueError("must be a map")
        try:
            burst = Float().check(value["burst"])
            rate = Float().check(value["rate"])
            max_text = Int(1, MAX_TEXT).check(value["max_text"])
            max_data = Int(MIN_DATA, MAX_DATA).check(value.get("max_data", MAX_DATA))
        except KeyError as missing:
            raise ValueError(f"lacks {missing}") from None
        if not (1 <= burst <= 1e6 and 0.01 <= rate <= 1e6):
            raise ValueError("burst or rate out of range")
        return RateLimits(burst, rate, max_text, max_data)
