"""``severus send`` under one's own nick beside one's open chat (PROTOCOL.md 4.7), sans-IO:
a HostCore and real ClientCores (end-to-end encryption included) on an in-memory router.

The chat stays, the others see no leave or join, and the sent lines reach them as from
the nick, verified against the one key the roster gives for it.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.client.core import ClientCore
from severus_cli.core.wire import packets as p
from severus_cli.ui.render import unseen
from tests.test_client_core import Network, keypair


def send_only(net: Network, nick: str, identity: str = "", rooms: tuple[str, ...] = ()) -> int:
    """Connect a send-only client core; its conn (``net.by_nick`` keeps the first one)."""
    conn = len(net.clients) + 1
    private, public = keypair(identity or nick)
    net.host.accept(conn, net.now)
    net.host.authenticated(conn, public, net.now)
    net.clients[conn] = ClientCore(
        nick, net.now, rooms, static_private=private, static_public=public, send_only=True
    )
    net.events[conn] = []
    net.flush()
    return conn


def say(net: Network, conn: int, text: str, room: str | None = None) -> None:
    net.clients[conn].say(text, net.now, room=room)
    net.flush()


def lines(events: list[ev.UiEvent]) -> list[tuple[str, str]]:
    return [(e.sender, e.text) for e in events if isinstance(e, ev.ChatMessage)]


def membership(events: list[ev.UiEvent]) -> list[ev.UiEvent]:
    return [e for e in events if isinstance(e, ev.Joined | ev.Left) and not unseen(e)]


def warnings(events: list[ev.UiEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, ev.Notice) and e.level != "info"]


def chat() -> tuple[Network, int]:
    net = Network()
    for nick in ("ana", "bob", "cy"):
        net.connect(nick)
    for nick in ("ana", "bob", "cy"):
        net.seen(nick)
    return net, net.by_nick["bob"]


def test_a_send_under_ones_own_nick_leaves_the_chat_alone() -> None:
    net, bob = chat()
    sender = send_only(net, "bob")
    assert net.clients[sender].registered and bob not in net.closed
    say(net, sender, "backup done")
    for nick in ("ana", "cy"):
        events = net.seen(nick)
        assert lines(events) == [("bob", "backup done")]
        assert membership(events) == [] and warnings(events) == []
    assert net.seen("bob") == []  # the chat hears nothing of its own send
    # The chat's own sessions are intact both ways.
    net.do("bob", "say", "still here")
    assert lines(net.seen("ana")) == [("bob", "still here")]
    net.do("ana", "tell", "bob", "hi bob")
    assert [e.text for e in net.seen("bob") if isinstance(e, ev.DirectMessage)] == ["hi bob"]
    # Its end shows nothing, and a next send is read as well (its state was forgotten).
    net.apply(net.host.closed(sender, net.now, "disconnected"))
    net.closed[sender] = "disconnected"
    assert membership(net.seen("ana")) == []
    again = send_only(net, "bob")
    say(net, again, "second run")
    events = net.seen("ana")
    assert lines(events) == [("bob", "second run")] and warnings(events) == []
    assert net.host.participant_count == 3


def test_the_host_never_hears_the_text() -> None:
    net, _ = chat()
    say(net, send_only(net, "bob"), "a secret line")
    assert not any(b"a secret line" in data for data in net.traffic)


def test_another_key_for_a_held_nick_is_still_refused() -> None:
    net, bob = chat()
    thief = send_only(net, "bob", identity="mallory")
    rejected = net.clients[thief].rejected
    assert rejected is not None and rejected.code == "nick_taken"
    assert bob not in net.closed


def test_a_send_speaks_only_where_its_chat_is() -> None:
    net, _ = chat()
    net.do("bob", "join", "ops")
    net.do("cy", "join", "ops")
    net.seen("cy")
    inside = send_only(net, "bob", rooms=("ops",))
    assert "ops" in net.clients[inside].rooms
    say(net, inside, "deployed", room="ops")
    events = net.seen("cy")
    assert [(e.sender, e.room, e.text) for e in events if isinstance(e, ev.ChatMessage)] == [
        ("bob", "ops", "deployed")
    ]
    outside = send_only(net, "bob", rooms=("elsewhere",))
    assert "elsewhere" not in net.clients[outside].rooms


def test_the_chat_leaving_ends_its_sends() -> None:
    net, bob = chat()
    sender = send_only(net, "bob")
    net.apply(net.host.closed(bob, net.now, "quit"))
    net.closed[bob] = "quit"
    assert sender in net.closed
    assert net.clients[sender].rejected is not None


def test_a_send_on_its_own_comes_and_goes_unseen() -> None:
    net, _ = chat()
    cron = send_only(net, "cron")
    events = net.seen("ana")
    assert [e for e in events if isinstance(e, ev.Joined) and e.quiet]  # still in the roster
    assert membership(events) == []
    say(net, cron, "nightly ok")
    assert lines(net.seen("ana")) == [("cron", "nightly ok")]
    net.apply(net.host.closed(cron, net.now, "quit"))
    net.closed[cron] = "quit"
    events = net.seen("ana")
    assert [e for e in events if isinstance(e, ev.Left) and e.quiet]
    assert membership(events) == []


def test_a_client_without_via_gets_nothing_from_a_send_beside_a_chat() -> None:
    net, _ = chat()
    old = net.by_nick["cy"]
    net.host._peers[old].caps = ("nick",)  # as an older client would have said
    say(net, send_only(net, "bob"), "for new clients")
    assert lines(net.seen("ana")) == [("bob", "for new clients")]
    assert net.seen("cy") == []


def test_via_is_optional_on_the_wire() -> None:
    sealed = p.Sealed("bob", "lobby", b"x", 1.0)
    assert "via" not in sealed.to_wire()
    assert p.decode_from_host(p.encode(p.Sealed("bob", "lobby", b"x", 1.0, 3))) == p.Sealed(
        "bob", "lobby", b"x", 1.0, 3
    )
    left = p.decode_from_host(p.encode(p.Left("bob", "lobby", 2, "", True, 1)))
    assert isinstance(left, p.Left) and (left.quiet, left.via) == (True, 1)


def test_overlapping_sends_of_one_nick_go_on_when_the_first_ends() -> None:
    net, _ = chat()
    first = send_only(net, "cron")
    second = send_only(net, "cron")
    say(net, first, "from the first")
    say(net, second, "from the second")
    assert lines(net.seen("ana")) == [("cron", "from the first"), ("cron", "from the second")]
    net.apply(net.host.closed(first, net.now, "quit"))
    net.closed[first] = "quit"
    assert second not in net.closed  # it holds the nick now, unseen
    say(net, second, "still going")
    third = send_only(net, "cron")
    say(net, third, "and a third")
    events = net.seen("ana")
    assert lines(events) == [("cron", "still going"), ("cron", "and a third")]
    assert membership(events) == [] and warnings(events) == []
    net.apply(net.host.closed(second, net.now, "quit"))
    net.closed[second] = "quit"
    say(net, third, "the last one")
    assert lines(net.seen("cy")) == [
        ("cron", "from the first"),
        ("cron", "from the second"),
        ("cron", "still going"),
        ("cron", "and a third"),
        ("cron", "the last one"),
    ]
    net.apply(net.host.closed(third, net.now, "quit"))
    net.closed[third] = "quit"
    assert "cron" not in net.host.members("lobby")
    assert [e for e in net.seen("ana") if isinstance(e, ev.Left) and e.quiet]


def test_a_chat_of_the_nick_tells_the_sends_that_held_it_to_make_way() -> None:
    net, _ = chat()
    first = send_only(net, "cron")
    second = send_only(net, "cron")
    private, public = keypair("cron")
    conn = len(net.clients) + 1
    net.host.accept(conn, net.now)
    net.host.authenticated(conn, public, net.now)
    net.clients[conn] = ClientCore("cron", net.now, static_private=private, static_public=public)
    net.events[conn] = []
    net.flush()
    assert net.clients[conn].registered
    assert net.host.members("lobby").count("cron") == 1
    for send in (first, second):  # told to come back beside the chat, not to give up
        rejected = net.clients[send].rejected
        assert rejected is not None and rejected.code == "nick_yielded"
        assert send not in net.closed  # left to close it: no reset, nothing lost
    net.seen("ana")
    say(net, first, "sent before it heard")  # ignored: no answer, so it sends it again
    assert net.clients[first].requests.count(frozenset({"seal"})) == 1
    assert lines(net.seen("ana")) == []
    net.clients[first].quit()
    net.flush()
    assert net.closed[first] == "made way for its chat"
    net.advance(net.host.config.handshake_timeout + 1)
    assert second in net.closed  # one that never leaves is closed in the end


def test_a_chat_arriving_while_its_send_holds_the_nick_takes_it_and_the_send_comes_back() -> None:
    net, _ = chat()
    net.do("ana", "join", "ops")
    sender = send_only(net, "dan", rooms=("ops",))
    say(net, sender, "first", room="ops")
    net.seen("ana")

    dan = net.connect("dan")  # dan's chat, same key: it takes the nick at once
    rejected = net.clients[sender].rejected
    assert rejected is not None and rejected.code == "nick_yielded"
    assert dan.registered and "ops" in dan.rooms  # put where the send was posting
    joins = [(e.nick, e.room) for e in membership(net.seen("ana")) if isinstance(e, ev.Joined)]
    assert joins == [("dan", "lobby"), ("dan", "ops")]  # the chat is seen to arrive

    again = send_only(net, "dan", rooms=("ops",))  # the send comes back, beside the chat
    assert again not in net.closed and net.clients[again].rooms == {"ops": "ops"}
    say(net, again, "second", room="ops")
    net.do("dan", "say", "from the chat", room="ops")
    net.do("ana", "tell", "dan", "hi dan")
    events = net.seen("ana")
    assert lines(events) == [("dan", "second"), ("dan", "from the chat")]
    assert membership(events) == [] and warnings(events) == []
    assert [e.text for e in net.seen("dan") if isinstance(e, ev.DirectMessage)] == ["hi dan"]
    assert net.host.members("lobby").count("dan") == 1


def test_a_chat_arriving_beside_sends_of_another_nick_changes_nothing_for_them() -> None:
    net, _ = chat()
    cron = send_only(net, "cron")
    net.connect("cron2", identity="cron")  # the same key, another nick
    assert cron not in net.closed
