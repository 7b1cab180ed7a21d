"""What the host shows as no line gets no key, and /whois shows the key in use.

A ``joined`` marked ``quiet`` (a send-only connection, PROTOCOL.md 4.7) is shown as no
line, and a send-only connection reads nothing. So a nick that arrives in a room (or the
lobby) only quietly gets none of our sender keys: a host cannot slip a reading member in
unseen. And ``/whois`` shows the key we would encrypt to, with a warning when the host's
reply names another, so checking a fingerprint there cannot reassure about the wrong key.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.client.core import ClientCore
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire import packets as p
from tests.test_client_core import T0, feed, key_of, registered, sent, warnings

EVE = key_of("eve")


def _in_rust() -> ClientCore:
    client = registered()
    client.join("rust", T0)
    (join,) = [q for q in sent(client) if isinstance(q, p.Join)]
    feed(client, p.Users(join.id, "rust", ("ana", "bob")))
    return client


def _handed_to(client: ClientCore, room: str) -> set[str]:
    client.say(f"hello {room}", T0, room=room)
    return {q.to for q in sent(client) if isinstance(q, p.Relay)}


def test_a_nick_that_arrives_only_quietly_gets_no_room_key() -> None:
    client = _in_rust()
    events = feed(client, p.Joined("eve", "lobby", 5, EVE, True))
    events += feed(client, p.Joined("eve", "rust", 3, EVE, True))
    assert all(isinstance(e, ev.Joined) and e.quiet for e in events)  # shown as no line
    assert _handed_to(client, "rust") == {"bob"}
    assert "eve" not in _handed_to(client, "lobby")
    # Once the host shows eve arriving, she is a member like any other.
    feed(client, p.Joined("eve", "rust", 3, EVE))
    assert "eve" in _handed_to(client, "rust")


def test_a_visible_member_that_enters_a_room_quietly_gets_no_key_for_it() -> None:
    client = _in_rust()
    feed(client, p.Joined("eve", "lobby", 5, EVE))  # shown
    feed(client, p.Joined("eve", "rust", 3, EVE, True))  # not shown
    assert _handed_to(client, "rust") == {"bob"}
    assert "eve" in _handed_to(client, "lobby")


def test_a_quiet_send_beside_a_member_does_not_hide_the_member() -> None:
    """``send`` beside bob's own chat (same nick and key) comes and goes quietly: bob
    himself, shown long before, keeps getting keys."""
    client = _in_rust()
    feed(client, p.Joined("bob", "lobby", 4, key_of("bob"), True))
    feed(client, p.Joined("bob", "rust", 2, key_of("bob"), True))
    assert "bob" in _handed_to(client, "rust")


def test_a_quiet_member_who_left_and_came_back_quietly_stays_unseen() -> None:
    client = _in_rust()
    feed(client, p.Joined("eve", "lobby", 5, EVE))
    feed(client, p.Joined("eve", "rust", 3, EVE))
    feed(client, p.Left("eve", "rust", 2, ""))
    feed(client, p.Joined("eve", "rust", 3, EVE, True))
    assert _handed_to(client, "rust") == {"bob"}


def test_whois_shows_the_key_in_use_and_warns_of_another() -> None:
    client = registered()
    client.whois("bob", T0)
    (ask,) = [q for q in sent(client) if isinstance(q, p.Whois)]
    other = key_of("what the host says in /whois")
    events = feed(client, p.WhoisReply(ask.id, "bob", other, (), 1.0))
    (info,) = [e for e in events if isinstance(e, ev.WhoisInfo)]
    assert info.fingerprint == fingerprint(key_of("bob"))
    (warning,) = warnings(events)
    assert fingerprint(other) in warning and fingerprint(key_of("bob")) in warning
    client.whois("bob", T0)
    (ask,) = [q for q in sent(client) if isinstance(q, p.Whois)]
    events = feed(client, p.WhoisReply(ask.id, "bob", key_of("bob"), (), 1.0))
    assert warnings(events) == []


def test_quiet_joins_elsewhere_are_not_remembered() -> None:
    """Only our rooms and the lobby are tracked, so a host announcing quiet joins to
    rooms we are not in cannot grow what the client keeps."""
    client = _in_rust()
    for n in range(500):
        feed(client, p.Joined("bob", f"room{n}", 2, key_of("bob"), True))
    assert client.roster.unseen == set()
    feed(client, p.Left("eve", "lobby", 3, ""))  # never there: nothing to forget
    feed(client, p.Joined("eve", "lobby", 4, EVE, True))
    assert client.roster.unseen == {("eve", "lobby")}
    feed(client, p.Left("eve", "lobby", 3, "quit"))
    assert client.roster.unseen == set()
