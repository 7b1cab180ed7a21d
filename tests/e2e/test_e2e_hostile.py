"""Hostile connections hurt nobody: the host drops them and everyone else keeps chatting."""

from __future__ import annotations

import os
import socket
import ssl
import time
from typing import TYPE_CHECKING

import msgpack

from severus_cli.core.wire import packets
from tests.e2e import attack

if TYPE_CHECKING:
    from tests.e2e.lab import Host, Lab, Term

# The host closes a hostile connection at once; this only bounds a failure, so it is
# generous for a machine busy with other work.
CLOSE_WITHIN = 10.0
# The host's --handshake-timeout here. Long enough that "refused at once" and "dropped
# by the deadline" stay far apart on a busy machine.
HANDSHAKE = 3.0


def _closed_by_peer(
    sock: socket.socket, within: float = CLOSE_WITHIN, clean: bool = False
) -> bytes:
    """Read until the host closes; return what it sent. Fails if it stays open.

    ``clean``: the close must be an orderly end of stream, not a reset.
    """
    received = b""
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the host kept the connection open for {within:g} s")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as error:
            assert not clean, f"the connection was reset, not closed: {error!r}"
            return received
        if not data:
            return received
        received += data


class RawPeer(attack.RawPeer):
    """The shared raw client (tests/e2e/attack.py), read until the host hangs up."""

    def fatal_error(self) -> packets.Error:
        """Read until the host closes; the last packet must be a fatal error."""
        received = _closed_by_peer(self.sock)
        got = self.decode(received) if received else []
        errors = [p for p in got if isinstance(p, packets.Error)]
        assert errors, f"the host closed without an err packet (got {got})"
        assert errors[-1].fatal, errors[-1]
        return errors[-1]


def _chat_still_works(ana: Host, bob: Term, cy: Term, text: str) -> None:
    bob.say(text, "bob")
    cy.expect(f"bob: {text}")
    ana.expect(f"bob: {text}")
    cy.say(text + "-back", "cy")
    bob.expect(f"cy: {text}-back")


def test_bad_input_never_hurts_others(lab: Lab) -> None:
    ana = lab.host("ana", "--handshake-timeout", str(HANDSHAKE))
    bob = lab.join(ana, "bob")
    cy = lab.join(ana, "cy")
    bob.expect(r" \* cy joined\.")
    port = ana.port

    # Not TLS at all.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(os.urandom(512) + b"\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        _closed_by_peer(plain)
    _chat_still_works(ana, bob, cy, "after-plain-garbage")

    # TLS, then garbage instead of a Noise handshake: a complete bogus frame. Timed from
    # before the connection exists, the deadline (from the TCP accept) can only close it
    # after HANDSHAKE: sooner means the garbage itself was refused.
    start = time.monotonic()
    with attack.tls(port) as tls:
        tls.sendall(b"\x00\x40" + os.urandom(64))
        _closed_by_peer(tls)
        assert time.monotonic() - start < HANDSHAKE * 0.8, "garbage was not refused at once"
    _chat_still_works(ana, bob, cy, "after-tls-garbage")

    # TLS, then silence: dropped by the handshake timeout, not before it (timed from
    # before the connection, a busy machine can only make it later), and not never.
    start = time.monotonic()
    with attack.tls(port) as silent:
        assert _closed_by_peer(silent, within=HANDSHAKE + CLOSE_WITHIN, clean=True) == b""
        assert time.monotonic() - start >= HANDSHAKE - 0.1, "closed before the handshake timeout"

    # A correct handshake and hello, then each kind of bad packet: a fatal err, closed.
    bad_packets = {
        "bad_packet": b"\xc1 not msgpack",
        "unknown_packet": msgpack.packb({"t": "launch_missiles", "id": 1}),
        "bad_packet ": msgpack.packb({"t": "seal", "id": "one", "room": 7, "data": "x"}),
    }
    for number, (code, payload) in enumerate(bad_packets.items()):
        peer = RawPeer(port)
        peer.hello(f"raw{number}")
        ana.expect(rf" \* raw{number} joined\.")
        peer.send(payload)
        error = peer.fatal_error()
        assert error.code == code.strip(), error
        peer.close()
        ana.expect(rf" \* raw{number} left\.")
        bob.expect(rf" \* raw{number} left\.")

    # The largest length prefix, then junk: it cannot decrypt, so the session ends.
    # (Whether an err packet comes first is test_undecryptable_frame_gets_a_fatal_err.)
    peer = RawPeer(port)
    peer.hello("rawbig")
    peer.sock.sendall(b"\xff\xff" + os.urandom(0xFFFF))
    _closed_by_peer(peer.sock)
    peer.close()
    bob.expect(r" \* rawbig left\.")

    # Unregistered: a packet other than hello is refused.
    peer = RawPeer(port)
    peer.send(packets.encode(packets.Seal(1, "lobby", b"sneaky")))
    assert peer.fatal_error().code == "not_registered"
    peer.close()

    _chat_still_works(ana, bob, cy, "after-everything")
    bob.type("/users")
    bob.expect(r"-> 3 in lobby: ana, bob, cy\n")
    assert "sneaky" not in ana.text + bob.text + cy.text
    for term in (ana, bob, cy):
        assert "Traceback" not in term.text
        assert "Exception" not in term.text


def test_full_size_frame_of_junk_gets_a_fatal_err(lab: Lab) -> None:
    ana = lab.host("ana")
    peer = RawPeer(ana.port)
    peer.hello("rawbig")
    ana.expect(r" \* rawbig joined\.")
    peer.sock.sendall(b"\xff\xff" + b"\xc1" + os.urandom(0xFFFE))  # 0xc1: never msgpack
    error = peer.fatal_error()
    assert error.code == "bad_packet"
    peer.close()
