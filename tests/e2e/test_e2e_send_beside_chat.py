"""Real processes: ``severus send`` under one's own nick beside one's open chat, sends
that leave no join or leave lines, and a reconnect loop that can no longer make the
lobby hear joins and leaves without limit (PROTOCOL.md 4.3, 4.7)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import TYPE_CHECKING

from severus_cli.core.wire import packets
from tests.e2e.attack import RawPeer
from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Piped


def test_send_as_oneself_keeps_the_chat_and_shows_only_the_lines(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    cy = lab.join(ana, "cy")
    ana.expect(r" \* cy joined\.")
    bob.expect(r" \* cy joined\.")
    mark_ana, mark_cy, mark_bob = ana.mark(), cy.mark(), bob.mark()

    # bob's own identity (his config directory), his own nick, while his chat is open.
    sent = lab.send(ana, b"backup done\nsecond line\n", nick="bob", config="bob")
    assert sent.returncode == 0, sent.stderr.decode()
    for term in (ana, cy):
        term.expect(r"bob: backup done\n(?:.*\n)*?.*bob: second line")

    # The chat is still there, and still speaks and hears (its own sessions are intact).
    bob.type("still here")
    ana.expect(r"bob: still here")
    cy.expect(r"bob: still here")  # the sentinel: anything about bob came before it
    cy.type("/msg bob are you?")
    bob.expect(r"\[PM from cy\] are you\?")
    assert "connected again" not in bob.text_since(mark_bob)
    for text in (ana.text_since(mark_ana), cy.text_since(mark_cy)):
        assert "bob left" not in text and "bob joined" not in text
        assert "verification" not in text and "could not be decrypted" not in text

    # A different key for the taken nick is refused as before.
    thief = lab.send(ana, b"not bob\n", "--accept-new", nick="bob", config="mallory")
    assert thief.returncode == 6, thief.stderr.decode()
    assert "taken" in thief.stderr.decode()
    bob.type("/users")
    bob.expect(r"-> 3 in lobby: ana, bob, cy\n")
    assert "not bob" not in ana.text + cy.text


def _register(port: int) -> str:
    """One turn of a reconnect loop: connect with a new key, hello, hang up."""
    peer = RawPeer(port, static=os.urandom(32))
    try:
        peer.send(packets.encode(packets.Hello(f"x{os.urandom(4).hex()}", "loop", ())))
        while True:
            for packet in peer.decode(peer.sock.recv(65536)):
                if isinstance(packet, packets.Welcome):
                    return "welcome"
                if isinstance(packet, packets.Error):
                    assert (packet.code, packet.fatal) == ("rate_limited", False), packet
                    assert packet.msg == "slow down: too many connections from your address"
                    return "refused"
    finally:
        peer.close()


def test_a_reconnect_loop_makes_bounded_lobby_events(lab: Lab) -> None:
    host = lab.host("ana")
    bot = lab.piped(
        "join", host.address, "--nick", "bot", "--accept-new", "--json",
        "--config-dir", str(lab.config("bot")), name="bot",
    )  # fmt: skip
    bot.wait_json(event="welcome")
    started = time.monotonic()
    outcomes = [_register(host.port) for _ in range(40)]
    elapsed = time.monotonic() - started
    allowed = 10 + elapsed / 2 + 1  # the burst, one per 2 s, and the bot's own token
    assert outcomes.count("welcome") <= allowed, (outcomes, elapsed)
    assert outcomes.count("refused") >= 40 - allowed

    host.type("sentinel after the loop")
    events = bot.json_until(lambda e: e.get("event") == "message" and "sentinel" in e["text"])
    joins = [e for e in events if e.get("event") == "join" and e["nick"].startswith("x")]
    assert len(joins) == outcomes.count("welcome") <= allowed
    # The host serves its friends as before: the bot still talks.
    bot.write_line("still fine")
    host.expect(r"bot: still fine")


def test_a_send_following_a_log_beside_the_chat_ends_with_it(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    follow = lab.piped(
        "send", ana.address, "--nick", "bob", "--config-dir", str(lab.config("bob")),
        name="send bob",
    )  # fmt: skip
    follow.write_line("first from the log")
    ana.expect(r"bob: first from the log")
    bob.type("typed meanwhile")  # both at once, one nick
    ana.expect(r"bob: typed meanwhile")
    follow.write_line("second from the log")
    ana.expect(r"bob: second from the log")
    bob.type("/quit")
    assert bob.wait_exit() == 0
    ana.expect(r" \* bob left\. \(quit\)")
    assert follow.proc.wait(timeout=30) == 6
    assert "your session under this nick ended" in follow.stderr.decode()


def _send_piped(lab: Lab, target: str, nick: str) -> Piped:
    config = str(lab.config(nick))
    return lab.piped("send", target, "--nick", nick, "--config-dir", config, name=nick)


def test_joins_over_the_limit_wait_their_turn_over_quic(lab: Lab) -> None:
    """QUIC counts sources too, and a refused client says hello again by itself: with a
    burst of 1, every registration from 127.0.0.1 comes 2 s after the one before."""
    host = lab.host("ana", "--mode", "quic", "--max-joins-per-ip", "1")
    ticket = ticket_in(host.text)
    bot = lab.piped(
        "join", ticket, "--nick", "bot", "--json", "--config-dir", str(lab.config("bot")),
        name="bot",
    )  # fmt: skip
    welcomed = bot.wait_json(event="welcome")["ts"]
    sends = [_send_piped(lab, ticket, f"cron{i}") for i in range(2)]
    for i, send in enumerate(sends):
        send.write_line(f"line from cron{i}")
        send.close_stdin()
    for send in sends:
        assert send.wait_exit(60) == 0, send.stderr.decode()
    joins = []
    for _ in range(2):
        joins.append(bot.wait_json(event="join", quiet=True)["ts"])
    times = [welcomed, *sorted(joins)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 1.5 for gap in gaps), gaps  # one every 2 s, less clock jitter
    for _ in range(2):
        host.expect(r"cron\d: line from cron\d")


def test_a_chat_joining_while_its_send_runs_takes_the_nick_and_every_line_arrives(
    lab: Lab,
) -> None:
    # A burst the host allows (3 x 20) stays within what a receiver holds while the
    # sender's key is in flight (128), as with the default limits.
    ana = lab.host("ana", "--rate-limit", "20")
    cy = lab.bot(ana, "cy")
    send = lab.piped(
        "send", ana.address, "--nick", "bob", "--accept-new",
        "--config-dir", str(lab.config("bob")), name="send bob",
    )  # fmt: skip
    send.write_line("line 1")  # the send holds the nick bob alone
    cy.wait_json(event="message", sender="bob", text="line 1")

    written = [1]
    joined = threading.Event()

    def follow_a_log() -> None:  # lines keep coming while bob's chat connects
        while not joined.is_set() or written[0] < 20:
            written[0] += 1
            send.write_line(f"line {written[0]}")
            time.sleep(0.02)

    feeder = threading.Thread(target=follow_a_log)
    feeder.start()
    try:
        bob = lab.join(ana, "bob")  # his chat, with the same key: it takes the nick
    finally:
        joined.set()
        feeder.join()
    send.write_line("last")
    send.close_stdin()
    assert send.wait_exit() == 0, send.stderr.decode()

    events = cy.json_until(lambda e: e.get("text") == "last")
    said = [e["text"] for e in events if e["event"] == "message" and e["sender"] == "bob"]
    notices = [e["text"] for e in events if e["event"] == "notice"]
    assert said == [f"line {n}" for n in range(2, written[0] + 1)] + ["last"], notices
    joins = [e for e in events if e["event"] in ("join", "leave") and not e.get("quiet")]
    assert [(e["event"], e["nick"]) for e in joins] == [("join", "bob")]  # the chat came

    bob.type("still here")  # the chat has the nick, and speaks
    cy.wait_json(event="message", sender="bob", text="still here")
    assert "connected again" not in bob.text
