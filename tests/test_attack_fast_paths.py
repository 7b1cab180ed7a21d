"""Hostile bytes and careless edits against the host's fast paths: the byte-level seal
reader (core/wire/seal_reader.py) and the compiled transport glue (what types reach it).

Every test runs interpreted and, with ``SEVERUS_COMPILED`` set to a build, against the
mypyc extensions (tests/test_compiled_core.py runs this file so), where
``decode_from_client`` reads seals byte by byte. The reader may decline anything; it may
never accept what the generic decoder refuses, read a packet differently, or raise.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from severus_cli import _compiled
from severus_cli.core.host.core import UNLIMITED_RATE, Broadcast, Close, HostConfig, HostCore
from severus_cli.core.host.core import Send as SendAction
from severus_cli.core.trust.identity import Identity, create_identity, tls_paths
from severus_cli.core.trust.identity_format import digest_fingerprint, fingerprint
from severus_cli.core.trust.ticket import Endpoint
from severus_cli.core.wire import codec, seal_reader
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.fields import MAX_ID, NAME_RE, Name
from severus_cli.core.wire.seal_reader import SEAL_HEAD, _is_name, read_seal
from severus_cli.errors import RemoteProtocolError
from severus_cli.net.client_link import ClientLink
from severus_cli.net.host_loop import HostLoop, Link
from severus_cli.net.quic import serve_quic
from severus_cli.net.tcp import serve_tcp
from severus_cli.net.tls import server_context
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import open_link
from tests.event_loops import LOOPS, run_on
from tests.test_seal_reader import generic
from tests.test_seal_reader import layout as seal

COMPILED = _compiled.in_use()


def test_the_seal_reader_runs_exactly_where_the_compiled_core_does() -> None:
    """The whole build or none of it; and a build that was asked for and matches is used."""
    reader_compiled = not (seal_reader.__file__ or "").endswith(".py")
    assert reader_compiled is COMPILED
    assert codec.READ_SEALS is COMPILED
    setting = os.environ.get(_compiled.ENV, "")
    if setting not in ("", "0"):
        directory = _compiled.DEFAULT_DIR if setting == "1" else Path(setting)
        usable = not isinstance(_compiled.finder_for(directory), str)
        assert COMPILED is usable


# --- the reader against the generic decoder ----------------------------------------------


def judged(wire: bytes) -> p.Seal | None:
    """Read ``wire`` every way the host may; they must agree, and nothing may raise
    but the decoder's own refusal."""
    fast = read_seal(wire)  # any exception here is a bug a peer can trigger
    slow = generic(wire)
    if fast is not None:
        assert slow == fast, (wire[:80], fast, slow)
        assert type(fast.id) is int and type(fast.room) is str and type(fast.data) is bytes
        assert fast.room.isascii()
    try:
        host = codec.decode_from_client(wire)
    except RemoteProtocolError:
        host = None
    assert host == slow
    if host is not None:
        assert type(host) is type(slow)
    return fast


ROOM = b"\xa5lobby"
DATA = b"\xc4\x01x"


def ids(value: int) -> list[bytes]:
    """``value`` in every msgpack integer width that holds it, signed ones too."""
    out = [msgpack.packb(value)]
    for tag, fmt, low, high in (
        (0xCC, ">B", 0, 2**8 - 1),
        (0xCD, ">H", 0, 2**16 - 1),
        (0xCE, ">I", 0, 2**32 - 1),
        (0xCF, ">Q", 0, 2**64 - 1),
        (0xD0, ">b", -(2**7), 2**7 - 1),
        (0xD1, ">h", -(2**15), 2**15 - 1),
        (0xD2, ">i", -(2**31), 2**31 - 1),
        (0xD3, ">q", -(2**63), 2**63 - 1),
    ):
        if low <= value <= high:
            out.append(bytes([tag]) + struct.pack(fmt, value))
    return out


BOUNDARIES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, MAX_ID]
BEYOND = [MAX_ID + 1, 2**32 + 5, 2**63 - 1, 2**63, 2**64 - 1, -1, -(2**31), -(2**63)]


@pytest.mark.parametrize("value", BOUNDARIES + BEYOND)
def test_ids_at_every_boundary_and_width(value: int) -> None:
    for ident in ids(value):
        wire = seal(ident, ROOM, DATA)
        fast = judged(wire)
        allowed = 0 <= value <= MAX_ID
        assert (generic(wire) is not None) is allowed
        if fast is not None:
            assert fast.id == value
        unsigned = ident[0] <= 0x7F or 0xCC <= ident[0] <= 0xCF
        if COMPILED and allowed and unsigned:  # the widths the reader promises to read
            assert fast is not None


# A room name is ASCII letters, digits and ``_ . -``: every one of these is something
# else that an encoder, a casefold or a lenient UTF-8 decoder could turn into a name.
ROOMS = [
    "é".encode(),
    "e\u0301".encode(),  # e + combining acute
    "\uff41".encode(),  # fullwidth a
    "\u212a".encode(),  # Kelvin sign: casefolds to k
    "\u0131".encode(),  # dotless i
    "ǅ".encode(),
    b"\xc1\xa1",  # overlong a
    b"\xc0\xae",  # overlong .
    b"\xe0\x80\xae",  # overlong ., three bytes
    b"\xf0\x80\x80\xae",  # overlong ., four bytes
    b"\xed\xa0\x80",  # a surrogate
    b"lob\x00by",
    b"lobby\n",
    b"lob by",
    b"lobby\xff",
    b"a" * 33,
    b"",
]


@pytest.mark.parametrize("raw", ROOMS, ids=repr)
def test_no_room_that_is_not_a_name_is_read(raw: bytes) -> None:
    for room in (bytes([0xA0 | len(raw)]) if len(raw) < 32 else b"", b"\xd9" + bytes([len(raw)])):
        if room:
            assert judged(seal(b"\x05", room + raw, DATA)) is None


def test_room_lengths_that_lie_or_use_other_widths() -> None:
    name = b"lobby"
    for header in (b"\xa4", b"\xa6", b"\xd9\x04", b"\xd9\x06", b"\xd9\xff", b"\xda\x00\x05"):
        judged(seal(b"\x05", header + name, DATA))
    assert judged(seal(b"\x05", b"\xda\x00\x05lobby", DATA)) is None  # str 16: not read
    assert generic(seal(b"\x05", b"\xda\x00\x05lobby", DATA)) is not None
    assert judged(seal(b"\x05", b"\xc4\x05lobby", DATA)) is None  # a bin as the room


@pytest.mark.parametrize("tag", [0xC4, 0xC5, 0xC6])
def test_data_lengths_that_lie_overflow_or_are_empty(tag: int) -> None:
    width = 1 << (tag - 0xC4)
    most = (1 << (8 * width)) - 1
    for size, present in [
        (0, 0),
        (1, 0),
        (1, 1),
        (2, 1),
        (1, 2),
        (min(most, p.MAX_DATA), min(most, p.MAX_DATA)),
        (min(most, p.MAX_DATA + 1), min(most, p.MAX_DATA + 1)),
        (most, 3),
        (most, 0),
    ]:
        data = bytes([tag]) + size.to_bytes(width, "big") + b"x" * present
        wire = seal(b"\x05", ROOM, data)
        fast = judged(wire)
        if fast is not None:
            assert len(fast.data) == size == present and 1 <= size <= p.MAX_DATA
    for other in (0xC7, 0xC8, 0xC9, 0xD4, 0xD8, 0xA1, 0x90, 0xC0):  # ext, str, array, nil
        assert judged(seal(b"\x05", ROOM, bytes([other]) + b"\x01\x01x")) is None


def valid_seals() -> list[bytes]:
    return [
        p.encode(p.Seal(5, "lobby", b"x")),
        p.encode(p.Seal(MAX_ID, "r" * 32, os.urandom(300))),
        seal(b"\xcf" + struct.pack(">Q", 7), b"\xd9\x01r", b"\xc6\x00\x00\x00\x02xy"),
        seal(b"\xcd\x01\x00", b"\xa3a.-", b"\xc5\x00\x03abc"),
    ]


@pytest.mark.parametrize("wire", valid_seals(), ids=lambda w: w[11:14].hex())
def test_truncated_at_every_offset_and_grown_at_the_end(wire: bytes) -> None:
    assert judged(wire) is not None or not COMPILED
    for cut in range(len(wire)):
        assert judged(wire[:cut]) is None
    for tail in (b"\x00", b"\xc0", b"x", wire, b"\x00" * 70_000):
        assert judged(wire + tail) is None


@pytest.mark.parametrize("wire", valid_seals()[::3], ids=["fixint", "uint64"])
def test_every_single_byte_changed_inserted_or_dropped(wire: bytes) -> None:
    for at in range(len(wire)):
        for value in range(256):
            judged(wire[:at] + bytes([value]) + wire[at + 1 :])
            if value % 17 == 0:
                judged(wire[:at] + bytes([value]) + wire[at:])
        judged(wire[:at] + wire[at + 1 :])


def packed_map(header: bytes, *pairs: tuple[object, object]) -> bytes:
    return header + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in pairs)


def test_duplicated_and_swapped_keys_and_other_map_headers() -> None:
    base = (("t", "seal"), ("id", 5), ("room", "lobby"), ("data", b"x"))
    cases = [
        packed_map(b"\x85", *base, ("room", "other")),  # the last room wins
        packed_map(b"\x85", *base, ("t", "nick")),  # the last type wins
        packed_map(b"\x84", ("t", "seal"), ("id", 5), ("id", 6), ("data", b"x")),
        packed_map(b"\x84", ("t", "seal"), ("id", 5), ("data", b"x"), ("room", "lobby")),
        packed_map(b"\xde\x00\x04", *base),  # map 16
        packed_map(b"\xdf\x00\x00\x00\x04", *base),  # map 32
        packed_map(b"\x83", *base),  # claims three entries, has four
    ]
    for wire in cases:
        assert judged(wire) is None


def test_more_than_a_frame_is_never_read() -> None:
    body = b"x" * 70_000
    wire = seal(b"\x05", ROOM, b"\xc6" + struct.pack(">I", len(body)) + body)
    assert judged(wire) is None
    with pytest.raises(RemoteProtocolError) as refused:
        codec.decode_from_client(wire)
    assert refused.value.code == "too_large"


# --- the same bytes through the compiled host core: an error, never a traceback ----------


def registered_core() -> tuple[HostCore, int, int]:
    core = HostCore(HostConfig(rate_burst=UNLIMITED_RATE, rate_per_second=UNLIMITED_RATE), 0.0)
    conns = []
    for index, nick in enumerate(("eve", "bob"), start=1):
        core.accept(index, 0.0)
        core.authenticated(index, bytes([index]) * 32, 0.0)
        core.receive(index, p.encode(p.Hello(nick, "test", ())), 0.0)
        conns.append(index)
    return core, conns[0], conns[1]


def test_the_host_core_answers_hostile_seals_without_raising() -> None:
    first = valid_seals()[0]
    hostile = [seal(ident, ROOM, DATA) for value in BEYOND for ident in ids(value)]
    hostile += [seal(b"\x05", bytes([0xA0 | len(r)]) + r, DATA) for r in ROOMS if len(r) < 32]
    hostile += [first[:cut] for cut in range(len(first))]
    for wire in hostile:
        core, eve, bob = registered_core()
        actions = core.receive(eve, wire, 1.0)  # must not raise
        assert any(isinstance(a, Close) and a.conn == eve for a in actions), wire
        assert not any(isinstance(a, Broadcast) for a in actions)
    core, eve, bob = registered_core()
    big = os.urandom(p.MAX_DATA)
    actions = core.receive(eve, p.encode(p.Seal(MAX_ID, "lobby", big)), 1.0)
    sent = [a for a in actions if isinstance(a, Broadcast)]
    assert [a.conns for a in sent] == [(bob,)]
    relayed = p.decode_from_host(sent[0].data)
    assert isinstance(relayed, p.Sealed) and relayed.data == big and relayed.room == "lobby"
    oks = [p.decode_from_host(a.data) for a in actions if isinstance(a, SendAction)]
    assert oks == [p.Ok(MAX_ID)]


# --- careless edits the reader would not notice ------------------------------------------


def test_the_reader_s_name_rule_is_the_schema_s_for_every_byte_and_length() -> None:
    """The reader checks names on bytes, apart from fields.NAME_RE: an edit to one alone
    fails here for any byte value and any length, not only where hypothesis looks."""
    for value in range(256):
        raw = bytes([value])
        assert _is_name(raw, 0, 1) == (NAME_RE.fullmatch(raw.decode("latin-1")) is not None)
    for size in range(45):
        raw = b"a" * size
        assert _is_name(raw, 0, size) == (NAME_RE.fullmatch("a" * size) is not None)


def test_the_reader_s_assumptions_about_the_seal_packet_hold() -> None:
    """It builds ``Seal(id, room, data)`` positionally from these three fields, writes
    no default for a fourth and checks the room as a Name: a new field or a new room
    rule must change it too (a new required field would make it raise TypeError)."""
    assert p.Seal.TYPE == "seal"
    assert list(p.Seal.SCHEMA) == ["id", "room", "data"]
    assert type(p.Seal.SCHEMA["room"]) is Name
    assert p.encode(p.Seal(1, "a", b"x")).startswith(SEAL_HEAD)


# --- real transports hand the host exact bytes (mypyc checks ``bytes`` arguments) --------


class Spy:
    """The host loop behind the transport, recording the type of every chunk and packet."""

    def __init__(self, identity: Identity) -> None:
        config = HostConfig(rate_burst=UNLIMITED_RATE, rate_per_second=UNLIMITED_RATE)
        self.types: set[type[Any]] = set()
        self.errors: list[str] = []
        self.loop = HostLoop(
            HostCore(config, time.time()),
            identity.static_private,
            identity.cert_hash,
            log=self.errors.append,
            trace=lambda packet: self.types.add(type(packet)),
        )

    @property
    def core(self) -> HostCore:  # what serve_quic reads its limits from
        return self.loop.core

    def open(self, link: Link, waited: float = 0.0, binding: bytes = b"", source: str = "") -> int:
        return self.loop.open(link, waited, binding, source)

    def feed(self, conn: int, data: bytes) -> None:
        self.types.add(type(data))
        self.loop.feed(conn, data)

    def lost(self, conn: int, reason: str = "") -> None:
        self.loop.lost(conn, reason)


async def connect(tmp: Path, name: str, host: Identity, endpoint: Endpoint) -> ClientLink:
    (tmp / name).mkdir()
    identity = create_identity(tmp / name)
    policy = HostPolicy(tmp / name, "ticket", expected=fingerprint(host.static_public))
    policy.remember, policy.cert = False, digest_fingerprint(host.cert_hash)
    link = await open_link(identity, endpoint, policy, 20)
    link.send([p.encode(p.Hello(name, "test", ()))])
    return link


async def until(link: ClientLink, kind: type[p.Packet], count: int = 1) -> list[p.Packet]:
    got: list[p.Packet] = []
    deadline = time.monotonic() + 20
    while len(got) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind.__name__}: {got}"
        for data in await asyncio.wait_for(link.receive(), left):
            packet = p.decode_from_host(data)
            if isinstance(packet, kind):
                got.append(packet)
    return got


async def relay_over(transport: str, tmp: Path) -> None:
    (tmp / "host").mkdir()
    host = create_identity(tmp / "host")
    cert, key = tls_paths(tmp / "host")
    spy = Spy(host)
    server: Any
    if transport == "tcp":
        server = await serve_tcp(spy, server_context(cert, key), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
    else:
        server = await serve_quic(spy, cert, key, "127.0.0.1", 0)  # type: ignore[arg-type]
        port = server._transport.get_extra_info("sockname")[1]
    endpoint = Endpoint(transport, "127.0.0.1", port)
    try:
        eve = await connect(tmp, "eve", host, endpoint)
        await until(eve, p.Welcome)
        bob = await connect(tmp, "bob", host, endpoint)
        await until(bob, p.Welcome)
        bodies = [b"x", os.urandom(p.MAX_DATA), bytes(range(256)) * 40, b"\x00"]
        wires = [p.encode(p.Seal(i, "lobby", body)) for i, body in enumerate(bodies)]
        wires[2] = seal(b"\xce" + struct.pack(">I", 2), b"\xd9\x05LOBBY", b"\xc6")
        wires[2] += struct.pack(">I", len(bodies[2])) + bodies[2]  # other widths, case
        eve.send(wires)
        sealed = await until(bob, p.Sealed, len(bodies))
        assert [s.data for s in sealed if isinstance(s, p.Sealed)] == bodies
        assert {s.sender for s in sealed if isinstance(s, p.Sealed)} == {"eve"}
        assert spy.types == {bytes}, spy.types
        assert not [line for line in spy.errors if "internal error" in line], spy.errors
    finally:
        server.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("transport", ["tcp", "quic"])
def test_real_transports_relay_seals_exactly_and_hand_over_only_bytes(
    loop: str, transport: str, tmp_path: Path
) -> None:
    run_on(loop, relay_over(transport, tmp_path))
