"""ClientCore on its own, then wired to a HostCore through an in-memory router."""

from __future__ import annotations

import math
from typing import Any

import pytest

from severus_cli.core import events as ev
from severus_cli.core import packets as p
from severus_cli.core.client import CLIENT_NAME, ClientCore
from severus_cli.core.host import Broadcast, Close, HostConfig, HostCore, Send
from severus_cli.core.identity_format import fingerprint
from severus_cli.errors import RemoteProtocolError

T0 = 5000.0
KEY = bytes(range(32))


def sent(client: ClientCore) -> list[p.Packet]:
    return [p.decode_from_client(data) for data in client.packets_to_send()]


def feed(client: ClientCore, packet: p.Packet, now: float = T0) -> list[ev.UiEvent]:
    return client.receive(p.encode(packet), now)


def registered(
    nick: str = "ana",
    limits: p.RateLimits | None = None,
    users: tuple[str, ...] = ("ana", "bob", "Carol"),
    rooms: tuple[str, ...] = (),
    **kwargs: Any,
) -> ClientCore:
    client = ClientCore(nick, T0, rooms=rooms, **kwargs)
    welcome = p.Welcome(nick, "", users, rooms, "", limits or p.RateLimits())
    feed(client, welcome)
    client.packets_to_send()
    return client


# --- registration ------------------------------------------------------------------------


def test_hello_is_queued_at_start() -> None:
    client = ClientCore("ana", T0, rooms=("rust",))
    assert not client.registered
    assert sent(client) == [p.Hello("ana", CLIENT_NAME, ("rust",))]
    assert sent(client) == []


def test_welcome_registers() -> None:
    client = ClientCore("ana", T0)
    client.packets_to_send()
    limits = p.RateLimits(12, 3, 400)
    welcome = p.Welcome("Ana", "host", ("host", "Ana", "bob"), (), "hi there", limits)
    events = feed(client, welcome)
    assert events == [
        ev.Welcome(T0, "Ana", "host", ("host", "Ana", "bob")),
        ev.Notice(T0, "hi there"),
    ]
    assert client.registered
    assert client.nick == "Ana"
    assert client.host_nick == "host"
    assert client.limits == limits
    assert client.roster == {"host": "host", "ana": "Ana", "bob": "bob"}
    assert client.current_room == "lobby"
    with pytest.raises(RemoteProtocolError):
        feed(client, welcome)


def test_welcome_with_rejoined_rooms_selects_the_last() -> None:
    client = ClientCore("ana", T0, rooms=("go", "Rust"))
    feed(client, p.Welcome("ana", "", ("ana",), ("go", "rust")))
    assert client.rooms == {"go": "go", "rust": "rust"}
    assert client.current_room == "rust"


def test_welcome_without_the_wanted_room_stays_in_the_lobby() -> None:
    client = ClientCore("ana", T0, rooms=("full",))
    feed(client, p.Welcome("ana", "", ("ana",), ()))
    assert client.current_room == "lobby"


def test_fatal_error_rejects() -> None:
    client = ClientCore("ana", T0)
    events = feed(client, p.Error(None, "nick_taken", "the nick ana is taken", True))
    assert events == [ev.Disconnected(T0, "the nick ana is taken")]
    assert client.rejected == p.Error(None, "nick_taken", "the nick ana is taken", True)
    assert not client.registered


def test_junk_from_the_host_is_a_protocol_error() -> None:
    client = ClientCore("ana", T0)
    for junk in (b"\xc1", b"", p.encode(p.Hello("ana", "x"))):
        with pytest.raises(RemoteProtocolError):
            client.receive(junk, T0)


# --- messages ------------------------------------------------------------------------------


def test_say_returns_own_message_and_queues_say() -> None:
    client = registered()
    events = client.say("hello", T0 + 1)
    assert events == [ev.ChatMessage(T0 + 1, "ana", "lobby", "hello", False, own=True)]
    assert sent(client) == [p.Say(client.last_id, "lobby", "hello", False)]
    first = client.last_id
    client.say("waves", T0 + 2, action=True, room="rust")
    assert sent(client) == [p.Say(first + 1, "rust", "waves", True)]
    assert client.unacknowledged == 2


def test_tell_returns_own_direct_message() -> None:
    client = registered()
    events = client.tell("carol", "psst", T0)
    assert events == [ev.DirectMessage(T0, "Carol", "psst", False, own=True)]
    assert sent(client) == [p.Tell(client.last_id, "carol", "psst", False)]
    assert client.tell("not valid", "x", T0)[0].level == "error"  # type: ignore[union-attr]
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


def test_the_longest_sendable_text_is_sent() -> None:
    client = registered()
    client.say("\u00e9" * p.MAX_TEXT, T0)  # 2 bytes each: 32 KiB
    (say,) = sent(client)
    assert isinstance(say, p.Say) and len(say.text) == p.MAX_TEXT


def test_acks_reduce_unacknowledged() -> None:
    client = registered()
    client.say("one", T0)
    first = client.last_id
    client.tell("bob", "two", T0)
    second = client.last_id
    assert client.unacknowledged == 2
    assert feed(client, p.Ok(first)) == []
    assert client.unacknowledged == 1
    events = feed(client, p.Error(second, "rate_limited", "slow down", False))
    assert events == [ev.Notice(T0, "slow down", "error")]
    assert client.unacknowledged == 0
    assert client.failures == [p.Error(second, "rate_limited", "slow down", False)]
    assert feed(client, p.Ok(999)) == []  # unknown ids are ignored


def test_incoming_messages() -> None:
    client = registered()
    assert feed(client, p.Message("bob", "rust", "hi", True, 123.5)) == [
        ev.ChatMessage(123.5, "bob", "rust", "hi", True)
    ]
    assert feed(client, p.Private("bob", "psst", False, 124.0)) == [
        ev.DirectMessage(124.0, "bob", "psst", False)
    ]


# --- pacing -------------------------------------------------------------------------------


def said(client: ClientCore) -> list[str]:
    """Texts of the Say packets now queued (heartbeat pings are skipped)."""
    return [s.text for s in sent(client) if isinstance(s, p.Say)]


@pytest.mark.parametrize(("burst", "rate"), [(10.0, 5.0), (30.0, 10.0), (2.0, 0.5)])
def test_pacing_stays_under_the_hosts_limits(burst: float, rate: float) -> None:
    client = registered(limits=p.RateLimits(burst, rate), dead_after=math.inf)
    texts = [f"m{i}" for i in range(60)]
    for text in texts:
        client.say(text, T0)
    out = said(client)
    assert 1 <= len(out) <= math.floor(0.8 * burst)
    assert len(out) == max(1, math.floor(0.8 * burst))
    assert client.queued == len(texts) - len(out)
    now = T0
    while client.queued:
        now += 0.25
        assert client.tick(now) == []
        out += said(client)
        # Never more than the host would allow in the elapsed time.
        assert len(out) <= burst + rate * (now - T0)
    assert out == texts  # all of them, in order
    assert now - T0 >= (len(texts) - 0.8 * burst) / (0.9 * rate) - 0.25


def test_messages_before_welcome_are_paced_too() -> None:
    client = ClientCore("ana", T0)
    client.packets_to_send()
    for i in range(40):
        client.say(f"{i}", T0)
    early = len(sent(client))
    assert early <= 0.8 * p.RateLimits().burst
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
    assert sent(client)[0].room == "rust"  # type: ignore[attr-defined]


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


def test_part_returns_to_the_lobby() -> None:
    client = registered(rooms=("rust",))
    assert client.current_room == "rust"
    assert client.part(T0) == [ev.RoomChanged(T0, "lobby", ())]
    assert sent(client) == [p.Part(client.last_id, "rust")]
    assert client.current_room == "lobby"
    assert client.rooms == {}
    assert feed(client, p.Ok(client.last_id)) == []


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
    assert client.roster == {"ana": "ana", "dave": "Dave"}
    feed(client, p.Joined("erin", "rust", 1, KEY))
    assert "erin" not in client.roster  # a room join is not a connection
    events = feed(client, p.Left("Dave", "lobby", 1, "quit"))
    assert events == [ev.Left(T0, "Dave", "lobby", 1, "quit")]
    assert client.roster == {"ana": "ana"}
    feed(client, p.Left("ana", "rust", 0))
    assert client.roster == {"ana": "ana"}


def test_names_rooms_and_whois_replies() -> None:
    client = registered()
    client.names(T0)
    names = sent(client)[0]
    events = feed(client, p.Users(names.id, "lobby", ("ana", "zed")))  # type: ignore[attr-defined]
    assert events == [ev.UserList(T0, "lobby", ("ana", "zed"))]
    assert client.roster == {"ana": "ana", "zed": "zed"}
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
    client = ClientCore("ana", T0, ping_interval=5)
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
    assert sent(client) == [p.Bye("x" * p.MAX_SHORT)]


# --- both sides, wired together in memory ---------------------------------------------------


class Network:
    """A HostCore and ClientCores joined by a router that delivers every packet at once."""

    def __init__(self, **config: Any) -> None:
        self.now = T0
        self.host = HostCore(HostConfig(**config), self.now)
        self.clients: dict[int, ClientCore] = {}
        self.events: dict[int, list[ev.UiEvent]] = {}
        self.closed: dict[int, str] = {}
        self.by_nick: dict[str, int] = {}

    def connect(self, nick: str, rooms: tuple[str, ...] = ()) -> ClientCore:
        conn = len(self.clients) + 1
        self.host.accept(conn, self.now)
        self.host.authenticated(conn, bytes([conn]) * 32, self.now)
        client = ClientCore(nick, self.now, rooms)
        self.clients[conn] = client
        self.events[conn] = []
        self.by_nick[nick] = conn
        self.flush()
        return client

    def seen(self, nick: str) -> list[ev.UiEvent]:
        events, self.events[self.by_nick[nick]] = self.events[self.by_nick[nick]], []
        return events

    def do(self, nick: str, action: str, *args: Any, **kwargs: Any) -> list[ev.UiEvent]:
        client = self.clients[self.by_nick[nick]]
        events: list[ev.UiEvent] = getattr(client, action)(*args, now=self.now, **kwargs)
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


def chat(events: list[ev.UiEvent]) -> list[tuple[str, str, str]]:
    return [(e.sender, e.room, e.text) for e in events if isinstance(e, ev.ChatMessage)]


def test_conversation_end_to_end() -> None:
    net = Network()
    ana = net.connect("ana")
    bob = net.connect("bob")
    carol = net.connect("carol")
    assert ana.registered and bob.registered and carol.registered
    assert net.seen("carol")[0] == ev.Welcome(T0, "carol", "", ("ana", "bob", "carol"))
    assert set(ana.roster) == {"ana", "bob", "carol"}
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

    net.do("ana", "tell", "CAROL", "psst")
    assert net.seen("carol") == [ev.DirectMessage(T0, "ana", "psst")]
    assert net.seen("bob") == []

    net.do("carol", "whois", "bob")
    (info,) = net.seen("carol")
    assert info == ev.WhoisInfo(T0, "bob", fingerprint(bytes([2]) * 32), ("lobby", "Rust"), 0.0)

    net.do("ana", "ping")
    net.advance(0.5)
    assert [type(e) for e in net.seen("ana")] == [ev.PingResult]

    intruder = net.connect("ANA")
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
    assert "bob" not in ana.roster and "bob" not in carol.roster
    assert not any(e for e in bob.failures)


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
