"""The end-to-end formats inside relayed blobs: validated like every other input.

The host sees these only as opaque bytes (``data`` of ``seal``/``relay`` packets); the
receiving participant decodes them here, after decryption where they are encrypted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from severus_cli.core.wire.fields import Blob, Bool, Int, Kind, Name, Text
from severus_cli.errors import RemoteProtocolError

MAX_TEXT_E2E = 16384
MAX_CIPHERTEXT = 65000


@dataclass(frozen=True, slots=True)
class Sealed:
    """A room message as the host relays it: encrypted and signed by its sender."""

    epoch: bytes
    counter: int
    ciphertext: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class SenderKeyGift:
    """A sender key handed to one member over a pairwise session."""

    room: str
    epoch: bytes
    chain: bytes
    counter: int
    verify_key: bytes


@dataclass(frozen=True, slots=True)
class ChatBody:
    """What a room message or a private message says."""

    text: str
    action: bool = False


def _pack(obj: dict[str, Any]) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def _unpack(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_TEXT_E2E * 4,
            max_bin_len=MAX_CIPHERTEXT,
            max_array_len=16,
            max_map_len=16,
            max_ext_len=0,
        )
    except Exception as error:
        raise RemoteProtocolError(f"{what} is not valid msgpack", "e2e_bad") from error
    if type(obj) is not dict:
        raise RemoteProtocolError(f"{what} must be a map", "e2e_bad")
    return obj


def _fields(obj: dict[str, Any], schema: dict[str, Kind], what: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, kind in schema.items():
        if name not in obj:
            raise RemoteProtocolError(f"{what}: missing {name!r}", "e2e_bad")
        try:
            values[name] = kind.check(obj[name])
        except ValueError as error:
            raise RemoteProtocolError(f"{what}.{name} {error}", "e2e_bad") from None
    return values


def encode_sealed(sealed: Sealed) -> bytes:
    return _pack(
        {"e": sealed.epoch, "n": sealed.counter, "c": sealed.ciphertext, "s": sealed.signature}
    )


def decode_sealed(data: bytes) -> Sealed:
    obj = _unpack(data, "a room message")
    values = _fields(obj, {"e": Blob(8), "n": Int(0, 2**63 - 1), "s": Blob(64)}, "sealed")
    ciphertext = obj.get("c")
    if type(ciphertext) is not bytes or not 16 <= len(ciphertext) <= MAX_CIPHERTEXT:
        raise RemoteProtocolError("sealed.c must be ciphertext bytes", "e2e_bad")
    return Sealed(values["e"], values["n"], ciphertext, values["s"])


_BODY = {"text": Text(MAX_TEXT_E2E, 1), "action": Bool()}


def encode_body(body: ChatBody) -> bytes:
    return _pack({"t": "say", "text": body.text, "action": body.action})


def decode_body(data: bytes) -> ChatBody:
    values = _fields(_unpack(data, "a message"), _BODY, "message")
    return ChatBody(values["text"], values["action"])


# Pairwise payloads: a private message, or a sender key for a room.

_GIFT = {
    "room": Name(),
    "epoch": Blob(8),
    "chain": Blob(32),
    "n": Int(0, 2**63 - 1),
    "vk": Blob(32),
}


def encode_direct(body: ChatBody) -> bytes:
    return _pack({"t": "dm", "text": body.text, "action": body.action})


def encode_gift(gift: SenderKeyGift) -> bytes:
    return _pack(
        {
            "t": "skey",
            "room": gift.room,
            "epoch": gift.epoch,
            "chain": gift.chain,
            "n": gift.counter,
            "vk": gift.verify_key,
        }
    )


def decode_pairwise(data: bytes) -> ChatBody | SenderKeyGift:
    obj = _unpack(data, "a private payload")
    tag = obj.get("t")
    if tag == "dm":
        values = _fields(obj, _BODY, "dm")
        return ChatBody(values["text"], values["action"])
    if tag == "skey":
        values = _fields(obj, _GIFT, "skey")
        return SenderKeyGift(
            values["room"], values["epoch"], values["chain"], values["n"], values["vk"]
        )
    raise RemoteProtocolError(f"unknown private payload {tag!r:.40}", "e2e_bad")
