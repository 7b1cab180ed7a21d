"""Review of issue 11, item 1: ``send`` exits 4, naming both fingerprints, whenever it
refuses a recipient whose key changed; also when the host swaps the key after the
first lines went out (a ``left`` and a ``joined`` with its own key mid-stream), not
only when the key was already changed at the start."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.events import UiEvent
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire import packets as p
from severus_cli.errors import ChangedPeerKeyError
from severus_cli.runtime.send_runner import SendOptions, _post
from tests.test_client_core import T0, feed, key_of, sent
from tests.test_peer_trust import conflicted

EVIL = key_of("the host's own key")


class _Participant:
    def __init__(self, core: ClientCore) -> None:
        self.core = core

    def perform(self, action: Callable[[ClientCore, float], list[UiEvent]]) -> None:
        action(self.core, T0)


def test_a_key_swapped_mid_stream_ends_send_with_exit_4_and_both_fingerprints() -> None:
    client, guard = conflicted()  # bob is pinned; the roster has the host's key for him
    feed(client, p.Left("bob", "lobby", 1, "quit"))
    feed(client, p.Joined("bob", "lobby", 2, key_of("real bob")))  # the right key: fine
    participant = _Participant(client)
    options = SendOptions(nick="ana", to="bob")
    _post(participant, options, "first line")  # type: ignore[arg-type]
    assert [q for q in sent(client) if isinstance(q, p.Relay)]  # went to the real key
    # Mid-stream the host swaps in its own key for bob.
    feed(client, p.Left("bob", "lobby", 1, "quit"))
    feed(client, p.Joined("bob", "lobby", 2, EVIL))
    with pytest.raises(ChangedPeerKeyError) as raised:
        _post(participant, options, "second line")  # type: ignore[arg-type]
    assert raised.value.exit_code == 4
    assert fingerprint(EVIL) in raised.value.message
    assert fingerprint(key_of("real bob")) in raised.value.message
    assert not [q for q in sent(client) if isinstance(q, p.Relay)]  # nothing to the new one
    assert guard.blocked("bob", EVIL)
