"""QUIC behaves like TCP in everyday use: stray packets stay off the screen, leaving
is a leave, a wrong port or transport fails at once with a hint, and a host that
dies is described in plain words."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from tests.e2e.lab import ticket_in
from tests.e2e.quic_stray import initial_without_crypto, junk, udp_ports

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

# Refused at once by the kernel (ICMP port unreachable, or a TCP reset): far below the
# 10 s connect timeout a silent port costs, with room for a busy machine.
FAST = 5.0
LIBRARY_NOISE = ("Error: 10", "CRYPTO frame", "Traceback", "WARNING")


def test_stray_datagrams_stay_off_the_screen(lab: Lab) -> None:
    ana = lab.host("ana", "--mode", "quic")
    bob = lab.join(ticket_in(ana.text), "bob", accept_new=False)
    ana.expect(r" \* bob joined\.")
    ana.child.send("half a li")  # a line being typed on the host's prompt
    junk(ana.port)
    for _ in range(3):
        initial_without_crypto(ana.port)  # the host answered: it handled the packet
    ana.child.send("ne\r")
    bob.expect(r"ana: half a line")
    bob.say("sentinel after the strays", "bob")
    ana.expect(r"bob: sentinel after the strays")
    assert not [noise for noise in LIBRARY_NOISE if noise in ana.text], ana.text[-2000:]


def test_stray_datagrams_stay_off_the_joiner_screen(lab: Lab) -> None:
    """A joiner's socket is connected to the host: datagrams from anywhere else never
    reach aioquic, let alone the screen."""
    ana = lab.host("ana", "--mode", "quic")
    bob = lab.join(ticket_in(ana.text), "bob", accept_new=False)
    ana.expect(r" \* bob joined\.")
    ports = udp_ports(bob.pid)
    assert ports, "the joiner holds no UDP socket"
    for port in ports:
        junk(port)
    ana.say("sentinel for bob", "ana")
    bob.expect(r"ana: sentinel for bob")
    assert not [noise for noise in LIBRARY_NOISE if noise in bob.text]


def test_quit_and_send_over_quic_are_a_normal_leave(lab: Lab) -> None:
    ana = lab.host("ana", "--mode", "quic")
    ticket = ticket_in(ana.text)
    bob = lab.join(ticket, "bob", accept_new=False)
    cy = lab.join(ticket, "cy", accept_new=False)
    bob.expect(r" \* cy joined\.")

    cy.type("/quit see you tomorrow")
    assert cy.wait_exit() == 0
    bob.expect(r" \* cy left\. \(quit: see you tomorrow\)")
    ana.expect(r" \* cy left\. \(quit: see you tomorrow\)")

    sent = lab.send(ticket, b"one line\n", nick="cron")
    assert sent.returncode == 0, sent.stderr
    bob.expect(r"cron: one line")  # a send shows its lines and no join or leave
    bob.type("/quit")
    assert bob.wait_exit() == 0
    ana.expect(r" \* bob left\. \(quit\)")
    assert "connection lost" not in ana.text
    for quitter in (bob, cy):  # the one who quits sees no library noise either
        assert "Exception" not in quitter.text, quitter.text
        assert "Traceback" not in quitter.text, quitter.text


def test_wrong_transport_fails_at_once_with_a_hint(lab: Lab) -> None:
    quic_host = lab.host("ana", "--mode", "quic")
    start = time.monotonic()
    direct = lab.send(f"127.0.0.1:{quic_host.port}", b"x\n", "--accept-new")
    assert time.monotonic() - start < FAST
    assert direct.returncode == 5, direct.stderr
    error = direct.stderr.decode()
    assert f"nothing listens on TCP port {quic_host.port}" in error, error
    assert "add --mode quic" in error, error
    assert "Connect call failed" not in error

    tcp_host = lab.host("bo", config="tcp-host")
    start = time.monotonic()
    quic = lab.send(f"127.0.0.1:{tcp_host.port}", b"x\n", "--accept-new", "--mode", "quic")
    assert time.monotonic() - start < FAST
    assert quic.returncode == 5, quic.stderr
    error = quic.stderr.decode()
    assert f"nothing listens on UDP port {tcp_host.port}" in error, error
    assert "leave out --mode quic" in error, error

    ticket = ticket_in(quic_host.text)  # a ticket names the transport: no hint
    os.kill(quic_host.pid, signal.SIGKILL)
    quic_host.wait_exit()
    start = time.monotonic()
    gone = lab.send(ticket, b"x\n")
    assert time.monotonic() - start < FAST
    assert gone.returncode == 5, gone.stderr
    assert "nothing listens on UDP port" in gone.stderr.decode()
    assert "--mode" not in gone.stderr.decode()


def test_killed_quic_host_is_described_in_plain_words(lab: Lab) -> None:
    ana = lab.host("ana", "--mode", "quic")
    bob = lab.join(ticket_in(ana.text), "bob", accept_new=False)
    ana.expect(r" \* bob joined\.")
    os.kill(ana.pid, signal.SIGKILL)
    bob.expect(r"Disconnected: the host (went away|stopped answering)")
    bob.expect(r"reconnecting in \d+ s")
    assert "closed the connection" not in bob.text
