"""Sends under a nick when its chat comes back, and what a send that made way may still
do (PROTOCOL.md 4.7), sans-IO: a HostCore and real ClientCores on an in-memory router.

- A chat that reconnects (the same key says hello again before its old link timed out)
  makes the sends beside it yield, as sends that held the nick alone do: they come back
  beside the new chat instead of ending, so a log follower survives a flaky link.
- A send that made way is ignored until it leaves, and no amount of talking keeps its
  connection past the registration timeout, so such connections cannot pile up.
- Another key under the nick can make no send yield.
- A send comes back a bounded number of times in a while, then gives up (exit 6).
"""

from __future__ import annotations

import pytest

from severus_cli.core.client.core import ClientCore
from severus_cli.core.wire import packets as p
from severus_cli.errors import RejectedError
from severus_cli.runtime.send_again import MAX_YIELDS, YIELD_WINDOW, MadeWay, Yields
from tests.test_send_beside_chat import chat, lines, membership, say, send_only, warnings


def _rejected(client: ClientCore) -> str:
    return client.rejected.code if client.rejected is not None else ""


def test_a_chat_reconnecting_makes_its_sends_come_back_beside_it() -> None:
    net, bob = chat()
    sender = send_only(net, "bob")
    say(net, sender, "before")
    assert lines(net.seen("ana")) == [("bob", "before")]

    net.connect("bob")  # bob's chat again, same key, the old link not timed out yet
    assert net.closed[bob] == "you connected again from elsewhere"
    assert _rejected(net.clients[sender]) == "nick_yielded"  # not "replaced": come back
    assert sender not in net.closed  # left for it to close: nothing it was told is lost

    again = send_only(net, "bob")  # the send comes back, beside the new chat
    assert again not in net.closed and net.clients[again].registered
    say(net, again, "after")
    net.do("bob", "say", "from the new chat")
    events = net.seen("ana")
    assert lines(events) == [("bob", "after"), ("bob", "from the new chat")]
    assert warnings(events) == []
    assert net.host.members("lobby").count("bob") == 1


def test_a_yielded_send_that_keeps_talking_is_still_closed_at_the_timeout() -> None:
    net, _ = chat()
    sender = send_only(net, "cron")
    net.connect("cron")  # its chat takes the nick
    assert _rejected(net.clients[sender]) == "nick_yielded"
    timeout = net.host.config.handshake_timeout
    step = 0.5
    for _ in range(int(timeout / step) + 2):  # it pings and says hello all along
        net.apply(net.host.receive(sender, p.encode(p.Ping(7)), net.now))
        net.apply(net.host.receive(sender, p.encode(p.Hello("cron", "x", ())), net.now))
        if sender in net.closed:
            break
        net.advance(step)
    assert sender in net.closed  # within the registration timeout, talking or not
    assert net.host.members("lobby").count("cron") == 1
    assert net.host.participant_count == 4


def test_another_key_under_the_nick_makes_no_send_yield() -> None:
    net, _ = chat()
    sender = send_only(net, "cron")
    thief = net.connect("cron", identity="mallory")  # chat of another key, same nick
    assert not thief.registered and _rejected(thief) == "nick_taken"
    assert _rejected(net.clients[sender]) == ""
    say(net, sender, "still mine")
    assert lines(net.seen("ana")) == [("cron", "still mine")]
    assert membership(net.seen("ana")) == []


def test_a_send_comes_back_a_bounded_number_of_times_in_a_while() -> None:
    yields = Yields("bob")
    way = MadeWay(["a", "b"], 3)
    for n in range(MAX_YIELDS):  # within the window: allowed
        yields.note(way, 100.0 + n)
    with pytest.raises(RejectedError) as raised:
        yields.note(way, 100.0 + MAX_YIELDS)
    assert raised.value.exit_code == 6
    assert f"took the nick bob {MAX_YIELDS + 1} times within {YIELD_WINDOW:g} s" in str(
        raised.value
    )
    assert "2 message(s)" in str(raised.value)
    # Spread out, a chat may come back for as long as it likes.
    spread = Yields("bob")
    for n in range(MAX_YIELDS * 4):
        spread.note(way, n * (YIELD_WINDOW / MAX_YIELDS + 1))


def test_the_documents_state_the_bound() -> None:
    from pathlib import Path

    root = Path(__file__).parent.parent
    readme = " ".join((root / "README.md").read_text().split())
    protocol = " ".join((root / "PROTOCOL.md").read_text().split())
    assert f"up to {MAX_YIELDS} times within {YIELD_WINDOW:g} s" in readme
    assert f"at most {MAX_YIELDS} times within {YIELD_WINDOW:g} s, then gives up" in protocol
