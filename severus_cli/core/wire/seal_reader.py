"""Read a ``seal`` written the way clients write it, without msgpack's generic decoder.

A host decodes every room message it relays, and the generic path (msgpack into a map,
then the packet's field checks) was a third of its cost per message. Clients encode a
``seal`` as one fixed layout: a map of four entries in the order ``t``, ``id``,
``room``, ``data``. :func:`read_seal` reads exactly that layout, byte by byte, and runs
the same field checks as the generic decoder (``Seal.SCHEMA``; the room name's on its
bytes). Anything else, another key order, another integer width, a field that fails
its check or a byte too many, makes it return None, and the generic decoder, which says
what is wrong, decides. So it never accepts what :func:`~codec.decode` refuses, and
gives the same packet for what it accepts (tests/test_seal_reader.py holds both).
"""

from __future__ import annotations

from typing import Final

from severus_cli.core.wire.client_packets import Seal

SEAL_HEAD: Final = b"\x84\xa1t\xa4seal\xa2id"  # {"t": "seal", "id": ...
_ROOM_KEY: Final = b"\xa4room"
_DATA_KEY: Final = b"\xa4data"
_CHECK_ID: Final = Seal.SCHEMA["id"].check
_CHECK_DATA: Final = Seal.SCHEMA["data"].check
# The bytes of a room name (fields.NAME_RE: 1-32 of letters, digits, ``_ . -``), checked
# here on the bytes rather than by the regex, which costs more than the rest of the read.
_NAME_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_IS_NAME_BYTE: Final = bytes(byte in _NAME_CHARS for byte in range(256))  # 1 or 0, by byte
_NAME_MAX: Final = 32


def _has(data: bytes, at: int, key: bytes) -> bool:
    """Whether ``key`` is in ``data`` at ``at`` (no slice: nothing to allocate; IndexError
    if ``data`` ends first)."""
    return all(data[at + index] == key[index] for index in range(len(key)))


def _is_name(data: bytes, at: int, size: int) -> bool:
    """Whether the ``size`` bytes at ``at`` are a name (IndexError if ``data`` ends first)."""
    if not 1 <= size <= _NAME_MAX:
        return False
    return all(_IS_NAME_BYTE[data[index]] for index in range(at, at + size))


def _uint(data: bytes, at: int, size: int) -> int:
    """The big-endian unsigned integer of ``size`` bytes at ``at`` (IndexError if short)."""
    value = 0
    for index in range(at, at + size):
        value = (value << 8) | data[index]
    return value


def read_seal(data: bytes) -> Seal | None:
    """The ``seal`` in ``data`` if it has the clients' layout and passes every check;
    otherwise None, for the generic decoder to judge."""
    if not data.startswith(SEAL_HEAD):  # (its data's bound keeps it within a packet)
        return None
    try:
        at = len(SEAL_HEAD)
        tag = data[at]
        if tag <= 0x7F:  # positive fixint
            ident, at = tag, at + 1
        elif 0xCC <= tag <= 0xCF:  # uint 8, 16, 32, 64
            size = 1 << (tag - 0xCC)
            ident, at = _uint(data, at + 1, size), at + 1 + size
        else:
            return None
        if not _has(data, at, _ROOM_KEY):
            return None
        at += len(_ROOM_KEY)
        tag = data[at]
        if 0xA0 <= tag <= 0xBF:  # fixstr
            size, at = tag & 0x1F, at + 1
        elif tag == 0xD9:  # str 8
            size, at = data[at + 1], at + 2
        else:
            return None
        if not _is_name(data, at, size):
            return None
        room = data[at : at + size].decode()  # the name's bytes are ASCII
        at += size
        if not _has(data, at, _DATA_KEY):
            return None
        at += len(_DATA_KEY)
        tag = data[at]
        if not 0xC4 <= tag <= 0xC6:  # bin 8, 16, 32
            return None
        width = 1 << (tag - 0xC4)
        size, at = _uint(data, at + 1, width), at + 1 + width
        if at + size != len(data):  # short, or bytes after the map
            return None
        body = data[at:]
        return Seal(_CHECK_ID(ident), room, _CHECK_DATA(body))
    except (IndexError, ValueError):
        return None
