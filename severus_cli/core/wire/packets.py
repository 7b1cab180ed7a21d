"""Packets: msgpack maps with a type tag ``t``, every field typed and bounded.

Each packet is a slotted dataclass. :func:`decode` validates a packet received in one
direction (client-to-host or host-to-client) and raises RemoteProtocolError with a
machine-readable code for anything malformed, so one hostile peer only ever costs
its own connection. PROTOCOL.md documents every packet listed here.

The one place to import them from: the definitions live in packet_base (limits and
the base class), client_packets, host_packets and codec (encoding, validation).
"""

from __future__ import annotations

from severus_cli.core.wire.client_packets import (
    Bye,
    Hello,
    Join,
    ListRooms,
    Names,
    Nick,
    Part,
    Ping,
    Relay,
    Seal,
    Whois,
)
from severus_cli.core.wire.codec import (
    CAPS,
    CLIENT_PACKETS,
    HOST_PACKETS,
    MOVING,
    SEND_ONLY,
    decode,
    decode_from_client,
    decode_from_host,
    encode,
    encode_ok,
    encode_relayed,
    encode_sealed,
)
from severus_cli.core.wire.host_packets import (
    Error,
    Joined,
    Left,
    Moved,
    Ok,
    Pong,
    Relayed,
    Renamed,
    RoomList,
    Roster,
    Sealed,
    Users,
    Welcome,
    WhoisReply,
)
from severus_cli.core.wire.packet_base import (
    LOBBY,
    MAX_DATA,
    MAX_PACKET,
    MAX_SHORT,
    MAX_TEXT,
    MAX_VIA,
    MIN_DATA,
    ROSTER_PAGE,
    Limits,
    Packet,
    RateLimits,
    valid_nick,
    valid_room,
)

__all__ = [
    "CAPS",
    "CLIENT_PACKETS",
    "HOST_PACKETS",
    "LOBBY",
    "MAX_DATA",
    "MAX_PACKET",
    "MAX_SHORT",
    "MAX_TEXT",
    "MAX_VIA",
    "MIN_DATA",
    "MOVING",
    "ROSTER_PAGE",
    "SEND_ONLY",
    "Bye",
    "Error",
    "Hello",
    "Join",
    "Joined",
    "Left",
    "Limits",
    "ListRooms",
    "Moved",
    "Names",
    "Nick",
    "Ok",
    "Packet",
    "Part",
    "Ping",
    "Pong",
    "RateLimits",
    "Relay",
    "Relayed",
    "Renamed",
    "RoomList",
    "Roster",
    "Seal",
    "Sealed",
    "Users",
    "Welcome",
    "Whois",
    "WhoisReply",
    "decode",
    "decode_from_client",
    "decode_from_host",
    "encode",
    "encode_ok",
    "encode_relayed",
    "encode_sealed",
    "valid_nick",
    "valid_room",
]
