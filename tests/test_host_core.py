"""HostCore: routing, rooms, limits and timeouts, with no network at all."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.host.core import (
    Action,
    Broadcast,
    Close,
    HostConfig,
    HostCore,
    Log,
    Send,
)
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.fields import MAX_ID
from severus_cli.errors import RemoteProtocolError


def key_for(conn: int) -> bytes:
    return bytes([conn]) * 32


class Host:
    """A HostCore with a settable clock and helpers that speak packets."""

    def __init__(self, **config: Any) -> None:
        self.now = 1000.0
        self.core = HostCore(HostConfig(**config), self.now)

    def connect(self, conn: int) -> None:
        self.core.accept(conn, self.now)
        assert self.core.authenticated(conn, key_for(conn), self.now) == []

    def receive(self, conn: int, packet: p.Packet | bytes) -> list[Action]:
        data = packet if isinstance(packet, bytes) else p.encode(packet)
        return self.core.receive(conn, data, self.now)

    def join(self, conn: int, nick: str, rooms: tuple[str, ...] = ()) -> list[Action]:
        self.connect(conn)
        actions = self.receive(conn, p.Hello(nick, "test", rooms))
        welcome = packets_for(actions)[conn][0]
        assert isinstance(welcome, p.Welcome), welcome
        return actions

    def crowd(self, *nicks: str) -> None:
        for conn, nick in enumerate(nicks, start=1):
            self.join(conn, nick)


def packets_for(actions: list[Action]) -> dict[int, list[p.Packet]]:
    """Every packet each connection would receive, decoded as a client would."""
    out: dict[int, list[p.Packet]] = defaultdict(list)
    for action in actions:
        if isinstance(action, Send):
            out[action.conn].append(p.decode_from_host(action.data))
        elif isinstance(action, Broadcast):
            assert len(set(action.conns)) == len(action.conns)
            packet = p.decode_from_host(action.data)
            for conn in action.conns:
                out[conn].append(packet)
    return dict(out)


def closes(actions: list[Action]) -> set[int]:
    return {a.conn for a in actions if isinstance(a, Close)}


def touched(actions: list[Action]) -> set[int]:
    conns = set(packets_for(actions)) | closes(actions)
    return conns


def fatal(actions: list[Action], conn: int, code: str) -> None:
    """``conn`` got exactly a fatal error with ``code`` and is being closed."""
    assert packets_for(actions) == {conn: [packets_for(actions)[conn][0]]}
    error = packets_for(actions)[conn][0]
    assert isinstance(error, p.Error)
    assert error.code == code and error.fatal and error.id is None
    assert closes(actions) == {conn}


def reply_error(actions: list[Action], conn: int, request: int, code: str) -> None:
    assert packets_for(actions) == {conn: [p.Error(request, code, error_msg(actions), False)]}
    assert closes(actions) == set()


def error_msg(actions: list[Action]) -> str:
    for packets in packets_for(actions).values():
        for packet in packets:
            if isinstance(packet, p.Error):
                return packet.msg
    return ""


# --- registration ------------------------------------------------------------------------


def test_first_participant_gets_welcome_with_roster_and_limits() -> None:
    host = Host(host_nick="ana", motd="be kind", rate_burst=7, rate_per_second=3, max_text=500)
    host.connect(1)
    actions = host.receive(1, p.Hello("bob", "test"))
    assert packets_for(actions) == {
        1: [
            p.Welcome(
                "bob", "ana", (("bob", key_for(1)),), (), "be kind", p.RateLimits(7, 3, 500), p.CAPS
            )
        ]
    }
    assert closes(actions) == set()
    assert any(isinstance(a, Log) and "bob" in a.text for a in actions)
    assert host.core.participant_count == 1
    assert host.core.nick_of(1) == "bob"
    assert host.core.members("lobby") == ("bob",)


def test_later_participants_see_the_roster_and_others_see_them_join() -> None:
    host = Host()
    host.join(1, "ana")
    actions = host.join(2, "bob")
    got = packets_for(actions)
    users = (("ana", key_for(1)), ("bob", key_for(2)))
    assert got[2] == [p.Welcome("bob", "", users, caps=p.CAPS)]
    assert got[1] == [p.Joined("bob", "lobby", 2, key_for(2))]
    actions = host.join(3, "carol")
    got = packets_for(actions)
    assert got[3][0].users == (  # type: ignore[attr-defined]
        ("ana", key_for(1)),
        ("bob", key_for(2)),
        ("carol", key_for(3)),
    )
    assert got[1] == got[2] == [p.Joined("carol", "lobby", 3, key_for(3))]


def test_a_lobby_too_big_for_one_packet_comes_in_roster_pages() -> None:
    host = Host(max_clients=1300)
    total = p.ROSTER_PAGE * 2 + 7
    for conn in range(1, total):
        host.core.accept(conn, host.now)
        host.core.authenticated(conn, bytes([conn % 256, conn // 256]) * 16, host.now)
        host.receive(conn, p.Hello(f"user-with-a-long-nick-{conn:08d}", "test", ()))
    host.core.accept(total, host.now)
    host.core.authenticated(total, key_for(7), host.now)
    got = packets_for(host.receive(total, p.Hello("last", "test", ())))[total]
    welcome, *pages = got
    assert isinstance(welcome, p.Welcome)
    assert [type(page) for page in pages] == [p.Roster, p.Roster]
    users = list(welcome.users) + [u for page in pages for u in page.users]  # type: ignore[attr-defined]
    assert len(users) == total
    assert users[-1] == ("last", key_for(7))
    assert len({nick for nick, _ in users}) == total


def test_hello_can_rejoin_rooms() -> None:
    host = Host()
    host.join(1, "ana", rooms=("rust",))
    actions = host.join(2, "bob", rooms=("RUST", "go", "lobby"))
    got = packets_for(actions)
    welcome = got[2][0]
    assert isinstance(welcome, p.Welcome)
    assert welcome.rooms == ("rust", "go")  # the room keeps its first spelling
    assert p.Joined("bob", "rust", 2, key_for(2)) in got[1]
    assert host.core.members("rust") == ("ana", "bob")
    assert host.core.members("go") == ("bob",)


def test_invalid_nick_refused_by_the_decoder() -> None:
    host = Host()
    host.join(1, "ana")
    host.connect(2)
    for bad in ("two words", "", "x" * 33, "caf\u00e9", 5):
        data = msgpack.packb({"t": "hello", "nick": bad, "client": "c", "rooms": []})
        actions = host.receive(2, data)
        fatal(actions, 2, "bad_packet")
    assert host.core.participant_count == 1


@pytest.mark.parametrize("taken", ["ana", "ANA", "Ana"])
def test_taken_nick_case_insensitively(taken: str) -> None:
    host = Host()
    host.join(1, "ana")
    host.connect(2)
    actions = host.receive(2, p.Hello(taken, "test"))
    fatal(actions, 2, "nick_taken")
    assert host.core.participant_count == 1
    assert host.core.closed(2, host.now) == []  # it never registered: no notices


def test_nick_is_free_again_after_its_owner_leaves() -> None:
    host = Host()
    host.join(1, "ana")
    host.core.closed(1, host.now)
    host.join(2, "Ana")
    assert host.core.members("lobby") == ("Ana",)


def test_max_clients_host_full() -> None:
    host = Host(max_clients=2)
    host.crowd("ana", "bob")
    host.connect(3)
    actions = host.receive(3, p.Hello("carol", "test"))
    fatal(actions, 3, "host_full")
    host.core.closed(3, host.now)
    host.core.closed(2, host.now)
    host.join(4, "carol")  # a slot opened


def test_packets_before_hello_are_not_registered() -> None:
    for packet in (
        p.Seal(1, "lobby", b"hi"),
        p.Relay(1, "ana", "hs", b"\x01"),
        p.Relay(1, "ana", "dm", b"hi"),
        p.Join(1, "rust"),
        p.Part(1, "rust"),
        p.Names(1, "lobby"),
        p.ListRooms(1),
        p.Whois(1, "ana"),
    ):
        host = Host()
        host.join(1, "ana")
        host.connect(2)
        fatal(host.receive(2, packet), 2, "not_registered")


def test_ping_and_bye_are_allowed_before_hello() -> None:
    host = Host()
    host.connect(1)
    assert packets_for(host.receive(1, p.Ping(42))) == {1: [p.Pong(42)]}
    actions = host.receive(1, p.Bye())
    assert actions == [Close(1, "quit")]


def test_hello_twice_is_fatal() -> None:
    host = Host()
    host.join(1, "ana")
    fatal(host.receive(1, p.Hello("ana2", "test")), 1, "bad_packet")


def test_packet_on_a_connection_that_never_authenticated() -> None:
    host = Host()
    host.core.accept(9, host.now)
    assert host.receive(9, p.Ping(1)) == [Close(9, "packet before the handshake")]


def test_host_packet_from_a_client_is_unknown() -> None:
    host = Host()
    host.join(1, "ana")
    fatal(host.receive(1, p.Ok(1)), 1, "unknown_packet")


# --- messages ------------------------------------------------------------------------------

CIPHERTEXT = bytes(range(256)) * 3  # opaque to the host: it must relay it byte for byte


def test_sealed_room_message_goes_to_everyone_but_the_sender() -> None:
    host = Host()
    host.crowd("ana", "bob", "carol")
    host.now += 5
    actions = host.receive(1, p.Seal(11, "lobby", CIPHERTEXT))
    sealed = p.Sealed("ana", "lobby", CIPHERTEXT, host.now)
    assert packets_for(actions) == {1: [p.Ok(11)], 2: [sealed], 3: [sealed]}
    # one encoded copy for all recipients, before the sender's ok: connections are
    # flushed in the order written to, so the members' copies leave first
    assert [type(a) for a in actions] == [Broadcast, Send]


def test_room_name_is_the_rooms_own_spelling() -> None:
    host = Host()
    host.crowd("ana", "bob")
    got = packets_for(host.receive(2, p.Seal(1, "LOBBY", b"\x00")))
    assert got[1] == [p.Sealed("bob", "lobby", b"\x00", host.now)]


def test_alone_in_a_room_gets_only_ok() -> None:
    host = Host()
    host.join(1, "ana")
    actions = host.receive(1, p.Seal(3, "lobby", b"anyone?"))
    assert actions == [Send(1, p.encode(p.Ok(3)))]


@pytest.mark.parametrize("kind", ["hs", "key", "dm", "future"])
def test_relay_goes_only_to_the_target_stamped_with_the_sender(kind: str) -> None:
    host = Host()
    host.crowd("ana", "bob", "carol")
    actions = host.receive(1, p.Relay(12, "BoB", kind, CIPHERTEXT))
    assert packets_for(actions) == {2: [p.Relayed("ana", kind, CIPHERTEXT)], 1: [p.Ok(12)]}


def test_relay_to_oneself_is_delivered_like_any_other() -> None:
    host = Host()
    host.crowd("ana", "bob")
    got = packets_for(host.receive(1, p.Relay(1, "ANA", "dm", b"note")))
    assert got == {1: [p.Relayed("ana", "dm", b"note"), p.Ok(1)]}


def test_relay_to_unknown_nick() -> None:
    host = Host()
    host.crowd("ana", "bob")
    reply_error(host.receive(1, p.Relay(13, "zed", "dm", b"hello?")), 1, 13, "no_such_nick")
    reply_error(host.receive(1, p.Relay(14, "zed", "hs", b"\x01")), 1, 14, "no_such_nick")


LOW_MAX_DATA = 600  # a host's own limit, below the protocol's


def test_data_over_the_hosts_max_data() -> None:
    host = Host(max_data=LOW_MAX_DATA)
    host.crowd("ana", "bob")
    over, at = b"x" * (LOW_MAX_DATA + 1), b"x" * LOW_MAX_DATA
    reply_error(host.receive(1, p.Seal(1, "lobby", over)), 1, 1, "too_long")
    for kind in ("dm", "hs", "key"):
        reply_error(host.receive(1, p.Relay(2, "bob", kind, over)), 1, 2, "too_long")
    assert packets_for(host.receive(1, p.Seal(3, "lobby", at)))[1] == [p.Ok(3)]
    assert packets_for(host.receive(1, p.Relay(4, "bob", "dm", at)))[1] == [p.Ok(4)]


def test_the_largest_seal_and_relay_are_relayed() -> None:
    """At the default max_data the relayed packet (sender, timestamp added) still fits."""
    host = Host()
    host.join(1, "x" * 32)
    host.join(2, "b" * 32)
    host.receive(1, p.Join(1, "r" * 32))
    host.receive(2, p.Join(1, "r" * 32))
    data = b"\xff" * p.MAX_DATA
    got = packets_for(host.receive(1, p.Seal(MAX_ID, "r" * 32, data)))
    assert got[2] == [p.Sealed("x" * 32, "r" * 32, data, host.now)]
    got = packets_for(host.receive(1, p.Relay(MAX_ID, "b" * 32, "abcdefgh", data)))
    assert got[2] == [p.Relayed("x" * 32, "abcdefgh", data)]


def test_non_member_cannot_seal_to_a_room() -> None:
    host = Host()
    host.crowd("ana", "bob")
    host.receive(1, p.Join(1, "rust"))
    reply_error(host.receive(2, p.Seal(24, "rust", b"let me in")), 2, 24, "not_member")
    reply_error(host.receive(2, p.Seal(25, "nowhere", b"hello")), 2, 25, "not_member")


# --- rooms ---------------------------------------------------------------------------------


def test_join_creates_a_room_and_members_only_hear_it() -> None:
    host = Host()
    host.crowd("ana", "bob", "carol")
    assert packets_for(host.receive(1, p.Join(21, "rust"))) == {1: [p.Users(21, "rust", ("ana",))]}
    assert host.core.room_count == 1
    got = packets_for(host.receive(2, p.Join(22, "rust")))
    assert got == {
        2: [p.Users(22, "rust", ("ana", "bob"))],
        1: [p.Joined("bob", "rust", 2, key_for(2))],
    }
    got = packets_for(host.receive(2, p.Seal(23, "rust", b"borrow checker")))
    assert got == {2: [p.Ok(23)], 1: [p.Sealed("bob", "rust", b"borrow checker", host.now)]}
    # carol, in the lobby only, hears nothing of it.
    assert 3 not in got


def test_room_names_are_casefolded_no_hijacking() -> None:
    host = Host()
    host.crowd("ana", "bob")
    host.receive(1, p.Join(1, "Rust"))
    got = packets_for(host.receive(2, p.Join(2, "rust")))
    assert got[2] == [p.Users(2, "Rust", ("ana", "bob"))]
    assert host.core.room_count == 1
    got = packets_for(host.receive(2, p.Seal(3, "RUST", b"same room")))
    assert got[1] == [p.Sealed("bob", "Rust", b"same room", host.now)]


def test_joining_twice_is_harmless() -> None:
    host = Host()
    host.crowd("ana", "bob")
    host.receive(1, p.Join(1, "rust"))
    host.receive(2, p.Join(2, "rust"))
    got = packets_for(host.receive(2, p.Join(3, "Rust")))
    assert got == {2: [p.Users(3, "rust", ("ana", "bob"))]}  # no second "joined"


def test_join_lobby_answers_with_its_users() -> None:
    host = Host()
    host.crowd("ana", "bob")
    assert packets_for(host.receive(1, p.Join(4, "Lobby"))) == {
        1: [p.Users(4, "lobby", ("ana", "bob"))]
    }
    assert host.core.room_count == 0


def test_part_notifies_the_rest_and_empty_rooms_are_deleted() -> None:
    host = Host()
    host.crowd("ana", "bob", "carol")
    host.receive(1, p.Join(1, "rust"))
    host.receive(2, p.Join(2, "rust"))
    got = packets_for(host.receive(2, p.Part(3, "RUST")))
    assert got == {2: [p.Ok(3)], 1: [p.Left("bob", "rust", 1, "")]}
    reply_error(host.receive(2, p.Seal(4, "rust", b"still here?")), 2, 4, "not_member")
    assert packets_for(host.receive(1, p.Part(5, "rust"))) == {1: [p.Ok(5)]}
    assert host.core.room_count == 0
    assert host.core.members("rust") == ()
    reply_error(host.receive(3, p.Names(6, "rust")), 3, 6, "no_such_room")
    # A new room of that name is a fresh room with a fresh spelling.
    assert packets_for(host.receive(3, p.Join(7, "RUST")))[3] == [p.Users(7, "RUST", ("carol",))]


def test_part_errors() -> None:
    host = Host()
    host.crowd("ana", "bob")
    host.receive(1, p.Join(1, "rust"))
    reply_error(host.receive(1, p.Part(2, "lobby")), 1, 2, "bad_room")
    reply_error(host.receive(2, p.Part(3, "rust")), 2, 3, "not_member")
    reply_error(host.receive(2, p.Part(4, "nowhere")), 2, 4, "not_member")


def test_max_rooms() -> None:
    host = Host(max_rooms=1)
    host.crowd("ana", "bob")
    host.receive(1, p.Join(1, "one"))
    reply_error(host.receive(2, p.Join(2, "two")), 2, 2, "too_many_rooms")
    assert packets_for(host.receive(2, p.Join(3, "one")))[2][0] == p.Users(3, "one", ("ana", "bob"))


def test_names_and_room_list() -> None:
    host = Host()
    host.crowd("ana", "bob", "carol")
    host.receive(1, p.Join(1, "rust"))
    host.receive(3, p.Join(2, "go"))
    host.receive(2, p.Join(3, "go"))
    assert packets_for(host.receive(1, p.Names(4, "GO"))) == {
        1: [p.Users(4, "go", ("carol", "bob"))]
    }
    got = packets_for(host.receive(1, p.ListRooms(5)))
    assert got == {1: [p.RoomList(5, (("lobby", 3), ("rust", 1), ("go", 2)))]}


def test_whois_reply_has_the_key_and_rooms() -> None:
    host = Host()
    host.crowd("ana", "bob")
    registered = host.now
    host.receive(2, p.Join(1, "rust"))
    host.now += 42.5
    got = packets_for(host.receive(1, p.Whois(8, "BOB")))
    assert got == {
        1: [p.WhoisReply(8, "bob", key_for(2), ("lobby", "rust"), host.now - registered)]
    }
    reply_error(host.receive(1, p.Whois(9, "nobody")), 1, 9, "no_such_nick")


# --- leaving -------------------------------------------------------------------------------


def test_disconnect_sends_leave_notices_to_every_room() -> None:
    host = Host()
    host.crowd("ana", "bob", "carol", "dave")
    host.receive(1, p.Join(1, "rust"))
    host.receive(2, p.Join(2, "rust"))
    host.receive(1, p.Join(3, "go"))
    host.receive(3, p.Join(4, "go"))
    host.receive(1, p.Join(5, "solo"))
    actions = host.core.closed(1, host.now, "connection lost")
    got = packets_for(actions)
    assert got[2] == [
        p.Left("ana", "rust", 1, "connection lost"),
        p.Left("ana", "lobby", 3, "connection lost"),
    ]
    assert got[3] == [
        p.Left("ana", "go", 1, "connection lost"),
        p.Left("ana", "lobby", 3, "connection lost"),
    ]
    assert got[4] == [p.Left("ana", "lobby", 3, "connection lost")]
    assert 1 not in got
    assert closes(actions) == set()
    assert host.core.room_count == 2  # "solo" is gone
    assert host.core.members("solo") == ()
    assert host.core.participant_count == 3
    assert host.core.nick_of(1) == ""
    assert host.core.closed(1, host.now) == []  # twice is harmless


def test_bye_closes_the_connection() -> None:
    host = Host()
    host.crowd("ana", "bob")
    assert host.receive(1, p.Bye("dinner")) == [Close(1, "quit: dinner")]
    got = packets_for(host.core.closed(1, host.now, "quit: dinner"))
    assert got == {2: [p.Left("ana", "lobby", 1, "quit: dinner")]}


def test_protocol_error_touches_no_other_connection() -> None:
    host = Host()
    host.crowd("ana", "bob", "carol")
    host.receive(1, p.Join(1, "rust"))
    host.receive(2, p.Join(2, "rust"))
    for junk in (
        b"\xc1",
        b"\x93\x01\x02\x03",
        msgpack.packb({"t": "seal", "id": -1}),
        msgpack.packb({"t": "seal", "id": 1, "room": "rust", "data": b""}),
        msgpack.packb({"t": "relay", "id": 1, "to": "ana", "kind": "DM", "data": b"x"}),
        msgpack.packb({"t": "say", "id": 1, "room": "rust", "text": "plain", "action": False}),
    ):
        actions = host.receive(2, junk)
        assert touched(actions) == {2}
        fatal(actions, 2, "unknown_packet" if b"say" in junk else "bad_packet")
    actions = host.core.protocol_error(2, RemoteProtocolError("tampered", "bad_crypto"))
    assert touched(actions) == {2}
    fatal(actions, 2, "bad_crypto")
    # Only when it is gone do the others hear about it, and only as leave notices.
    got = packets_for(host.core.closed(2, host.now, "protocol error"))
    assert set(got) == {1, 3}
    assert all(isinstance(packet, p.Left) for packets in got.values() for packet in packets)


# --- rate limits -----------------------------------------------------------------------------


def test_rate_limit_refuses_and_drops_the_message() -> None:
    host = Host(rate_burst=3, rate_per_second=2)
    host.crowd("ana", "bob")
    for i in range(3):
        assert packets_for(host.receive(1, p.Seal(i, "lobby", b"spam")))[1] == [p.Ok(i)]
    reply_error(host.receive(1, p.Seal(3, "lobby", b"spam")), 1, 3, "rate_limited")
    reply_error(host.receive(1, p.Relay(4, "bob", "dm", b"spam")), 1, 4, "rate_limited")
    host.now += 0.5  # one token back
    got = packets_for(host.receive(1, p.Relay(5, "bob", "dm", b"finally")))
    assert got[1] == [p.Ok(5)] and len(got[2]) == 1
    reply_error(host.receive(1, p.Seal(6, "lobby", b"again")), 1, 6, "rate_limited")
    # Each participant has its own bucket; other requests are not charged.
    assert packets_for(host.receive(2, p.Seal(7, "lobby", b"me too")))[2] == [p.Ok(7)]
    assert packets_for(host.receive(1, p.Ping(8))) == {1: [p.Pong(8)]}


@pytest.mark.parametrize("kind", ["hs", "key", "other"])
def test_handshakes_and_keys_use_the_larger_control_bucket(kind: str) -> None:
    host = Host(rate_burst=2, rate_per_second=0.01, control_burst=5, control_per_second=1)
    host.crowd("ana", "bob")
    # The message bucket is empty...
    for i in range(2):
        assert packets_for(host.receive(1, p.Seal(i, "lobby", b"x")))[1] == [p.Ok(i)]
    reply_error(host.receive(1, p.Seal(2, "lobby", b"x")), 1, 2, "rate_limited")
    reply_error(host.receive(1, p.Relay(3, "bob", "dm", b"x")), 1, 3, "rate_limited")
    # ...but control traffic still flows, from its own allowance.
    for i in range(5):
        got = packets_for(host.receive(1, p.Relay(10 + i, "bob", kind, b"x")))
        assert got == {1: [p.Ok(10 + i)], 2: [p.Relayed("ana", kind, b"x")]}
    reply_error(host.receive(1, p.Relay(20, "bob", kind, b"x")), 1, 20, "rate_limited")
    host.now += 1  # one control token back, not enough for a message
    assert packets_for(host.receive(1, p.Relay(21, "bob", kind, b"x")))[1] == [p.Ok(21)]
    reply_error(host.receive(1, p.Relay(22, "bob", kind, b"x")), 1, 22, "rate_limited")
    reply_error(host.receive(1, p.Seal(23, "lobby", b"x")), 1, 23, "rate_limited")


def test_control_traffic_does_not_spend_message_tokens() -> None:
    host = Host(rate_burst=1, rate_per_second=0.01)
    host.crowd("ana", "bob")
    for i in range(50):  # a rekeying burst
        host.receive(1, p.Relay(i, "bob", "key" if i % 2 else "hs", b"x"))
    assert packets_for(host.receive(1, p.Seal(99, "lobby", b"x")))[1] == [p.Ok(99)]


def test_default_control_allowance_covers_a_large_room_rekeying() -> None:
    config = HostConfig()
    assert config.control_burst >= 3 * config.max_clients  # three handshake steps each
    assert config.control_burst > config.rate_burst


def test_refused_requests_do_not_spend_tokens() -> None:
    host = Host(rate_burst=1, rate_per_second=0.01, max_data=LOW_MAX_DATA)
    host.crowd("ana", "bob")
    over = b"x" * (LOW_MAX_DATA + 1)
    reply_error(host.receive(1, p.Seal(1, "nowhere", b"x")), 1, 1, "not_member")
    reply_error(host.receive(1, p.Relay(2, "nobody", "dm", b"x")), 1, 2, "no_such_nick")
    reply_error(host.receive(1, p.Seal(3, "lobby", over)), 1, 3, "too_long")
    reply_error(host.receive(1, p.Relay(4, "bob", "dm", over)), 1, 4, "too_long")
    assert packets_for(host.receive(1, p.Seal(5, "lobby", b"x")))[1] == [p.Ok(5)]


# --- timers --------------------------------------------------------------------------------


def test_handshake_timeout() -> None:
    host = Host(handshake_timeout=10)
    host.core.accept(1, host.now)
    host.core.accept(2, host.now + 5)
    assert host.core.tick(host.now + 9.9) == []
    assert host.core.tick(host.now + 10) == [Close(1, "handshake timed out")]
    assert host.core.tick(host.now + 10.5) == []  # reported once
    host.core.authenticated(2, key_for(2), host.now + 14)
    assert host.core.tick(host.now + 14.9) == []  # authenticated in time
    # ...but the hello must still come within 10 s of the connection opening.
    fatal(host.core.tick(host.now + 15), 2, "timeout")


def test_registration_timeout() -> None:
    host = Host(handshake_timeout=10)
    host.connect(1)
    host.join(2, "ana")
    assert host.core.tick(host.now + 9.9) == []
    fatal(host.core.tick(host.now + 10), 1, "timeout")


def test_idle_timeout_counts_from_the_last_packet() -> None:
    host = Host(idle_timeout=30)
    host.crowd("ana", "bob")
    host.now += 20
    host.receive(1, p.Ping(1))
    assert host.core.tick(host.now + 9.9) == []
    assert host.core.tick(host.now + 10) == [Close(2, "timed out")]
    assert host.core.tick(host.now + 29.9) == [Close(2, "timed out")]
    host.core.closed(2, host.now)
    assert host.core.tick(host.now + 29.9) == []
    assert host.core.tick(host.now + 30) == [Close(1, "timed out")]


# --- a random walk -------------------------------------------------------------------------

NICKS = ["ana", "bob", "Ana", "carol"]
ROOMS = ["rust", "Rust", "go", "lobby"]
operations = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=4),
        st.sampled_from(
            [
                "hello",
                "seal",
                "dm",
                "hs",
                "join",
                "part",
                "names",
                "whois",
                "rooms",
                "junk",
                "close",
            ]
        ),
        st.integers(min_value=0, max_value=3),
        st.floats(min_value=0, max_value=3),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_random_walk_keeps_invariants(ops: list[tuple[int, str, int, float]]) -> None:
    host = Host(rate_burst=4, rate_per_second=1, max_rooms=2, max_clients=3)
    live: set[int] = set()
    for conn, op, arg, wait in ops:
        host.now += wait
        if conn not in live:
            host.connect(conn)
            live.add(conn)
        nick, room = NICKS[arg], ROOMS[arg]
        packet: p.Packet | bytes = {
            "hello": p.Hello(nick, "t", (room,)),
            "seal": p.Seal(arg, room, b"hi"),
            "dm": p.Relay(arg, nick, "dm", b"hi"),
            "hs": p.Relay(arg, nick, "hs", b"\x01"),
            "join": p.Join(arg, room),
            "part": p.Part(arg, room),
            "names": p.Names(arg, room),
            "whois": p.Whois(arg, nick),
            "rooms": p.ListRooms(arg),
            "junk": b"\x92\x01",
            "close": b"",
        }[op]
        if op == "close":
            actions = host.core.closed(conn, host.now)
            live.discard(conn)
            assert closes(actions) == set()
            assert all(isinstance(x, p.Left) for v in packets_for(actions).values() for x in v)
        else:
            actions = host.receive(conn, packet)
            if closes(actions):
                # A refused connection is told why and nobody else hears a thing.
                assert touched(actions) == {conn}
        assert touched(actions) <= live  # packets_for also checks that every packet decodes
        if op in ("seal", "dm", "hs") and not closes(actions):
            # Relayed bytes go only where the rules allow: room members or the target.
            got = packets_for(actions)
            if op == "seal":
                allowed = set(host.core.members(room)) - {host.core.nick_of(conn)}
            else:
                allowed = {n for n in host.core.members("lobby") if n.casefold() == nick.casefold()}
            relayed = {
                host.core.nick_of(c)
                for c, ps in got.items()
                if any(isinstance(x, (p.Sealed, p.Relayed)) for x in ps)
            }
            assert relayed <= allowed, (op, relayed, allowed)
        actions = host.core.tick(host.now)
        assert touched(actions) <= live
        # Nicks are unique case-insensitively and rooms hold only live participants.
        lobby = host.core.members("lobby")
        assert len({n.casefold() for n in lobby}) == len(lobby) == host.core.participant_count
        for name in ROOMS:
            assert set(host.core.members(name)) <= set(lobby)
        assert host.core.room_count <= 2
