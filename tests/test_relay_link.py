"""Relay packets, the client's sans-IO link, addresses and routes: no sockets."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.client.routes import RelayRoute, describe_path, relay_routes
from severus_cli.core.nat.relay import RelayConfig, RelayCore, SendTo, Splice
from severus_cli.core.nat.relay_link import RelayLink, parse_hostport
from severus_cli.core.nat.relay_packets import (
    Accept,
    Dial,
    Open,
    Peer,
    PunchRequest,
    Register,
    Registered,
    RelayError,
    Spliced,
    decode_from_client,
    decode_from_relay,
)
from severus_cli.core.trust.ticket import Endpoint, Ticket, TicketError
from severus_cli.core.wire.packets import encode
from severus_cli.core.wire.session import HandshakeComplete, HopSession, Payload, Role
from severus_cli.errors import RemoteProtocolError

CERT = bytes(32)


def test_packets_round_trip_on_the_wire() -> None:
    for packet in (
        Register(("203.0.113.10", 4000)),
        Register(None),
        PunchRequest(bytes(32), ("2001:db8::1", 9)),
        Dial(bytes(32)),
        Accept(bytes(16)),
    ):
        assert decode_from_client(encode(packet)) == packet
    for reply in (Registered(None), Peer(("203.0.113.1", 1)), Spliced(), RelayError("x", "y")):
        assert decode_from_relay(encode(reply)) == reply


def test_the_two_directions_do_not_mix() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        decode_from_client(encode(Spliced()))
    assert caught.value.code == "unknown_packet"
    with pytest.raises(RemoteProtocolError):
        decode_from_relay(encode(Dial(bytes(32))))


@pytest.mark.parametrize(
    "udp",
    [
        ["not an ip", 1],
        ["1.2.3.4", 0],
        ["1.2.3.4", 70000],
        ["1.2.3.4"],
        "1.2.3.4:5",
        [b"x", 1],
        ["1.2.3.4", True],
        ["x" * 100, 1],
    ],
)
def test_malformed_endpoints_are_refused(udp: Any) -> None:
    data = msgpack.packb({"t": "punch", "key": bytes(32), "udp": udp})
    with pytest.raises(RemoteProtocolError) as caught:
        decode_from_client(data)
    assert caught.value.code == "bad_packet"


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.sampled_from(["reg", "punch", "dial", "accept", "ping", "spliced", "x"]),
    st.dictionaries(st.sampled_from(["udp", "key", "token", "id", "zz"]), values, max_size=4),
)
def test_decoders_accept_or_refuse_cleanly(tag: str, fields: dict[str, Any]) -> None:
    data = msgpack.packb({"t": tag, **fields}, use_bin_type=True)
    for decoder in (decode_from_client, decode_from_relay):
        with contextlib.suppress(RemoteProtocolError):
            decoder(data)


@given(st.binary(max_size=300))
def test_decoders_survive_garbage(data: bytes) -> None:
    for decoder in (decode_from_client, decode_from_relay):
        with contextlib.suppress(RemoteProtocolError):
            decoder(data)


class Relay:
    """The relay's side of one connection, as the adapter drives it."""

    def __init__(self, core: RelayCore, conn: int) -> None:
        self.core = core
        self.conn = conn
        self.session = HopSession(Role.RESPONDER, os.urandom(32), CERT)
        core.open(conn, "198.51.100.7", 0.0)
        self.actions: list[Any] = []

    def receive(self, data: bytes) -> bytes:
        for event in self.session.receive_data(data):
            if isinstance(event, HandshakeComplete):
                self.actions += self.core.authenticated(self.conn, event.static_key, 0.0)
            elif isinstance(event, Payload):
                self.actions += self.core.receive(self.conn, event.data, 0.0)
        for action in self.actions:
            if isinstance(action, SendTo) and action.conn == self.conn:
                self.session.send(action.data)
        return self.session.data_to_send()


def handshake(link: RelayLink, relay: Relay, one_byte_at_a_time: bool = False) -> None:
    reply = relay.receive(link.data_to_send())
    chunks = [reply[i : i + 1] for i in range(len(reply))] if one_byte_at_a_time else [reply]
    for chunk in chunks:
        assert link.receive_data(chunk) == []
    assert link.established
    relay.receive(link.data_to_send())


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_link_registers_through_a_real_noise_session(bytewise: bool) -> None:
    core = RelayCore(RelayConfig())
    host_key = os.urandom(32)
    link = RelayLink(host_key, CERT)
    relay = Relay(core, 1)
    handshake(link, relay, bytewise)
    link.send(Register(None))
    answer = relay.receive(link.data_to_send())
    packets = []
    for i in range(len(answer)):
        packets += link.receive_data(answer[i : i + 1])
    assert packets == [Registered(None)]
    assert link.relay_key == relay.session.peer_key or link.relay_key is not None
    assert len(core.hosts) == 1


def test_bytes_after_spliced_are_handed_back_untouched() -> None:
    """The far end's ClientHello may arrive in the same read as ``spliced``: it must
    come out as ``leftover``, never be parsed as a frame."""
    core = RelayCore(RelayConfig(), token=lambda: b"t" * 16)
    host_static = os.urandom(32)
    control, host_relay = RelayLink(host_static, CERT), Relay(core, 1)
    handshake(control, host_relay)
    control.send(Register(None))
    host_relay.receive(control.data_to_send())
    joiner, joiner_relay = RelayLink(os.urandom(32), CERT), Relay(core, 2)
    handshake(joiner, joiner_relay)
    joiner.send(Dial(next(iter(core.hosts))))
    joiner_relay.receive(joiner.data_to_send())
    opened = [  # what the relay told the host's control connection
        decode_from_relay(a.data)
        for a in joiner_relay.actions
        if isinstance(a, SendTo) and a.conn == 1
    ]
    token = next(p.token for p in opened if isinstance(p, Open))
    data, data_relay = RelayLink(host_static, CERT), Relay(core, 3)
    handshake(data, data_relay)
    data.send(Accept(token))
    reply = data_relay.receive(data.data_to_send())
    assert any(isinstance(a, Splice) for a in data_relay.actions)
    client_hello = b"\x16\x03\x01\x02\x00" + os.urandom(40)
    assert data.receive_data(reply + client_hello) == [Spliced()]
    assert data.spliced and data.leftover == client_hello
    with pytest.raises(Exception, match="spliced"):
        data.receive_data(b"more")


def test_a_pinned_relay_key_is_checked() -> None:
    core = RelayCore(RelayConfig())
    link = RelayLink(os.urandom(32), CERT, expected_key=bytes(32))
    relay = Relay(core, 1)
    with pytest.raises(RemoteProtocolError, match="unexpected key"):
        link.receive_data(relay.receive(link.data_to_send()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("relay.example.org", ("relay.example.org", 3340)),
        ("relay.example.org:443", ("relay.example.org", 443)),
        ("203.0.113.1:3340", ("203.0.113.1", 3340)),
        ("[2001:db8::1]:3340", ("2001:db8::1", 3340)),
        ("[2001:db8::1]", ("2001:db8::1", 3340)),
        ("2001:db8::1", ("2001:db8::1", 3340)),
    ],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["", ":3340", "host:0", "host:99999", "host:x", "[::1]x", "a b"])
def test_parse_hostport_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(text)


def test_a_ticket_relay_becomes_a_route() -> None:
    quic = Endpoint("quic", "10.0.1.2", 3000)
    ticket = Ticket(bytes(32), bytes(32), (quic,), relay="203.0.113.1:3340")
    (route,) = relay_routes(ticket, None, "203.0.113.1:3478")
    assert isinstance(route, RelayRoute)
    assert (route.host, route.port, route.key, route.punch, route.stun) == (
        "203.0.113.1",
        3340,
        bytes(32),
        True,
        "203.0.113.1:3478",
    )
    assert str(route) == "relay 203.0.113.1:3340"
    # no punching without QUIC on the host, or when the joiner forces TCP
    tcp_only = Ticket(bytes(32), bytes(32), (Endpoint("tcp", "10.0.1.2", 3000),), relay="r")
    assert not relay_routes(tcp_only, None, None)[0].punch  # type: ignore[attr-defined]
    assert not relay_routes(ticket, "direct", None)[0].punch  # type: ignore[attr-defined]
    assert relay_routes(Ticket(bytes(32), bytes(32), (quic,)), None, None) == []
    with pytest.raises(TicketError):
        relay_routes(Ticket(bytes(32), bytes(32), (), relay="bad:port:"), None, None)


def test_paths_have_names_people_understand() -> None:
    assert describe_path("punched").startswith("punched")
    assert "ciphertext" in describe_path("relayed")
    assert describe_path("other") == "other"
