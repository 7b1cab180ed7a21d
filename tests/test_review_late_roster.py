"""Review of issue 11, item 5: a hostile host adds a ghost to the lobby with a late
``roster`` page, after a reconnect, once the lobby was already compared with before.

``MembershipLog.page`` shows a page's additions only in a first session; after a
reconnect it leaves them to ``settle``, which shows the lobby once. A page that comes
after that is never shown, and the next lobby line hands our sender key to the ghost.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.wire import packets as p
from tests.test_client_core import T0, feed, key_of, new_client, sent
from tests.test_client_membership import before_reconnect, relayed_to


def _shown(events: list[ev.UiEvent], nick: str) -> bool:
    for event in events:
        if isinstance(event, ev.Membership) and nick in event.added:
            return True
        if isinstance(event, ev.Joined) and event.nick == nick:
            return True
        if isinstance(event, ev.Notice) and nick in event.text:
            return True
    return False


def test_a_late_roster_page_after_a_reconnect_is_shown_before_keys_go_out() -> None:
    client = new_client("ana", before=before_reconnect())
    users = tuple((n, key_of(n)) for n in ("ana", "bob", "dan"))
    feed(client, p.Welcome("ana", "", users, ()))
    feed(client, p.Pong(0))  # anything after the pages: the lobby is compared now
    sent(client)
    shown = feed(client, p.Roster((("ghost", key_of("ghost")),)))  # long after
    shown += client.say("hello everyone", T0)
    assert "ghost" not in relayed_to(client) or _shown(shown, "ghost"), shown
