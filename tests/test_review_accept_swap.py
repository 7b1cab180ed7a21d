"""Review of issue 11, item 1 (careless user): ``/accept`` must accept the key that was
verified, not whatever key the host hands out by the time the user types it.

The user runs ``/verify bob``, compares the code with bob on the phone (minutes), then
types ``/accept bob``. Meanwhile a hostile host has swapped bob's key once more (a
``left`` and a ``joined`` with a third key). ``/accept bob`` used to take the roster's
key of that moment: the one nobody compared.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire import packets as p
from severus_cli.runtime.controller import accept_key
from tests.test_client_core import T0, feed, key_of, sent
from tests.test_peer_trust import conflicted

REAL_NEW = key_of("bob's real new key")  # bob really made a new identity
EVIL = key_of("the host's own key")


def test_accept_takes_only_the_key_that_was_verified() -> None:
    client, guard = conflicted()
    feed(client, p.Left("bob", "lobby", 1, "quit"))
    feed(client, p.Joined("bob", "lobby", 2, REAL_NEW))  # a conflict, as it should be
    codes = client.verify("bob", T0)  # the user compares this code with bob: it matches
    assert codes
    # While the user is on the phone, the host swaps in its own key.
    feed(client, p.Left("bob", "lobby", 1, "quit"))
    feed(client, p.Joined("bob", "lobby", 2, EVIL))
    (notice,) = accept_key(client, "bob", T0)
    assert isinstance(notice, ev.Notice)
    assert not notice.text.startswith("accepted"), notice.text
    assert "/verify bob again" in notice.text
    assert guard.blocked("bob", EVIL)
    client.tell("bob", "secret", T0)
    assert not [q for q in sent(client) if isinstance(q, p.Relay)]
    # Verifying the key that is there now, and accepting it, still works.
    client.verify("bob", T0)
    (notice,) = accept_key(client, "bob", T0)
    assert isinstance(notice, ev.Notice)
    assert f"accepted bob's new key {fingerprint(EVIL)}" in notice.text
