"""ClientCore on its own, then wired to a HostCore through an in-memory router.

Every room message is sealed with the sender's key and every private message goes
through a pairwise session, so the tests below that read what was said go through the
real end-to-end code; the host only ever sees ciphertext.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.client import events as ev
from severus_cli.core.client.core import CLIENT_NAME, MAX_TEXT_BYTES, ClientCore
from severus_cli.core.e2e import wire
from severus_cli.core.e2e.keyring import PENDING_TTL, Keyring
from severus_cli.core.e2e.verify import safety_code
from severus_cli.core.host.core import Broadcast, Close, HostConfig, HostCore, Send
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire import packets as p
from severus_cli.errors import RemoteProtocolError

T0 = 5000.0
KEY = bytes(range(32))


def keypair(name: str) -> tuple[bytes, bytes]:
    """A deterministic identity per name (exact spelling: "ANA" is not "ana")."""
    private = X25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def key_of(name: str) -> bytes:
    return keypair(name)[1]


def new_client(nick: str = "ana", rooms: tuple[str, ...] = (), **kwargs: Any) -> ClientCore:
    private, public = keypair(nick)
    return ClientCore(nick, T0, rooms, static_private=private, static_public=public, **kwargs)


def sent(client: ClientCore) -> list[p.Packet]:
    return [p.decode_from_client(data) for data in client.packets_to_send()]


def feed(client: ClientCore, packet: p.Packet, now: float = T0) -> list[ev.UiEvent]:
    return client.receive(p.encode(packet), now)


def welcome_for(
    nick: str,
    users: tuple[str, ...],
    rooms: tuple[str, ...] = (),
    motd: str = "",
    limits: p.RateLimits | None = None,
) -> p.Welcome:
    pairs = tuple((user, key_of(user)) for user in users)
    return p.Welcome(nick, "", pairs, rooms, motd, limits or p.RateLimits())


def registered(
    nick: str = "ana",
    limits: p.RateLimits | None = None,
    users: tuple[str, ...] = ("ana", "bob", "Carol"),
    rooms: tuple[str, ...] = (),
    **kwargs: Any,
) -> ClientCore:
    client = new_client(nick, rooms, **kwargs)
    feed(client, welcome_for(nick, users, rooms, limits=limits))
    client.packets_to_send()
    return client


def of_type(packets: list[p.Packet], cls: type[p.Packet]) -> list[Any]:
    return [packet for packet in packets if isinstance(packet, cls)]


def counters(packets: list[p.Packet]) -> list[int]:
    """The sender-key counters of the seal packets among ``packets``."""
    return [wire.decode_sealed(s.data).counter for s in of_type(packets, p.Seal)]


def epoch(packets: list[p.Packet]) -> bytes:
    (seal,) = of_type(packets, p.Seal)
    return wire.decode_sealed(seal.data).epoch


def warnings(events: list[ev.UiEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, ev.Notice) and e.level == "warn"]


class Peer:
    """Another participant's keyring, talking to ``client`` through a bare relay (no host)."""

    def __init__(self, client: ClientCore, nick: str) -> None:
        self.client = client
        self.nick = nick
        self.key = key_of(nick)
        self.ring = Keyring(*keypair(nick))
        self.ring.peer_joined(client.nick, client.key)
        self.heard: list[wire.ChatBody] = []
        self.events: list[ev.UiEvent] = []

    def send(self, relays: list[Any], now: float = T0) -> list[ev.UiEvent]:
        """Deliver our blobs to the client and its answers to us, until both are quiet."""
        pending = list(relays)
        while True:
            for relay in pending:
                assert relay.nick == self.client.nick
                data = p.Relayed(self.nick, relay.kind, relay.data)
                self.events += feed(self.client, data, now)
            pending = []
            for packet in sent(self.client):
                if isinstance(packet, p.Relay) and packet.to == self.nick:
                    heard, replies = self.ring.relayed(
                        self.client.nick, self.client.key, packet.kind, packet.data, now
                    )
                    self.heard += [h.body for h in heard]
                    pending += replies
            if not pending:
                break
        events, self.events = self.events, []
        return events

    def say(self, room: str, text: str, action: bool = False) -> bytes:
        """Seal a room message for the client, handing it the key first."""
        relays, data = self.ring.seal(
            room, [(self.client.nick, self.client.key)], wire.ChatBody(text, action)
        )
        self.send(relays)
        return data


# --- registration ------------------------------------------------------------------------


def test_hello_is_queued_at_start() -> None:
    client = new_client("ana", rooms=("rust",))
    assert not client.registered
    assert sent(client) == [p.Hello("ana", CLIENT_NAME, ("rust",), p.CAPS)]
    assert sent(client) == []


def test_welcome_registers() -> None:
    client = new_client("ana")
    client.packets_to_send()
    limits = p.RateLimits(12, 3, 400)
    users = (("host", key_of("host")), ("Ana", client.key), ("bob", key_of("bob")))
    welcome = p.Welcome("Ana", "", users, (), "hi there", limits)  # our own key, renamed
    events = feed(client, welcome)
    assert events == [
        ev.Welcome(T0, "Ana", "", ("host", "Ana", "bob")),
        ev.Notice(T0, "hi there"),
    ]
    assert client.registered
    assert client.nick == "Ana"
    assert client.limits == limits
    assert client.roster.nicks == {"host": "host", "ana": "Ana", "bob": "bob"}
    assert client.roster.key_of("BOB") == key_of("bob")
    assert client.current_room == "lobby"
    assert not client.settling
    with pytest.raises(RemoteProtocolError):
        feed(client, welcome)


def test_every_key_seen_is_checked_and_changes_are_warned_about() -> None:
    checked: list[tuple[str, bytes]] = []

    def checker(nick: str, key: bytes) -> str | None:
        checked.append((nick, key))
        return f"{nick} changed keys" if nick == "bob" else None

    client = new_client("ana", peer_checker=checker)
    events = feed(client, welcome_for("ana", ("ana", "bob", "carol")))
    assert checked == [("bob", key_of("bob")), ("carol", key_of("carol"))]  # not ourselves
    assert warnings(events) == ["bob changed keys"]
    events = feed(client, p.Joined("dave", "lobby", 4, key_of("dave")))
    assert checked[-1] == ("dave", key_of("dave"))
    assert events == [ev.Joined(T0, "dave", "lobby", 4)]
    feed(client, p.Joined("bob", "rust", 2, key_of("bob")))  # a room join is not a connection
    assert len(checked) == 3


def test_welcome_with_rejoined_rooms_selects_the_last_and_learns_their_members() -> None:
    client = new_client("ana", rooms=("go", "Rust"))
    client.packets_to_send()
    feed(client, welcome_for("ana", ("ana", "bob"), ("go", "rust")))
    assert client.rooms == {"go": "go", "rust": "rust"}
    assert client.current_room == "rust"
    names = sent(client)
    assert [(n.TYPE, n.room) for n in names] == [("names", "go"), ("names", "rust")]  # type: ignore[attr-defined]
    assert client.settling
    # Who the host says is there is shown: nobody gets our keys unseen.
    assert feed(client, p.Users(names[0].id, "go", ("ana",))) == [  # type: ignore[attr-defined]
        ev.Membership(T0, "go", ("ana",), (), ())
    ]
    assert client.settling
    assert feed(client, p.Users(names[1].id, "rust", ("bob", "ana"))) == [  # type: ignore[attr-defined]
        ev.Membership(T0, "rust", ("bob", "ana"), ("bob",), ())
    ]
    assert not client.settling
    assert client.roster.members("rust") == [("bob", key_of("bob")), ("ana", key_of("ana"))]


def test_welcome_without_the_wanted_room_stays_in_the_lobby() -> None:
    client = new_client("ana", rooms=("full",))
    feed(client, welcome_for("ana", ("ana",)))
    assert client.current_room == "lobby"


def test_fatal_error_rejects() -> None:
    client = new_client("ana")
    events = feed(client, p.Error(None, "nick_taken", "the nick ana is taken", True))
    assert events == [ev.Disconnected(T0, "the nick ana is taken")]
    assert client.rejected == p.Error(None, "nick_taken", "the nick ana is taken", True)
    assert not client.registered


def test_junk_from_the_host_is_a_protocol_error() -> None:
    client = new_client("ana")
    for junk in (b"\xc1", b"", p.encode(p.Hello("ana", "x"))):
        with pytest.raises(RemoteProtocolError):
            client.receive(junk, T0)


# --- sending -----------------------------------------------------------------------------


def test_say_returns_own_message_and_queues_a_sealed_one() -> None:
    client = registered()
    events = client.say("hello", T0 + 1)
    assert events == [ev.ChatMessage(T0 + 1, "ana", "lobby", "hello", False, own=True)]
    out = sent(client)
    # No sessions yet: a handshake to every other member (their key waits for it), then
    # the message, sealed once for all of them.
    relays = of_type(out, p.Relay)
    assert [(r.to, r.kind, r.data[0]) for r in relays] == [("bob", "hs", 1), ("Carol", "hs", 1)]
    (seal,) = of_type(out, p.Seal)
    assert seal == p.Seal(client.last_id, "lobby", seal.data)
    assert out[-1] == seal
    assert wire.decode_sealed(seal.data).counter == 0
    assert b"hello" not in seal.data
    client.say("waves", T0 + 2, action=True, room="rust")
    (seal2,) = sent(client)
    assert seal2 == p.Seal(seal.id + 1, "rust", seal2.data)
    # Two messages and the two keys waiting for their sessions.
    assert client.unacknowledged == 4


def test_tell_returns_own_direct_message_and_opens_a_session() -> None:
    client = registered()
    events = client.tell("carol", "psst", T0)
    assert events == [ev.DirectMessage(T0, "Carol", "psst", False, own=True)]
    (hello,) = sent(client)
    assert hello == p.Relay(client.last_id, "Carol", "hs", hello.data)  # type: ignore[attr-defined]
    assert client.unacknowledged == 1  # the message waits for the session
    assert client.tell("not valid", "x", T0)[0].level == "error"  # type: ignore[union-attr]
    assert client.tell("zed", "x", T0) == [ev.Notice(T0, "nobody is called zed", "error")]
    assert sent(client) == []


@pytest.mark.parametrize(
    "text",
    ["", "x" * 101, "\U0001f600" * 16384, "\udc80 stray surrogate"],
    ids=["empty", "over-max-text", "too-many-bytes", "surrogate"],
)
def test_unsendable_text_gives_an_error_notice(text: str) -> None:
    limits = p.RateLimits(max_text=100) if len(text) == 101 else p.RateLimits()
    client = registered(limits=limits)
    for events in (client.say(text, T0), client.tell("bob", text, T0)):
        assert len(events) == 1
        assert isinstance(events[0], ev.Notice) and events[0].level == "error"
    assert sent(client) == []
    assert client.unacknowledged == 0


@pytest.mark.parametrize(
    "text",
    ["\u00e9" * p.MAX_TEXT, "\U0001f600" * (MAX_TEXT_BYTES // 4)],
    ids=["max-characters", "max-bytes"],
)
def test_the_longest_sendable_text_fits_sealed(text: str) -> None:
    client = registered()
    assert client.say(text, T0)[0] == ev.ChatMessage(T0, "ana", "lobby", text, own=True)
    (seal,) = of_type(sent(client), p.Seal)
    assert len(seal.data) <= p.MAX_DATA
    too_long = text + "\U0001f600"
    assert client.say(too_long, T0)[0].level == "error"  # type: ignore[union-attr]


def test_acks_reduce_unacknowledged() -> None:
    client = registered(users=("ana",))  # alone: no keys to hand out
    client.say("one", T0)
    first = client.last_id
    client.say("two", T0)
    second = client.last_id
    assert client.unacknowledged == 2
    assert feed(client, p.Ok(first)) == []
    assert client.unacknowledged == 1
    events = feed(client, p.Error(second, "rate_limited", "slow down", False))
    assert events == [ev.Notice(T0, "slow down", "error")]
    assert client.unacknowledged == 0
    assert client.failures == [p.Error(second, "rate_limited", "slow down", False)]
    assert feed(client, p.Ok(999)) == []  # unknown ids are ignored


# --- receiving -----------------------------------------------------------------------------


def test_incoming_room_and_private_messages() -> None:
    client = registered()
    client.join("rust", T0)  # keys are taken only for a room both are in
    feed(client, p.Users(client.last_id, "rust", ("ana", "bob")))
    bob = Peer(client, "bob")
    data = bob.say("rust", "hi", action=True)
    assert feed(client, p.Sealed("bob", "rust", data, 123.5)) == [
        ev.ChatMessage(123.5, "bob", "rust", "hi", True)
    ]
    events = bob.send(bob.ring.direct("ana", client.key, wire.ChatBody("psst")), now=T0 + 1)
    assert events == [ev.DirectMessage(T0 + 1, "bob", "psst", False)]
    # ...and the other way: what ana tells bob reaches him through the same session.
    client.tell("bob", "hello bob", T0)
    bob.send([])
    assert bob.heard == [wire.ChatBody("hello bob")]


def test_a_room_message_is_held_until_its_key_arrives() -> None:
    client = registered()
    bob = Peer(client, "bob")
    relays, data = bob.ring.seal("lobby", [("ana", client.key)], wire.ChatBody("early"))
    assert feed(client, p.Sealed("bob", "lobby", data, 7.0)) == []
    events = bob.send(relays)
    assert events == [ev.ChatMessage(7.0, "bob", "lobby", "early")]


def test_a_message_whose_key_never_arrives_is_reported() -> None:
    client = registered(dead_after=math.inf)
    bob = Keyring(*keypair("bob"))
    _, data = bob.seal("lobby", [("ana", client.key)], wire.ChatBody("lost"))
    assert feed(client, p.Sealed("bob", "lobby", data, 7.0), T0) == []
    assert warnings(client.tick(T0 + PENDING_TTL - 0.5)) == []
    (warning,) = warnings(client.tick(T0 + PENDING_TTL))
    assert "bob" in warning and "never arrived" in warning
    assert warnings(client.tick(T0 + 2 * PENDING_TTL)) == []


def test_forged_and_broken_messages_are_dropped_with_a_warning() -> None:
    client = registered()
    bob = Peer(client, "bob")
    data = bob.say("lobby", "genuine")
    sealed = wire.decode_sealed(data)
    forged = wire.encode_sealed(
        wire.Sealed(sealed.epoch, sealed.counter, sealed.ciphertext[::-1], sealed.signature)
    )
    for packet in (
        p.Sealed("bob", "lobby", forged, 1.0),
        p.Sealed("bob", "lobby", b"\x00not an envelope", 1.0),
        p.Relayed("bob", "dm", b"\x00" * 40),
        p.Relayed("bob", "hs", b"\x07"),
    ):
        (warning,) = warnings(feed(client, packet))
        assert "from bob" in warning and "failed end-to-end verification" in warning
    # The genuine message was not consumed by the forgery.
    assert feed(client, p.Sealed("bob", "lobby", data, 2.0)) == [
        ev.ChatMessage(2.0, "bob", "lobby", "genuine")
    ]


def test_messages_from_unknown_senders_are_dropped() -> None:
    client = registered()
    for packet in (p.Sealed("zed", "lobby", b"x", 1.0), p.Relayed("zed", "dm", b"x")):
        (warning,) = warnings(feed(client, packet))
        assert "unknown zed" in warning


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["sealed", "hs", "dm", "key", "other"]),
    st.binary(min_size=1, max_size=200),
)
def test_any_end_to_end_data_from_the_host_only_ever_gives_notices(kind: str, data: bytes) -> None:
    client = registered()
    if kind == "sealed":
        events = feed(client, p.Sealed("bob", "lobby", data, 1.0))
    else:
        events = feed(client, p.Relayed("bob", kind, data))
    assert all(isinstance(e, ev.Notice) and e.level == "warn" for e in events)
    # Whatever came in, what we send stays well-formed.
    assert all(isinstance(x, p.Relay) and x.kind == "hs" for x in sent(client))


# --- keys rotate with membership ---------------------------------------------------------------


def test_the_lobby_key_rotates_when_someone_connects_or_leaves() -> None:
    client = registered()
    client.say("one", T0)
    first = epoch(sent(client))
    client.say("two", T0)
    assert epoch(sent(client)) == first
    feed(client, p.Joined("dave", "lobby", 4, key_of("dave")))
    client.say("three", T0)
    out = sent(client)
    assert epoch(out) != first
    # The new key goes to everyone, the newcomer included (over a new session for dave).
    assert [(r.to, r.kind) for r in of_type(out, p.Relay)] == [("dave", "hs")]
    # Three seals, and five keys waiting for their sessions: two each for bob and Carol
    # (one per epoch), one for dave.
    assert client.unacknowledged == 3 + 5
    second = epoch(out)
    feed(client, p.Joined("erin", "go", 1, key_of("erin")))  # not one of our rooms
    client.say("four", T0)
    assert epoch(sent(client)) == second
    feed(client, p.Left("dave", "lobby", 3, "quit"))
    client.say("five", T0)
    assert epoch(sent(client)) not in (first, second)
    assert client.roster.key_of("dave") is None


def test_a_room_key_rotates_with_the_rooms_membership_only() -> None:
    client = registered()
    client.join("rust", T0)
    (join,) = sent(client)
    feed(client, p.Users(join.id, "rust", ("bob", "ana")))  # type: ignore[attr-defined]
    client.say("in rust", T0)
    out = sent(client)
    assert [(r.to, r.kind) for r in of_type(out, p.Relay)] == [("bob", "hs")]  # not Carol
    rust = epoch(out)
    client.say("lobby line", T0, room="lobby")
    lobby = epoch(sent(client))
    feed(client, p.Joined("Carol", "rust", 3, key_of("Carol")))
    client.say("hi Carol", T0)
    assert epoch(sent(client)) != rust
    client.say("lobby again", T0, room="lobby")
    assert epoch(sent(client)) == lobby
    feed(client, p.Left("bob", "rust", 1, ""))
    client.say("just Carol", T0)
    out = sent(client)
    assert epoch(out) != rust
    assert client.roster.members("rust") == [("ana", client.key), ("Carol", key_of("Carol"))]


def test_disconnecting_rotates_every_room_the_peer_was_in() -> None:
    client = registered(users=("ana", "bob"))
    client.join("rust", T0)
    (join,) = sent(client)
    feed(client, p.Users(join.id, "rust", ("bob", "ana")))  # type: ignore[attr-defined]
    client.say("r", T0)
    rust = epoch(sent(client))
    feed(client, p.Left("bob", "lobby", 1, "gone"))
    client.say("r", T0)
    assert epoch(sent(client)) != rust
    assert client.roster.members("rust") == [("ana", client.key)]


# --- pacing -------------------------------------------------------------------------------


@pytest.mark.parametrize(("burst", "rate"), [(10.0, 5.0), (30.0, 10.0), (2.0, 0.5)])
def test_pacing_stays_under_the_hosts_limits(burst: float, rate: float) -> None:
    client = registered(limits=p.RateLimits(burst, rate), dead_after=math.inf)
    for i in range(60):
        client.say(f"m{i}", T0)
    out = counters(sent(client))
    assert 1 <= len(out) <= math.floor(0.8 * burst)
    assert len(out) == max(1, math.floor(0.8 * burst))
    assert client.queued == 60 - len(out)
    now = T0
    while client.queued:
        now += 0.25
        assert client.tick(now) == []
        out += counters(sent(client))
        # Never more than the host would allow in the elapsed time.
        assert len(out) <= burst + rate * (now - T0)
    assert out == list(range(60))  # all of them, in order
    assert now - T0 >= (60 - 0.8 * burst) / (0.9 * rate) - 0.25


def test_private_messages_are_paced_too() -> None:
    client = registered(limits=p.RateLimits(5, 1), dead_after=math.inf)
    bob = Peer(client, "bob")
    bob.send(bob.ring.direct("ana", client.key, wire.ChatBody("open")))  # session open
    for i in range(20):
        client.tell("bob", f"d{i}", T0)
    early = of_type(sent(client), p.Relay)
    assert len(early) == 4 and client.queued == 16
    assert all(r.kind == "dm" for r in early)


def test_what_is_said_before_the_welcome_waits_for_it_then_goes_paced() -> None:
    """A reconnect hands its new session the lines typed meanwhile before the welcome:
    sealed then, with nobody in the roster yet, no member got the key and the others
    read "its key never arrived". They wait, and go out (paced) once we know who is in."""
    client = new_client("ana")
    client.packets_to_send()
    assert [client.say(f"{i}", T0) for i in range(40)] == [[]] * 40
    assert sent(client) == []
    assert client.unacknowledged == 40  # (a piped input that ends now lets them out first)
    events = feed(client, welcome_for("ana", ("ana", "bob")))
    said = [e.text for e in events if isinstance(e, ev.ChatMessage) and e.own]
    assert said == [f"{i}" for i in range(40)]
    packets = sent(client)
    assert isinstance(packets[0], p.Relay) and packets[0].to == "bob"  # the key's way first
    early = len(of_type(packets, p.Seal))
    assert 0 < early <= 0.8 * p.RateLimits().burst
    assert client.queued == 40 - early


# --- rooms ---------------------------------------------------------------------------------


def test_join_reply_changes_room() -> None:
    client = registered()
    assert client.join("#Rust", T0) == []
    (join,) = sent(client)
    assert join == p.Join(client.last_id, "Rust")
    events = feed(client, p.Users(join.id, "rust", ("bob", "ana")))  # type: ignore[attr-defined]
    assert events == [ev.RoomChanged(T0, "rust", ("bob", "ana"))]
    assert client.current_room == "rust"
    assert client.rooms == {"rust": "rust"}
    client.say("in rust", T0)
    assert of_type(sent(client), p.Seal)[0].room == "rust"


def test_join_of_a_known_room_or_the_lobby_is_local() -> None:
    client = registered(rooms=("rust",))
    assert client.join("lobby", T0) == [ev.RoomChanged(T0, "lobby", ())]
    assert client.current_room == "lobby"
    assert client.join("RUST", T0) == [ev.RoomChanged(T0, "rust", ())]
    assert client.current_room == "rust"
    assert sent(client) == []


def test_invalid_room_name() -> None:
    client = registered()
    events = client.join("no spaces", T0)
    assert isinstance(events[0], ev.Notice) and events[0].level == "error"
    assert sent(client) == []


def test_join_refused_gives_an_error_notice() -> None:
    client = registered()
    client.join("rust", T0)
    request = client.last_id
    events = feed(client, p.Error(request, "too_many_rooms", "the host has too many rooms"))
    assert events == [ev.Notice(T0, "cannot join rust: the host has too many rooms", "error")]
    assert client.current_room == "lobby"
    assert client.rooms == {}
    assert client.rejected is None


def test_part_returns_to_the_lobby_and_forgets_the_room() -> None:
    client = registered(rooms=("rust",))
    assert client.current_room == "rust"
    feed(client, p.Users(client.last_id, "rust", ("ana", "bob")))  # who is back in it
    client.say("before", T0)
    before = epoch(sent(client))
    assert client.part(T0) == [ev.RoomChanged(T0, "lobby", ())]
    assert sent(client) == [p.Part(client.last_id, "rust")]
    assert client.current_room == "lobby"
    assert client.rooms == {}
    assert client.roster.members("rust") == []
    assert feed(client, p.Ok(client.last_id)) == []
    client.say("after", T0, room="rust")  # refused by the host, but with a fresh key
    assert epoch(sent(client)) != before


def test_part_of_another_room_keeps_the_current_one() -> None:
    client = registered(rooms=("go", "rust"))
    assert client.part(T0, room="#go") == [ev.RoomChanged(T0, "rust", ())]
    assert sent(client) == [p.Part(client.last_id, "go")]


def test_part_errors_are_local() -> None:
    client = registered()
    assert client.part(T0)[0].level == "info"  # type: ignore[union-attr]
    assert client.part(T0, room="nowhere")[0].level == "error"  # type: ignore[union-attr]
    assert sent(client) == []


def test_joined_and_left_update_the_roster() -> None:
    client = registered(users=("ana",))
    assert feed(client, p.Joined("Dave", "lobby", 2, KEY)) == [ev.Joined(T0, "Dave", "lobby", 2)]
    assert client.roster.nicks == {"ana": "ana", "dave": "Dave"}
    assert client.roster.key_of("dave") == KEY
    feed(client, p.Joined("erin", "rust", 1, KEY))
    assert client.roster.key_of("erin") is None  # a room join is not a connection
    events = feed(client, p.Left("Dave", "lobby", 1, "quit"))
    assert events == [ev.Left(T0, "Dave", "lobby", 1, "quit")]
    assert client.roster.nicks == {"ana": "ana"}
    assert client.roster.key_of("dave") is None
    feed(client, p.Left("ana", "rust", 0))
    assert client.roster.nicks == {"ana": "ana"}


def test_names_rooms_and_whois_replies() -> None:
    client = registered()
    client.names(T0)
    names = sent(client)[0]
    events = feed(client, p.Users(names.id, "lobby", ("ana", "zed")))  # type: ignore[attr-defined]
    assert events == [ev.UserList(T0, "lobby", ("ana", "zed"))]
    assert client.roster.key_of("zed") is None  # a names reply carries no keys
    client.list_rooms(T0)
    rooms = sent(client)[0]
    assert rooms == p.ListRooms(client.last_id)
    events = feed(client, p.RoomList(rooms.id, (("lobby", 2),)))  # type: ignore[attr-defined]
    assert events == [ev.RoomList(T0, (("lobby", 2),))]
    client.whois("zed", T0)
    whois = sent(client)[0]
    assert whois == p.Whois(client.last_id, "zed")
    reply = p.WhoisReply(client.last_id, "zed", KEY, ("lobby",), 9.0)
    assert feed(client, reply) == [ev.WhoisInfo(T0, "zed", fingerprint(KEY), ("lobby",), 9.0)]
    assert client.whois("bad nick", T0)[0].level == "error"  # type: ignore[union-attr]
    assert client.unacknowledged == 0


def test_verify_shows_the_same_safety_code_on_both_sides() -> None:
    ana = registered("ana", users=("ana", "bob"))
    bob = registered("bob", users=("ana", "bob"))
    (code, advice) = ana.verify("BOB", T0)
    assert isinstance(code, ev.Notice) and isinstance(advice, ev.Notice)
    expected = safety_code(key_of("ana"), key_of("bob"))
    assert code.text == f"Safety code with bob: {expected}"
    assert fingerprint(key_of("bob")) in advice.text and "/verify ana" in advice.text
    assert bob.verify("ana", T0)[0].text.endswith(expected)  # type: ignore[union-attr]
    assert ana.verify("zed", T0) == [ev.Notice(T0, "nobody is called zed", "error")]
    assert sent(ana) == []


# --- ping, heartbeat, liveness -------------------------------------------------------------


def test_user_ping_reports_rtt() -> None:
    client = registered()
    client.ping(T0 + 10)
    (ping,) = sent(client)
    events = feed(client, p.Pong(ping.id), T0 + 10.25)  # type: ignore[attr-defined]
    assert len(events) == 1 and isinstance(events[0], ev.PingResult)
    assert events[0].rtt_ms == pytest.approx(250.0)
    assert client.rtt_ms == pytest.approx(250.0)
    assert feed(client, p.Pong(ping.id), T0 + 11) == []  # a duplicate pong is ignored


def test_heartbeat_pings_are_sent_by_tick_and_silent() -> None:
    client = registered(ping_interval=5, dead_after=20)
    assert client.tick(T0 + 4.9) == []
    assert sent(client) == []
    assert client.tick(T0 + 5) == []
    (ping,) = sent(client)
    assert isinstance(ping, p.Ping)
    assert client.tick(T0 + 6) == []
    assert sent(client) == []  # not again until the next interval
    assert feed(client, p.Pong(ping.id), T0 + 5.1) == []
    assert client.rtt_ms == pytest.approx(100.0)
    client.tick(T0 + 10)
    assert [type(x) for x in sent(client)] == [p.Ping]


def test_no_heartbeat_before_registration() -> None:
    client = new_client("ana", ping_interval=5)
    client.packets_to_send()
    assert client.tick(T0 + 6) == []
    assert sent(client) == []


def test_silent_host_is_declared_dead() -> None:
    client = registered(ping_interval=5, dead_after=20)
    assert client.tick(T0 + 19.9) == []
    feed(client, p.Pong(424242), T0 + 15)  # anything heard counts
    assert client.tick(T0 + 34.9) == []
    events = client.tick(T0 + 35)
    assert len(events) == 1 and isinstance(events[0], ev.Disconnected)
    assert "20" in events[0].reason


def test_host_bye() -> None:
    client = registered()
    assert feed(client, p.Bye("restarting")) == [ev.Disconnected(T0, "restarting")]
    assert feed(client, p.Bye())[0].reason  # type: ignore[union-attr]


def test_quit_queues_bye() -> None:
    client = registered()
    client.quit("x" * 1000)
    # Short enough that the host's "quit: REASON" still fits in a left packet.
    assert sent(client) == [p.Bye("x" * (p.MAX_SHORT - len("quit: ")))]


# --- both sides, wired together in memory ---------------------------------------------------


class Network:
    """A HostCore and ClientCores joined by a router that delivers every packet at once.

    ``traffic`` keeps every packet that crossed the host, both ways, to check that what
    people said never crossed it in the clear. ``tamper`` lets a test play a hostile host.
    """

    def __init__(self, **config: Any) -> None:
        self.now = T0
        self.host = HostCore(HostConfig(**config), self.now)
        self.clients: dict[int, ClientCore] = {}
        self.events: dict[int, list[ev.UiEvent]] = {}
        self.closed: dict[int, str] = {}
        self.by_nick: dict[str, int] = {}
        self.traffic: list[bytes] = []
        self.tamper: Callable[[int, bytes], bytes] = lambda conn, data: data

    def connect(self, nick: str, rooms: tuple[str, ...] = (), identity: str = "") -> ClientCore:
        conn = len(self.clients) + 1
        private, public = keypair(identity or nick)
        self.host.accept(conn, self.now)
        self.host.authenticated(conn, public, self.now)
        client = ClientCore(nick, self.now, rooms, static_private=private, static_public=public)
        self.clients[conn] = client
        self.events[conn] = []
        self.by_nick[nick] = conn
        self.flush()
        return client

    def seen(self, nick: str) -> list[ev.UiEvent]:
        events, self.events[self.by_nick[nick]] = self.events[self.by_nick[nick]], []
        return events

    def do(self, nick: str, method: str, *args: Any, **kwargs: Any) -> list[ev.UiEvent]:
        client = self.clients[self.by_nick[nick]]
        events: list[ev.UiEvent] = getattr(client, method)(*args, now=self.now, **kwargs)
        self.flush()
        return events

    def flush(self) -> None:
        moved = True
        while moved:
            moved = False
            for conn, client in self.clients.items():
                for data in client.packets_to_send():
                    if conn in self.closed:
                        continue
                    moved = True
                    self.traffic.append(data)
                    self.apply(self.host.receive(conn, data, self.now))

    def apply(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.deliver(action.conn, action.data)
            elif isinstance(action, Broadcast):
                for conn in action.conns:
                    self.deliver(conn, action.data)
            elif isinstance(action, Close) and action.conn not in self.closed:
                self.closed[action.conn] = action.reason
                self.apply(self.host.closed(action.conn, self.now, action.reason))

    def deliver(self, conn: int, data: bytes) -> None:
        assert conn not in self.closed
        data = self.tamper(conn, data)
        self.traffic.append(data)
        self.events[conn] += self.clients[conn].receive(data, self.now)

    def advance(self, seconds: float, step: float = 0.5) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for conn, client in self.clients.items():
                if conn not in self.closed:
                    self.events[conn] += client.tick(self.now)
            self.apply(self.host.tick(self.now))
            self.flush()

    def assert_never_in_the_clear(self, *texts: str) -> None:
        assert self.traffic
        for text in texts:
            needle = text.encode()
            assert not any(needle in data for data in self.traffic), text


def chat(events: list[ev.UiEvent]) -> list[tuple[str, str, str]]:
    return [(e.sender, e.room, e.text) for e in events if isinstance(e, ev.ChatMessage)]


def test_conversation_end_to_end() -> None:
    net = Network()
    ana = net.connect("ana")
    bob = net.connect("bob")
    carol = net.connect("carol")
    assert ana.registered and bob.registered and carol.registered
    assert net.seen("carol")[0] == ev.Welcome(T0, "carol", "", ("ana", "bob", "carol"))
    assert set(ana.roster.nicks) == {"ana", "bob", "carol"}
    assert ana.roster.key_of("carol") == key_of("carol")
    net.seen("ana"), net.seen("bob")

    net.do("ana", "say", "hello everyone")
    assert chat(net.seen("bob")) == chat(net.seen("carol")) == [("ana", "lobby", "hello everyone")]
    assert ana.unacknowledged == 0 and net.seen("ana") == []

    net.do("bob", "join", "Rust")
    assert net.seen("bob") == [ev.RoomChanged(T0, "Rust", ("bob",))]
    net.do("carol", "join", "rust")
    assert net.seen("carol") == [ev.RoomChanged(T0, "Rust", ("bob", "carol"))]
    assert net.seen("bob") == [ev.Joined(T0, "carol", "Rust", 2)]
    net.do("bob", "say", "anyone here?")  # goes to the current room
    assert chat(net.seen("carol")) == [("bob", "Rust", "anyone here?")]
    assert net.seen("ana") == []
    net.do("carol", "say", "me", action=True)
    assert net.seen("bob") == [ev.ChatMessage(T0, "carol", "Rust", "me", True)]

    net.do("ana", "tell", "CAROL", "psst")
    assert net.seen("carol") == [ev.DirectMessage(T0, "ana", "psst")]
    assert net.seen("bob") == []
    net.do("bob", "tell", "ana", "a private word")  # no session between them yet
    assert net.seen("ana") == [ev.DirectMessage(T0, "bob", "a private word")]
    assert bob.unacknowledged == 0

    net.do("carol", "whois", "bob")
    (info,) = net.seen("carol")
    assert info == ev.WhoisInfo(T0, "bob", fingerprint(key_of("bob")), ("lobby", "Rust"), 0.0)

    net.do("ana", "ping")
    net.advance(0.5)
    assert [type(e) for e in net.seen("ana")] == [ev.PingResult]

    intruder = net.connect("ANA")  # another identity wanting ana's nick
    assert intruder.rejected is not None and intruder.rejected.code == "nick_taken"
    assert isinstance(net.seen("ANA")[-1], ev.Disconnected)
    assert net.seen("ana") == net.seen("bob") == []  # nobody else noticed

    bob.quit("bye all")
    net.flush()
    assert net.closed[2] == "quit: bye all"
    assert net.seen("carol") == [
        ev.Left(net.now, "bob", "Rust", 1, "quit: bye all"),
        ev.Left(net.now, "bob", "lobby", 2, "quit: bye all"),
    ]
    assert net.seen("ana") == [ev.Left(net.now, "bob", "lobby", 2, "quit: bye all")]
    assert ana.roster.key_of("bob") is None and carol.roster.key_of("bob") is None
    assert not any(e for e in bob.failures)
    assert ana.failures == carol.failures == []
    # Everything above crossed the host, and none of it in the clear.
    net.assert_never_in_the_clear("hello everyone", "anyone here?", "psst", "a private word")


def test_the_host_relays_only_ciphertext_in_rooms_and_dms() -> None:
    net = Network()
    net.connect("ana")
    net.connect("bob")
    net.do("ana", "join", "secret")
    net.do("bob", "join", "secret")
    lines = [f"line {i} about the plan" for i in range(5)]
    for line in lines:
        net.do("ana", "say", line)
        net.do("bob", "tell", "ana", "dm " + line)
    assert [text for *_, text in chat(net.seen("bob"))] == lines
    dms = [e.text for e in net.seen("ana") if isinstance(e, ev.DirectMessage)]
    assert dms == ["dm " + line for line in lines]
    net.assert_never_in_the_clear("about the plan", "line 0", "dm line")
    # What the host relayed: opaque seals and blobs of the documented kinds.
    relayed = [
        packet
        for data in net.traffic
        for packet in [_decode_any(data)]
        if isinstance(packet, (p.Sealed, p.Relayed))
    ]
    assert {r.kind for r in relayed if isinstance(r, p.Relayed)} == {"hs", "key", "dm"}
    assert any(isinstance(r, p.Sealed) for r in relayed)


def _decode_any(data: bytes) -> p.Packet:
    try:
        return p.decode_from_host(data)
    except RemoteProtocolError:
        return p.decode_from_client(data)


def test_a_note_to_oneself_stays_local() -> None:
    net = Network()
    ana = net.connect("ana")
    net.connect("bob")
    net.seen("ana"), net.seen("bob")
    start = len(net.traffic)
    assert net.do("ana", "tell", "ANA", "note to self") == [
        ev.DirectMessage(T0, "ana", "note to self", own=True)
    ]
    assert net.traffic[start:] == []  # nothing to encrypt for, nothing sent
    assert net.seen("ana") == net.seen("bob") == []  # and no false forgery warning
    assert ana.unacknowledged == 0


def test_the_longest_texts_travel_end_to_end() -> None:
    net = Network()
    ana = net.connect("ana")
    net.connect("bob")
    net.seen("bob")
    longest = "\U0001f600" * (MAX_TEXT_BYTES // 4)
    net.do("ana", "say", longest)
    net.do("ana", "tell", "bob", longest)
    assert net.seen("bob") == [
        ev.ChatMessage(T0, "ana", "lobby", longest),
        ev.DirectMessage(T0, "ana", longest),
    ]
    assert ana.failures == [] and ana.unacknowledged == 0


def test_members_who_left_and_newcomers_cannot_read_across_a_rotation() -> None:
    net = Network(idle_timeout=1e9)
    ana = net.connect("ana")
    net.connect("bob")
    carol = net.connect("carol")
    for nick in ("ana", "bob", "carol"):
        net.do(nick, "join", "rust")
    net.do("ana", "say", "all three")
    seals: list[p.Seal] = []
    net.do("carol", "part")
    start = len(net.traffic)
    net.do("ana", "say", "carol is gone")
    for data in net.traffic[start:]:
        try:
            packet = p.decode_from_client(data)
        except RemoteProtocolError:
            continue
        if isinstance(packet, p.Seal):
            seals.append(packet)
    (after,) = seals
    assert chat(net.seen("bob"))[-1] == ("ana", "rust", "carol is gone")
    # A host that hands carol the new message anyway: she cannot read it.
    net.seen("carol")
    assert feed(carol, p.Sealed("ana", "rust", after.data, 1.0), net.now) == []
    net.advance(PENDING_TTL + 1)
    assert any("never arrived" in w for w in warnings(net.seen("carol")))
    # dave joins: he reads what follows, not what came before.
    dave = net.connect("dave")
    net.do("dave", "join", "rust")
    net.seen("dave")
    assert feed(dave, p.Sealed("ana", "rust", after.data, 1.0), net.now) == []
    net.do("ana", "say", "hi dave")
    assert chat(net.seen("dave")) == [("ana", "rust", "hi dave")]
    net.advance(PENDING_TTL + 1)
    assert any("never arrived" in w for w in warnings(net.seen("dave")))
    assert ana.failures == []


def test_a_host_that_swaps_a_key_is_caught() -> None:
    """The host tells carol that bob's key is mallory's: carol's messages never reach bob."""
    net = Network()
    net.connect("ana")
    net.connect("bob")
    mallory = key_of("mallory")

    def swap(conn: int, data: bytes) -> bytes:
        packet = p.decode_from_host(data)
        if conn == 3 and isinstance(packet, p.Welcome):
            users = tuple((n, mallory if n == "bob" else k) for n, k in packet.users)
            return p.encode(p.Welcome(packet.nick, packet.host, users, packet.rooms))
        return data

    net.tamper = swap
    carol = net.connect("carol")
    assert carol.roster.key_of("bob") == mallory
    net.do("carol", "tell", "bob", "for bob only")
    (warning,) = warnings(net.seen("carol"))
    assert "from bob" in warning and "failed end-to-end verification" in warning
    assert not any(isinstance(e, ev.DirectMessage) for e in net.seen("bob"))
    # The safety codes differ, which is what /verify is for.
    bob_view = net.clients[2].verify("carol", net.now)[0].text  # type: ignore[union-attr]
    carol_view = carol.verify("bob", net.now)[0].text  # type: ignore[union-attr]
    assert bob_view.split(": ")[1] != carol_view.split(": ")[1]


def test_a_host_that_relabels_a_room_message_is_caught() -> None:
    net = Network()
    net.connect("ana")
    net.connect("bob")
    net.connect("carol")
    net.do("ana", "say", "hi")  # everyone has ana's key

    def relabel(conn: int, data: bytes) -> bytes:
        packet = p.decode_from_host(data)
        if isinstance(packet, p.Sealed) and packet.sender == "carol":
            return p.encode(p.Sealed("ana", packet.room, packet.data, packet.ts))
        return data

    net.tamper = relabel
    for nick in ("ana", "bob", "carol"):
        net.seen(nick)
    net.do("carol", "say", "I am ana")
    first = net.seen("bob")
    assert chat(first) == []  # never shown as ana's
    net.advance(PENDING_TTL + 1)
    # Flagged as soon as carol's key shows who really sealed it (or, failing that, when
    # the held message expires).
    assert any("ana" in w for w in warnings(first + net.seen("bob")))


def test_a_flood_is_paced_so_the_host_refuses_nothing() -> None:
    net = Network(rate_burst=10, rate_per_second=4)
    ana = net.connect("ana")
    net.connect("bob")
    texts = [f"line {i}" for i in range(60)]
    for text in texts:
        net.do("ana", "say", text)
    assert ana.queued > 0
    net.advance(30, step=0.25)
    assert ana.queued == 0 and ana.unacknowledged == 0
    assert ana.failures == []
    assert [text for _, _, text in chat(net.seen("bob"))] == texts


def test_a_big_room_rekeys_within_the_control_allowance() -> None:
    """Three of forty speak, each handing its key to 39 others over new sessions at once:
    far over the message allowance, but handshakes and keys have their own."""
    net = Network(rate_burst=10, rate_per_second=4, idle_timeout=1e9)
    clients = [net.connect(f"u{i}") for i in range(40)]
    for client in clients[:3]:
        net.do(client.nick, "say", f"hello from {client.nick}")
    net.advance(5)
    for client in clients:
        assert client.failures == [], client.failures
        assert client.unacknowledged == 0
    heard = chat(net.seen("u39"))
    assert [text for *_, text in heard] == [f"hello from u{i}" for i in range(3)]


def test_heartbeats_keep_idle_clients_connected_and_dead_hosts_are_noticed() -> None:
    net = Network(idle_timeout=30)
    ana = net.connect("ana")
    net.connect("bob")
    net.advance(120)
    assert net.closed == {}
    assert ana.rtt_ms is not None
    assert not any(isinstance(e, ev.Disconnected) for e in net.seen("ana") + net.seen("bob"))
    # The host stops answering ana: she notices within dead_after.
    net.closed[1] = "unplugged"
    for _ in range(41):
        net.now += 0.5
        events = ana.tick(net.now)
        ana.packets_to_send()
        if events:
            break
    assert isinstance(events[0], ev.Disconnected)
    net.apply(net.host.closed(1, net.now, "unplugged"))
    assert [e for e in net.seen("bob") if isinstance(e, ev.Left)] == [
        ev.Left(net.now, "ana", "lobby", 1, "unplugged")
    ]
