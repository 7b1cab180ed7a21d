"""Real processes: ``severus send`` under one's own nick while that nick's chat comes and
goes (PROTOCOL.md 4.7).

- The chat reconnecting again and again (each time a new session of the same key takes
  the nick) while a slow producer feeds the send: the send comes back beside each new
  chat, and every line arrives exactly once, in order.
- A send that made way and keeps talking is closed at the registration timeout.
- Another key under the nick neither ends the send nor gets its lines.
- A loop of chats taking the nick makes the send give up after a bounded number of
  comebacks, with exit 6 and the reason, instead of starting over without end.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from severus_cli.core.wire import packets
from severus_cli.core.wire.codec import SEND_ONLY
from severus_cli.runtime.send_again import MAX_YIELDS
from tests.e2e.attack import RawPeer
from tests.e2e.lab import TIMEOUT

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Piped


def _send_as_bob(lab: Lab, address: str) -> Piped:
    return lab.piped(
        "send", address, "--nick", "bob", "--accept-new",
        "--config-dir", str(lab.config("bob")), name="send bob",
    )  # fmt: skip


def test_every_line_arrives_once_in_order_while_the_chat_reconnects_again_and_again(
    lab: Lab,
) -> None:
    ana = lab.host("ana", "--max-joins-per-ip", "0")
    cy = lab.bot(ana, "cy")
    chat = lab.bot(ana, "bob")  # bob's chat; the send runs beside it
    send = _send_as_bob(lab, ana.address)
    send.write_line("line 1")
    cy.wait_json(event="message", sender="bob", text="line 1")

    written = [1]
    done = threading.Event()

    def slow_producer() -> None:
        while not done.is_set():
            written[0] += 1
            send.write_line(f"line {written[0]}")
            time.sleep(0.1)

    feeder = threading.Thread(target=slow_producer)
    feeder.start()
    try:
        for _ in range(3):  # bob's chat comes back as a new session: it takes the nick
            time.sleep(0.5)
            again = lab.bot(ana, "bob")
            assert chat.wait_exit() == 6  # the old session was replaced
            chat = again
    finally:
        done.set()
        feeder.join()
    send.write_line("last")
    send.close_stdin()
    assert send.wait_exit(60) == 0, send.stderr.decode()

    events = cy.json_until(lambda e: e.get("text") == "last")
    said = [e["text"] for e in events if e["event"] == "message" and e["sender"] == "bob"]
    notices = [e["text"] for e in events if e["event"] == "notice"]
    assert said == [f"line {n}" for n in range(2, written[0] + 1)] + ["last"], notices
    chat.write_line("the chat still speaks")
    cy.wait_json(event="message", sender="bob", text="the chat still speaks")


def test_a_loop_of_chats_taking_the_nick_makes_the_send_give_up(lab: Lab) -> None:
    ana = lab.host("ana", "--max-joins-per-ip", "0")
    cy = lab.bot(ana, "cy")
    send = _send_as_bob(lab, ana.address)  # it holds the nick alone
    send.write_line("first")
    cy.wait_json(event="message", sender="bob", text="first")
    chats = []
    for n in range(MAX_YIELDS + 3):
        if send.proc.poll() is not None:
            break
        chats.append(lab.bot(ana, "bob"))
        try:
            send.write_line(f"during {n}")
        except BrokenPipeError:  # it gave up meanwhile
            break
    assert send.wait_exit(60) == 6, send.stderr.decode()
    said = " ".join(send.stderr.decode().split())
    assert f"our chat took the nick bob {MAX_YIELDS + 1} times within 60 s" in said, said
    cy.wait_json(event="message", sender="bob", text="during 0")  # lines went on meanwhile


def test_ctrl_c_while_the_send_comes_back_exits_130_at_once(lab: Lab) -> None:
    ana = lab.host("ana", "--max-joins-per-ip", "0")
    cy = lab.bot(ana, "cy")
    send = _send_as_bob(lab, ana.address)
    send.write_line("first")
    cy.wait_json(event="message", sender="bob", text="first")
    for n in range(50):  # a burst in flight when the chat takes the nick
        send.write_line(f"burst {n}")
    lab.bot(ana, "bob")
    send.proc.send_signal(signal.SIGINT)  # while it makes way, reconnects or resends
    assert send.wait_exit() == 130, send.stderr.decode()
    assert "Traceback" not in send.stderr.decode()


def test_another_key_under_the_nick_neither_ends_the_send_nor_gets_its_lines(lab: Lab) -> None:
    ana = lab.host("ana")
    cy = lab.bot(ana, "cy")
    send = _send_as_bob(lab, ana.address)  # it holds the nick bob alone
    send.write_line("first")
    cy.wait_json(event="message", sender="bob", text="first")
    thief = lab.piped(
        "join", ana.address, "--nick", "bob", "--accept-new", "--json",
        "--config-dir", str(lab.config("mallory")), name="mallory as bob",
    )  # fmt: skip
    assert thief.wait_exit() == 6
    assert "taken" in thief.stderr.decode()
    send.write_line("second")
    send.close_stdin()
    assert send.wait_exit() == 0, send.stderr.decode()
    events = cy.json_until(lambda e: e.get("text") == "second")
    said = [e["text"] for e in events if e["event"] == "message" and e["sender"] == "bob"]
    assert said == ["second"]  # after "first": nothing lost, nothing twice


def test_a_yielded_connection_that_keeps_talking_is_closed_in_bounded_time(lab: Lab) -> None:
    """What a send that made way still says is ignored, unanswered, and its connection is
    closed at the registration timeout however busy it keeps it: such connections cannot
    pile up (and, open, each counts against ``--max-per-ip``)."""
    timeout = 3.0
    ana = lab.host("ana", "--handshake-timeout", str(timeout))
    key = os.urandom(32)
    send = RawPeer(ana.port, static=key)
    send.send(packets.encode(packets.Hello("zed", "attack", (), (SEND_ONLY,))))
    got: list[packets.Packet] = []
    while not any(isinstance(q, packets.Welcome) for q in got):
        got += send.decode(send.sock.recv(65536))
    chat = RawPeer(ana.port, static=key)
    chat.hello("zed")  # a chat of the same key: the send makes way
    yielded_at = time.monotonic()
    answers: list[packets.Packet] = []
    send.sock.settimeout(0.2)
    closed = False
    while not closed and time.monotonic() - yielded_at < timeout + TIMEOUT:
        try:
            send.send(packets.encode(packets.Ping(len(answers) + 1)))
            data = send.sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        closed = not data
        answers += send.decode(data) if data else []
    elapsed = time.monotonic() - yielded_at
    assert elapsed < timeout + 5, elapsed  # the timeout, counted from the yield
    codes = [q.code for q in answers if isinstance(q, packets.Error)]
    assert codes[:1] == ["nick_yielded"], answers
    assert not any(isinstance(q, packets.Pong) for q in answers)  # ignored, unanswered
    chat.close()
    send.close()
