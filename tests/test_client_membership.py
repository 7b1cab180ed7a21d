"""The client core shows every member the host adds before any key of ours goes to them,
compares rooms with the last session after a reconnect, and turns the keyring's bounds
into warnings the user sees. Hostile packets are fed straight into the core."""

from __future__ import annotations

import os

from severus_cli.core.client import events as ev
from severus_cli.core.client.core import ClientCore
from severus_cli.core.e2e import wire
from severus_cli.core.e2e.keyring import EVICTED_REPORT_EVERY, HELLO_BURST
from severus_cli.core.e2e.pending import MAX_PENDING_PER_SENDER
from severus_cli.core.wire import packets as p
from severus_cli.ui.render import render, to_json
from tests.test_client_core import (
    T0,
    Peer,
    feed,
    key_of,
    new_client,
    of_type,
    registered,
    sent,
    warnings,
)


def in_room(client: ClientCore, room: str, members: tuple[str, ...]) -> list[ev.UiEvent]:
    client.join(room, T0)
    return feed(client, p.Users(client.last_id, room, members))


def plain(event: ev.UiEvent) -> str:
    return render(event, own_nick="ana", timestamp=lambda ts: "").plain


def relayed_to(client: ClientCore) -> set[str]:
    return {r.to for r in of_type(sent(client), p.Relay)}


def before_reconnect() -> dict[str, tuple[str, ...]]:
    """ana's view when the host went: bob and dan with her in #rust."""
    old = registered("ana", users=("ana", "bob", "dan"))
    in_room(old, "rust", ("ana", "bob", "dan"))
    return old.snapshot()


def test_after_a_reconnect_each_room_is_shown_against_before() -> None:
    client = new_client("ana", rooms=("rust",), before=before_reconnect())
    events = feed(
        client,
        p.Welcome("ana", "", tuple((n, key_of(n)) for n in ("ana", "bob", "eve")), ("rust",)),
    )
    lobby = ev.Membership(T0, "lobby", ("ana", "bob", "eve"), ("eve",), ("dan",), ("eve",), True)
    assert lobby in events
    assert plain(lobby) == "-> lobby after reconnect: +eve (new), -dan (3 here)"
    (names,) = of_type(sent(client), p.Names)
    # Until the host says who is in #rust, what we say there waits: nothing goes to anyone
    # new, and nothing goes out without the key for those who are there.
    assert client.say("early", T0, room="rust") == []
    assert not of_type(sent(client), p.Seal)
    events = feed(client, p.Users(names.id, "rust", ("ana", "bob", "eve")))
    rust = ev.Membership(T0, "rust", ("ana", "bob", "eve"), ("eve",), ("dan",), ("eve",), True)
    assert events == [rust, ev.ChatMessage(T0, "ana", "rust", "early", own=True)]
    assert plain(rust) == "-> #rust after reconnect: +eve (new), -dan (3 here)"
    assert to_json(rust)["event"] == "membership"
    # Shown: now (and only now) eve and bob get our key for #rust, then the line.
    packets = sent(client)
    assert {r.to for r in of_type(packets, p.Relay)} == {"bob", "eve"}
    assert isinstance(packets[-1], p.Seal)


def test_a_member_who_was_connected_before_is_not_new() -> None:
    client = new_client("ana", rooms=("rust",), before=before_reconnect())
    feed(
        client,
        p.Welcome("ana", "", tuple((n, key_of(n)) for n in ("ana", "bob", "dan")), ("rust",)),
    )
    (names,) = of_type(sent(client), p.Names)
    (event,) = feed(client, p.Users(names.id, "rust", ("ana", "dan")))
    assert plain(event) == "-> #rust after reconnect: -bob (2 here)"
    client2 = new_client("ana", rooms=("rust",), before=before_reconnect())
    events = feed(
        client2,
        p.Welcome("ana", "", tuple((n, key_of(n)) for n in ("ana", "bob", "dan")), ("rust",)),
    )
    assert "-> lobby after reconnect: no change (3 here)" in [plain(e) for e in events]


def test_a_room_we_were_not_put_back_in_is_named() -> None:
    client = new_client("ana", rooms=("rust",), before=before_reconnect())
    events = feed(client, p.Welcome("ana", "", tuple((n, key_of(n)) for n in ("ana", "bob")), ()))
    assert "the host did not put you back in #rust" in warnings(events)


def test_a_room_the_host_put_us_in_shows_who_is_there() -> None:
    client = new_client("ana")
    feed(client, p.Welcome("ana", "", tuple((n, key_of(n)) for n in ("ana", "eve")), ("den",)))
    (names,) = of_type(sent(client), p.Names)
    (event,) = feed(client, p.Users(names.id, "den", ("ana", "eve")))
    assert plain(event) == "-> #den: +eve (2 here)"


def users(prefix: str, count: int) -> tuple[tuple[str, bytes], ...]:
    key = os.urandom(32)  # only the roster's bytes matter here
    return tuple((f"{prefix}{i}", key) for i in range(count))


def test_lobby_pages_after_the_welcome_are_shown() -> None:
    client = new_client("ana")
    feed(client, p.Welcome("ana", "", (("ana", key_of("ana")), *users("u", p.ROSTER_PAGE - 1))))
    (event,) = feed(client, p.Roster((("zed", key_of("zed")),)))
    assert isinstance(event, ev.Membership) and event.added == ("zed",)
    assert plain(event).startswith("-> lobby: +zed (")


def test_after_a_reconnect_a_long_lobby_is_compared_once_all_pages_are_in() -> None:
    before = {"lobby": ("ana", "dan", *(f"u{i}" for i in range(p.ROSTER_PAGE)))}
    client = new_client("ana", before=before)
    page = (("ana", key_of("ana")), *users("u", p.ROSTER_PAGE - 1))
    events = feed(client, p.Welcome("ana", "", page))
    assert not any(isinstance(e, ev.Membership) for e in events)  # more pages to come
    assert feed(client, p.Roster(users("v", p.ROSTER_PAGE))) == []
    (event,) = feed(client, p.Pong(1))
    assert isinstance(event, ev.Membership) and event.room == "lobby"
    assert set(event.removed) == {"dan", f"u{p.ROSTER_PAGE - 1}"}
    assert len(event.added) == len(event.newcomers) == p.ROSTER_PAGE
    assert feed(client, p.Pong(2)) == []  # once


def test_the_lobby_comparison_comes_before_anything_we_say() -> None:
    client = new_client("ana", before={"lobby": ("ana", "bob")})
    feed(client, p.Welcome("ana", "", (("ana", key_of("ana")), *users("u", p.ROSTER_PAGE - 1))))
    events = client.say("hi", T0)
    assert isinstance(events[0], ev.Membership) and isinstance(events[1], ev.ChatMessage)


# --- the keyring's bounds, as the user sees them ------------------------------------------


def test_keys_for_rooms_we_do_not_share_are_not_kept() -> None:
    client = registered()
    bob = Peer(client, "bob")
    for room in ("nowhere", "rust"):
        bob.say(room, "x")
    assert client.keyring.their_keys == 0
    in_room(client, "rust", ("ana", "Carol"))  # the roster says bob is not in it
    bob.say("rust", "x")
    assert client.keyring.their_keys == 0
    bob.say("lobby", "x")
    assert client.keyring.their_keys == 1


def test_a_gap_in_room_messages_is_shown() -> None:
    client = registered()
    bob = Peer(client, "bob")
    sealed = [bob.say("lobby", f"m{i}") for i in range(4)]
    feed(client, p.Sealed("bob", "lobby", sealed[0], 1.0))
    events = feed(client, p.Sealed("bob", "lobby", sealed[3], 2.0))
    assert events == [
        ev.Notice(
            T0, "2 messages from bob in the lobby were lost (the host did not deliver them)", "warn"
        ),
        ev.ChatMessage(2.0, "bob", "lobby", "m3"),
    ]


def test_a_handshake_flood_gets_a_few_answers_and_one_warning() -> None:
    client = registered()
    shown: list[ev.UiEvent] = []
    for _ in range(200):
        shown += feed(client, p.Relayed("bob", "hs", b"\x01" + os.urandom(32)))
    assert len(of_type(sent(client), p.Relay)) == HELLO_BURST
    (warning,) = warnings(shown)
    assert warning.startswith("bob starts private handshakes too often")
    # Our own messages are not held back by it.
    client.say("still here", T0)
    assert of_type(sent(client), p.Seal)


def test_junk_does_not_evict_an_honest_held_message_and_is_reported() -> None:
    client = registered()
    bob = Peer(client, "bob")
    relays, data = bob.ring.seal("lobby", [("ana", client.key)], wire.ChatBody("early"))
    feed(client, p.Sealed("bob", "lobby", data, 7.0))  # held: the key is on its way
    carol = Peer(client, "Carol")
    junk = [carol.ring.seal("lobby", [], wire.ChatBody(str(i)))[1] for i in range(300)]
    shown: list[ev.UiEvent] = []
    for data in junk:
        shown += feed(client, p.Sealed("Carol", "lobby", data, 8.0))
    assert bob.send(relays)[0] == ev.ChatMessage(7.0, "bob", "lobby", "early")
    # Told at once, then summed up every few seconds: a flood does not flood the screen.
    shown += client.tick(T0 + EVICTED_REPORT_EVERY)
    told = warnings(shown)
    assert len(told) == 2 and all(" from Carol dropped" in text for text in told)
    assert sum(int(text.split()[0]) for text in told) == 300 - MAX_PENDING_PER_SENDER
