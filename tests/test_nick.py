"""/nick: a participant changes its nick and keeps its key (host and client cores,
wired in memory; the e2e test runs the same on real processes)."""

from __future__ import annotations

from typing import Any

from severus_cli.core.client import events as ev
from severus_cli.core.client.core import ClientCore
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.peer_trust import PeerGuard
from severus_cli.core.wire import packets as p
from severus_cli.runtime.controller import ChatController
from severus_cli.ui import input as cmd
from severus_cli.ui.render import render, to_json
from tests.test_client_core import T0, Network, feed, key_of, keypair, registered
from tests.test_peer_trust import MemoryStore


class Net(Network):
    def connect(
        self, nick: str, rooms: tuple[str, ...] = (), identity: str = "", **kw: Any
    ) -> ClientCore:
        if not kw:
            return super().connect(nick, rooms, identity)
        conn = len(self.clients) + 1
        private, public = keypair(identity or nick)
        self.host.accept(conn, self.now)
        self.host.authenticated(conn, public, self.now)
        client = ClientCore(
            nick, self.now, rooms, static_private=private, static_public=public, **kw
        )
        self.clients[conn] = client
        self.events[conn] = []
        self.by_nick[nick] = conn
        self.flush()
        return client

    def said(self, nick: str) -> list[tuple[str, str, str]]:
        return [
            (e.sender, e.room, e.text) for e in self.seen(nick) if isinstance(e, ev.ChatMessage)
        ]


def renamed(events: list[ev.UiEvent]) -> list[ev.Renamed]:
    return [e for e in events if isinstance(e, ev.Renamed)]


def trio() -> tuple[Net, ClientCore, ClientCore, ClientCore]:
    net = Net()
    ana, bob, cy = net.connect("ana"), net.connect("bob"), net.connect("cy")
    net.do("bob", "join", "dev")
    net.do("cy", "join", "dev")
    net.do("bob", "say", "before", room="dev")
    net.do("bob", "join", "lobby")  # plain lines go to the lobby again
    net.do("cy", "join", "lobby")
    for nick in ("ana", "bob", "cy"):
        net.seen(nick)
    return net, ana, bob, cy


def test_everyone_hears_the_rename_and_the_key_stays() -> None:
    net, ana, bob, cy = trio()
    assert net.do("bob", "rename", "robert") == []
    assert renamed(net.seen("ana")) == [ev.Renamed(T0, "bob", "robert")]
    assert renamed(net.seen("cy")) == [ev.Renamed(T0, "bob", "robert")]
    assert renamed(net.seen("bob")) == [ev.Renamed(T0, "bob", "robert", own=True)]
    assert bob.nick == "robert" and not bob.renaming.pending
    for client in (ana, cy):
        assert client.roster.key_of("robert") == key_of("bob")
        assert client.roster.key_of("bob") is None
    assert [n for n, _ in cy.roster.members("dev")] == ["cy", "robert"]
    assert net.host.nick_of(net.by_nick["bob"]) == "robert"


def test_end_to_end_encryption_follows_the_new_nick() -> None:
    net, _ana, _bob, _cy = trio()
    net.do("bob", "rename", "robert")
    for nick in ("ana", "bob", "cy"):
        net.seen(nick)
    net.do("bob", "say", "in the lobby")
    net.do("bob", "say", "in dev", room="dev")
    assert net.said("ana") == [("robert", "lobby", "in the lobby")]
    assert net.said("cy") == [("robert", "lobby", "in the lobby"), ("robert", "dev", "in dev")]
    net.do("cy", "say", "back to you", room="dev")
    net.do("ana", "tell", "robert", "private")
    net.do("bob", "tell", "ana", "private back")
    seen = net.seen("bob")
    assert [(e.sender, e.text) for e in seen if isinstance(e, ev.ChatMessage)] == [
        ("cy", "back to you")
    ]
    assert [(e.peer, e.text) for e in seen if isinstance(e, ev.DirectMessage)] == [
        ("ana", "private")
    ]
    assert [(e.peer, e.text) for e in net.seen("ana") if isinstance(e, ev.DirectMessage)] == [
        ("robert", "private back")
    ]
    assert not [e for e in net.seen("cy") if isinstance(e, ev.Notice) and e.level != "info"]
    net.assert_never_in_the_clear("in the lobby", "in dev", "private back")


def test_what_is_said_while_the_rename_travels_waits_for_it() -> None:
    net, _ana, bob, _cy = trio()
    bob.rename("robert", T0)
    assert bob.renaming.pending
    assert bob.say("said at once", T0) == []  # held: no echo yet, nothing sent
    net.flush()
    events = net.seen("bob")
    assert renamed(events) == [ev.Renamed(T0, "bob", "robert", own=True)]
    assert [(e.sender, e.text, e.own) for e in events if isinstance(e, ev.ChatMessage)] == [
        ("robert", "said at once", True)
    ]
    net.flush()
    assert net.said("ana") == [("robert", "lobby", "said at once")]


def test_a_taken_nick_is_refused_and_what_waited_goes_out_under_the_old_one() -> None:
    net, _ana, bob, _cy = trio()
    bob.rename("CY", T0)
    bob.say("still bob", T0)
    net.flush()
    notices = [e.text for e in net.seen("bob") if isinstance(e, ev.Notice)]
    assert notices == ["cannot be CY: the nick CY is taken"]
    assert bob.nick == "bob" and not bob.renaming.pending
    net.flush()
    assert net.said("ana") == [("bob", "lobby", "still bob")]
    assert renamed(net.seen("cy")) == []


def test_case_changes_and_the_same_nick() -> None:
    net, ana, bob, _cy = trio()
    assert [e.level for e in bob.rename("bob", T0) if isinstance(e, ev.Notice)] == ["info"]
    net.do("bob", "rename", "Bob")
    assert renamed(net.seen("ana")) == [ev.Renamed(T0, "bob", "Bob")]
    assert ana.roster.name_of("bob") == "Bob"
    bad = bob.rename("no spaces", T0)
    assert isinstance(bad[0], ev.Notice) and bad[0].level == "error"


def test_renames_are_charged_like_joins_others_hear() -> None:
    net = Net()
    net.connect("ana")
    bob = net.connect("bob")
    for i in range(5):
        net.do("bob", "rename", f"bob{i}")
    assert bob.nick == "bob4"
    net.seen("bob")
    net.do("bob", "rename", "toomany")
    assert bob.nick == "bob4"
    notices = [e.text for e in net.seen("bob") if isinstance(e, ev.Notice)]
    assert notices == ["cannot be toomany: slow down: too many joins and parts"]
    net.advance(1.5)
    net.do("bob", "rename", "later")
    assert bob.nick == "later"


def test_an_older_client_hears_a_leave_and_a_join_and_still_reads() -> None:
    net, ana, _bob, cy = trio()
    net.host._peers[net.by_nick["cy"]].caps = ()  # as if cy's hello listed nothing
    net.do("bob", "rename", "robert")
    events = net.seen("cy")
    assert renamed(events) == []
    assert [type(e).__name__ for e in events] == ["Left", "Joined", "Joined"]
    assert next(e for e in events if isinstance(e, ev.Left)).reason == "now known as robert"
    assert [n for n, _ in cy.roster.members("dev")] == ["cy", "robert"]
    net.do("bob", "say", "hello dev", room="dev")
    assert net.said("cy") == [("robert", "dev", "hello dev")]
    assert renamed(net.seen("ana")) == [ev.Renamed(T0, "bob", "robert")]
    assert ana.roster.key_of("robert") == key_of("bob")


def test_a_host_without_the_capability_is_not_asked() -> None:
    client = registered("bob")  # its welcome lists no caps
    problem = client.rename("robert", T0)
    assert isinstance(problem[0], ev.Notice) and "cannot change nicks" in problem[0].text
    assert not client.renaming.pending


def test_known_peers_follow_the_key() -> None:
    net = Net()
    store = MemoryStore({"robert": fingerprint(key_of("mallory"))})
    net.connect("ana", peer_guard=PeerGuard(store, "host"))
    net.connect("bob")
    net.connect("cy")
    net.seen("ana")
    net.do("cy", "rename", "cyril")  # first sight of that nick: pinned to cy's key
    assert store.pins["cyril"] == fingerprint(key_of("cy"))
    assert not [e for e in net.seen("ana") if isinstance(e, ev.Notice)]
    net.do("bob", "rename", "robert")  # pinned to another key: loudly not trusted
    events = net.seen("ana")
    assert renamed(events) == [ev.Renamed(T0, "bob", "robert")]
    assert any(isinstance(e, ev.Notice) and "WARNING" in e.text for e in events)
    assert store.pins["robert"] == fingerprint(key_of("mallory"))


def test_nick_command_render_and_reply() -> None:
    assert cmd.parse_line("/nick robert") == cmd.Rename("robert")
    assert cmd.parse_line("/nick @robert") == cmd.Rename("robert")
    assert isinstance(cmd.parse_line("/nick"), cmd.BadCommand)
    assert isinstance(cmd.parse_line("/nick a b"), cmd.BadCommand)

    def plain(event: ev.UiEvent) -> str:
        return render(event, own_nick="robert", timestamp=lambda _: "").plain

    assert plain(ev.Renamed(T0, "bob", "robert", own=True)) == "-> You are now robert."
    assert plain(ev.Renamed(T0, "ana", "anna")) == " * ana is now anna."
    assert plain(ev.Renamed(T0, "a\x1b[31m", "b")).startswith(" * a")
    assert to_json(ev.Renamed(T0, "bob", "robert")) == {
        "event": "nick",
        "ts": T0,
        "old": "bob",
        "new": "robert",
        "own": False,
    }

    class Screen:
        def show_event(self, event: ev.UiEvent) -> None:
            pass

        def clear(self) -> None:
            pass

    chat = ChatController(Screen())
    chat.show([ev.DirectMessage(T0, "bob", "hi")])
    chat.show([ev.Renamed(T0, "bob", "robert")])
    assert chat.reply_to == "robert"


def test_a_welcome_names_what_the_host_accepts() -> None:
    client = ClientCore("bob", T0, static_private=keypair("bob")[0], static_public=key_of("bob"))
    feed(client, p.Welcome("bob", "", (("bob", key_of("bob")),), caps=("nick", "later")))
    assert client.host_caps == ("nick", "later")


def test_the_host_renaming_itself_is_named_so_in_later_welcomes() -> None:
    net = Net(host_nick="ana")
    net.connect("ana")
    net.host._local.add(net.by_nick["ana"])  # the host's own participant
    bob = net.connect("bob")
    net.do("ana", "rename", "anna")
    assert bob.host_nick == "anna"
    cy = net.connect("cy")
    assert cy.host_nick == "anna"
