"""A hostile host cannot grow a client's roster without end by announcing made-up nicks.

The roster holds at most ``MAX_ROSTER`` participants, and each of our rooms as many
members; past that, newcomers are refused with one warning a session, and members
already known stay (nobody real is evicted to make room).
"""

from __future__ import annotations

import os

from severus_cli.core.client import events as ev
from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.roster import MAX_ROSTER, Roster
from severus_cli.core.wire import packets as p
from tests.test_client_core import T0, feed, key_of, registered, sent, warnings


def _flood(client: ClientCore, count: int, room: str = "lobby") -> list[ev.UiEvent]:
    events: list[ev.UiEvent] = []
    for n in range(count):
        events += feed(client, p.Joined(f"x{n}", room, n + 3, os.urandom(32)))
    return events


def test_made_up_joins_stop_at_the_bound_with_one_warning() -> None:
    client = registered()  # ana, with bob and Carol
    extra = MAX_ROSTER + 500
    events = _flood(client, extra)
    assert len(client.roster.keys) == MAX_ROSTER
    said = warnings(events)
    assert len(said) == 1 and f"more than {MAX_ROSTER:,} participants" in said[0]
    shown = [e for e in events if isinstance(e, ev.Joined)]
    assert len(shown) == MAX_ROSTER - 3  # the refused ones are not shown either
    # The real members are still known, and still get our keys.
    assert client.roster.key_of("bob") == key_of("bob")
    client.say("still to bob", T0)
    assert "bob" in {q.to for q in sent(client) if isinstance(q, p.Relay)}
    # A known member's key change still goes through the usual check (not refused).
    assert client.roster.full("bob") is False
    # Once someone leaves there is room again, and the bound still holds.
    feed(client, p.Left("x0", "lobby", 1, ""))
    feed(client, p.Joined("dan", "lobby", 3, key_of("dan")))
    assert client.roster.key_of("dan") == key_of("dan")
    assert not warnings(feed(client, p.Joined("eve", "lobby", 3, key_of("eve"))))  # said once
    assert client.roster.key_of("eve") is None
    assert len(client.roster.keys) == MAX_ROSTER


def test_roster_pages_are_bounded_too() -> None:
    client = registered()
    users = tuple((f"y{n}", os.urandom(32)) for n in range(p.ROSTER_PAGE))
    events: list[ev.UiEvent] = []
    for _ in range(MAX_ROSTER // p.ROSTER_PAGE + 2):
        events += feed(client, p.Roster(users))
        users = tuple((f"{nick}z", key) for nick, key in users)
    assert len(client.roster.keys) == MAX_ROSTER
    assert len(warnings(events)) == 1


def test_room_joins_are_bounded_without_evicting_members() -> None:
    roster = Roster()
    roster.enter("rust", ("ana", "bob"))
    for n in range(MAX_ROSTER + 10):
        roster.joined_room("rust", f"z{n}")
    members = roster.rooms["rust"]
    assert len(members) == MAX_ROSTER
    assert "ana" in members and "bob" in members


def test_the_bound_is_the_hosts_ceiling_and_the_readme_says_so() -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from severus_cli.app import app

    text = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    assert f"it keeps at most {MAX_ROSTER:,} (the most `--max-clients` allows)" in text
    assert f"participants at once (at most {MAX_ROSTER:,}: what a client keeps" in text
    result = CliRunner().invoke(app, ["host", "--max-clients", str(MAX_ROSTER + 1)])
    assert result.exit_code == 2 and "max-clients" in result.output
