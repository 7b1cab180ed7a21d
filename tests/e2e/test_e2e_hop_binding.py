"""What the hop handshake binds, attacked with real processes.

- Someone who stole a host's ``tls.key`` (not its identity key) sits between a joiner
  and the real host: two TLS connections with the host's own certificate, plaintext
  passed between them. The joiner must refuse, and no packet may cross the thief.
- An impostor at a ticket's address, or at the address of a pinned host with a join
  secret, must receive no Noise message at all: the first one depends on the secret.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from severus_cli.core.trust.identity import TLS_CERT_FILE, TLS_KEY_FILE, load_or_create_identity
from severus_cli.core.wire.framing import FrameDecoder
from severus_cli.net.tls import client_context, server_context
from tests.e2e.lab import cli_env, free_port

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

TRUST_FAILURE = 4
_TICKET = re.compile(r"(sev[a-z2-7]{40,})")


class TlsThief:
    """Terminates TLS with a stolen certificate and key, opens its own TLS to the real
    host, and forwards the plaintext both ways, keeping a copy of everything."""

    def __init__(self, cert: Path, key: Path, upstream: int) -> None:
        self.port = free_port()
        self.upstream = upstream
        self.context = server_context(cert, key)
        self.from_joiner = bytearray()
        self.from_host = bytearray()
        self.accepted = threading.Event()
        self.done = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(30)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            raw, _ = self._listener.accept()
        except OSError:
            return
        self.accepted.set()
        with contextlib.ExitStack() as stack:
            joiner = stack.enter_context(self.context.wrap_socket(raw, server_side=True))
            upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            host = stack.enter_context(client_context().wrap_socket(upstream))
            pumps = [
                threading.Thread(target=self._pump, args=(joiner, host, self.from_joiner)),
                threading.Thread(target=self._pump, args=(host, joiner, self.from_host)),
            ]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join(30)
        self.done.set()

    @staticmethod
    def _pump(source: ssl.SSLSocket, sink: ssl.SSLSocket, copy: bytearray) -> None:
        source.settimeout(30)
        while True:
            try:
                data = source.recv(65536)
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                with contextlib.suppress(OSError, ssl.SSLError):
                    sink.shutdown(socket.SHUT_RDWR)
                return
            copy += data
            with contextlib.suppress(OSError, ssl.SSLError):
                sink.sendall(data)

    def close(self) -> None:
        self._listener.close()


def _frames(data: bytes) -> list[bytes]:
    return FrameDecoder().feed(bytes(data))


def test_a_stolen_tls_key_cannot_read_or_change_the_hop(lab: Lab) -> None:
    ana = lab.host("ana")
    thief = TlsThief(ana.config / TLS_CERT_FILE, ana.config / TLS_KEY_FILE, ana.port)
    try:
        # bob pins the real host first, then comes back through the thief's address
        # with the host's fingerprint: the certificate is the host's own, byte for byte.
        bob = lab.join(
            f"127.0.0.1:{thief.port}",
            "bob",
            "--fingerprint",
            ana.fingerprint,
            accept_new=False,
            welcome=False,
        )
        bob.expect(r"Noise handshake failed|handshake failed", timeout=30)
        assert bob.wait_exit(30) != 0
        assert thief.done.wait(30), "the thief's connections never ended"
        assert "Welcome" not in bob.text
        # Frames 1 and 2 crossed, and nothing else: no frame 3, so no identity of bob's
        # and no packet (hello, welcome, roster, motd) for the thief to read or rewrite.
        assert len(_frames(thief.from_joiner)) == 1, thief.from_joiner
        assert len(_frames(thief.from_host)) <= 1, thief.from_host
        assert "bob joined" not in ana.text
        # The host itself is unharmed: a direct join still works.
        cy = lab.join(ana, "cy")
        cy.say("still here", "cy")
        ana.expect(r"cy: still here")
    finally:
        thief.close()


class Impostor:
    """A TLS server with a certificate of its own that records what it is sent."""

    def __init__(self, config: Path, port: int) -> None:
        config.mkdir(mode=0o700, parents=True, exist_ok=True)
        load_or_create_identity(config)  # a key and certificate of its own
        self.context = server_context(config / TLS_CERT_FILE, config / TLS_KEY_FILE)
        self.received = bytearray()
        self.handshook = threading.Event()
        self.closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(30)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            raw, _ = self._listener.accept()
            with self.context.wrap_socket(raw, server_side=True) as conn:
                self.handshook.set()
                conn.settimeout(30)
                while data := conn.recv(65536):
                    self.received += data
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.closed.set()

    def close(self) -> None:
        self._listener.close()


def test_a_ticket_join_sends_nothing_to_another_certificate(lab: Lab) -> None:
    ana = lab.host("ana", "--secret", env=cli_env(SEVERUS_SECRET="open sesame"))
    ticket = _TICKET.search(ana.text)
    assert ticket, ana.text
    port = ana.port
    ana.kill()
    deadline = time.monotonic() + 20
    impostor: Impostor | None = None
    while impostor is None:  # the port frees as soon as the host's socket is closed
        try:
            impostor = Impostor(lab.config("impostor"), port)
        except OSError:
            assert time.monotonic() < deadline, "the host's port never became free"
            time.sleep(0.1)
    try:
        bob = lab.spawn(
            "join", ticket.group(1), "--nick", "bob", "--config-dir", str(lab.config("bob"))
        )
        bob.expect(r"not the \S+ its ticket names", timeout=30)
        bob.expect(r"Ask the host for a new ticket")
        assert bob.wait_exit(30) == TRUST_FAILURE
        assert impostor.handshook.is_set()
        assert impostor.closed.wait(30)
        assert bytes(impostor.received) == b"", "a Noise message reached the impostor"
    finally:
        impostor.close()


def test_a_pinned_host_with_a_secret_sends_nothing_to_another_certificate(lab: Lab) -> None:
    ana = lab.host("ana", "--secret", env=cli_env(SEVERUS_SECRET="open sesame"))
    env = cli_env(SEVERUS_SECRET="open sesame")
    args = ("join", ana.address, "--nick", "bob", "--config-dir", str(lab.config("bob")))
    bob = lab.spawn(*args, "--secret", "--accept-new", env=env)
    bob.expect(r"Welcome, bob!")
    bob.type("/quit")
    assert bob.wait_exit() == 0
    ana.kill()
    # The impostor took the address, with a certificate of its own.
    shutil.rmtree(lab.config("impostor"), ignore_errors=True)
    deadline = time.monotonic() + 20
    impostor: Impostor | None = None
    while impostor is None:
        try:
            impostor = Impostor(lab.config("impostor"), ana.port)
        except OSError:
            assert time.monotonic() < deadline, "the host's port never became free"
            time.sleep(0.1)
    try:
        again = lab.spawn(*args, "--secret", env=env)
        again.expect(r"REMOTE HOST CERTIFICATE HAS CHANGED", timeout=30)
        again.expect(r"Nothing that depends on the secret was sent")
        assert again.wait_exit(30) == TRUST_FAILURE
        assert impostor.closed.wait(30)
        assert bytes(impostor.received) == b"", "a Noise message reached the impostor"
    finally:
        impostor.close()
