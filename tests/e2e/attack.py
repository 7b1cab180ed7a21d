"""Tools for the adversarial suite: hostile raw peers, attack workers, the host's memory,
and a legitimate pair whose chat delay is measured while the host is under attack.

Everything connects to 127.0.0.1 only, and every loop is bounded.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from severus_cli.core.wire import packets
from severus_cli.core.wire.session import HopSession, Payload, PeerIdentity, Role
from severus_cli.net.tls import channel_binding, client_context, peer_cert_hash

if TYPE_CHECKING:
    from tests.e2e.lab import Term

T = TypeVar("T")
# Seconds for a line from bob to reach cy (and back), under attack. A real measure, kept
# tight enough to catch a host that stalls: the slowest line seen with two CPU hogs on
# this 2-core machine took 0.18 s, so 3 s leaves a busy machine room to spare.
DELAY_BOUND = 3.0
# How long the host may take to close a connection it should close at once; it only
# bounds a failure, so it is generous for a machine busy with other work.
CLOSE_WITHIN = 10.0
RSS_BOUND_KIB = 60 * 1024  # how much the host may grow over a whole attack


def rss_kib(pid: int) -> int:
    """The resident memory of ``pid`` (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def tls(port: int, timeout: float = CLOSE_WITHIN, rcvbuf: int | None = None) -> ssl.SSLSocket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the window is small from the start
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    raw.connect(("127.0.0.1", port))
    return client_context().wrap_socket(raw, server_hostname=None)


def wait_closed(sock: socket.socket, within: float) -> tuple[str, float]:
    """Read until the host ends the connection: ("closed" | "reset", seconds taken).
    Fails if it is still open after ``within`` seconds."""
    start = time.monotonic()
    while True:
        left = within - (time.monotonic() - start)
        if left <= 0:
            raise AssertionError(f"the host kept a hostile connection open for {within:g} s")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            return "reset", time.monotonic() - start
        if not data:
            return "closed", time.monotonic() - start


class RawPeer:
    """A client that speaks TLS and Noise correctly, then whatever the test wants."""

    def __init__(self, port: int, static: bytes | None = None, rcvbuf: int | None = None) -> None:
        self.sock = tls(port, rcvbuf=rcvbuf)
        cert_hash = peer_cert_hash(self.sock)
        self.session = HopSession(
            Role.INITIATOR,
            static or os.urandom(32),
            cert_hash,
            binding=channel_binding(self.sock),
        )
        self.sock.sendall(self.session.data_to_send())
        while not any(isinstance(e, PeerIdentity) for e in self._events(self.sock.recv(65536))):
            pass
        self.session.proceed()
        self.sock.sendall(self.session.data_to_send())

    def _events(self, data: bytes) -> list[object]:
        assert data, "the host closed the connection"
        return list(self.session.receive_data(data))

    def send(self, payload: bytes) -> None:
        self.sock.sendall(self.session.seal(payload))

    def frames(self, payloads: Iterable[bytes]) -> bytes:
        return b"".join(self.session.seal(payload) for payload in payloads)

    def decode(self, data: bytes) -> list[packets.Packet]:
        return [
            packets.decode_from_host(e.data) for e in self._events(data) if isinstance(e, Payload)
        ]

    def hello(self, nick: str) -> None:
        self.send(packets.encode(packets.Hello(nick, "attack", ())))
        got: list[packets.Packet] = []
        while not any(isinstance(p, packets.Welcome) for p in got):
            got += self.decode(self.sock.recv(65536))

    def last_words(self, within: float = CLOSE_WITHIN) -> list[packets.Packet]:
        """Everything the host sends until it closes the connection."""
        received = b""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                break
            if not data:
                return self.decode(received) if received else []
            received += data
        raise AssertionError(f"the host did not close the connection within {within:g} s")

    def close(self) -> None:
        self.sock.close()


def fatal_code(peer: RawPeer) -> str:
    """The code of the fatal error the host ended ``peer``'s session with."""
    got = peer.last_words()
    errors = [p for p in got if isinstance(p, packets.Error)]
    assert errors and errors[-1].fatal, f"no fatal err before the close: {got}"
    return errors[-1].code


def swarm(count: int, work: Callable[[int], str], threads: int = 8) -> Counter[str]:
    """Run ``work(i)`` for ``count`` connections on a few threads; tally what happened."""
    with ThreadPoolExecutor(threads) as pool:
        return Counter(pool.map(work, range(count)))


@dataclass
class Pair:
    """bob and cy, who must keep chatting whatever the attack."""

    bob: Term
    cy: Term
    delays: list[float] = field(default_factory=list)
    _count: int = 0

    def check(self, label: str) -> None:
        """bob says a line and cy must see it, then back, each within DELAY_BOUND."""
        for sender, receiver, name in ((self.bob, self.cy, "bob"), (self.cy, self.bob, "cy")):
            self._count += 1
            text = f"{label}-{self._count}"
            start = time.monotonic()
            sender.type(text)
            receiver.expect(re.escape(f"{name}: {text}"), timeout=DELAY_BOUND)
            self.delays.append(time.monotonic() - start)

    def during(self, attack: Callable[[], T], label: str) -> T:
        """Run ``attack`` on a thread and check the chat until it is over (at least once)."""
        result: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(attack())
            except BaseException as error:  # reported on the test's thread
                failure.append(error)

        worker = threading.Thread(target=run, name=f"attack-{label}", daemon=True)
        worker.start()
        self.check(f"{label}-during")
        while worker.is_alive():
            self.check(f"{label}-during")
        worker.join()
        if failure:
            raise failure[0]
        self.check(f"{label}-after")
        return result[0]


# What an uncaught exception looks like: Python's own report, or prompt_toolkit's (which
# also stops the chat until Enter is pressed).
CRASH_MARKS = ("Traceback", "Unhandled exception", "Press ENTER to continue", 'File "')


def assert_no_traceback(*terms: Term) -> None:
    for term in terms:
        shown = [mark for mark in CRASH_MARKS if mark in term.text]
        assert not shown, f"{term.name} printed an exception ({shown}):\n{term.text[-2000:]}"
