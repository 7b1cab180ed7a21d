"""What end-to-end encryption costs per room message, at 2, 50 and 200 members.

Measured in one process with the project's own code, no network: every member's
client core, the host's hop sessions, real keys. For each room size it times one
message from send to every member having read it, split by who pays:

- e2e: the sender seals once (sender key: ratchet, ChaCha20-Poly1305, Ed25519 sign);
  the host only relays: it reads the packet from the sender's hop and frames it once,
  the same bytes for every recipient (PROTOCOL.md section 3); each member checks the
  signature and decrypts;
- hop-only: the same message with nothing end to end, as a host that reads
  everything would carry it (the original design).

TLS, which every hop adds in both cases, is not part of either figure: ``python -m
bench`` measures it with the rest of the transport.

Run: ``python -m bench.e2e_cost [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from severus_cli.core.e2e.keyring import Keyring, Relay
from severus_cli.core.e2e.wire import ChatBody
from severus_cli.core.wire.session import HopSession, Payload, PeerIdentity, Role

SIZES = (2, 50, 200)
TEXT = "x" * 100


def _keypair() -> tuple[bytes, bytes]:
    key = X25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


def _data(session: HopSession, frame: bytes) -> bytes:
    """The one packet a frame carries."""
    (event,) = session.receive_data(frame)
    assert isinstance(event, Payload)
    return event.data


def _hop_pair() -> tuple[HopSession, HopSession]:
    """An established (client, host) pair of hop sessions."""
    cert = os.urandom(32)
    client = HopSession(Role.INITIATOR, _keypair()[0], cert)
    host = HopSession(Role.RESPONDER, _keypair()[0], cert)
    host.receive_data(client.data_to_send())
    events = client.receive_data(host.data_to_send())
    assert any(isinstance(e, PeerIdentity) for e in events)
    client.proceed()
    host.receive_data(client.data_to_send())
    return client, host


class Room:
    """``size`` members with keyrings that already share their sender keys."""

    def __init__(self, size: int) -> None:
        self.names = [f"m{i}" for i in range(size)]
        pairs = {name: _keypair() for name in self.names}
        self.keys = {name: pairs[name][1] for name in self.names}
        self.rings = {name: Keyring(*pairs[name], name) for name in self.names}
        self.hops = {name: _hop_pair() for name in self.names}
        for ring in self.rings.values():
            for name in self.names:
                ring.peer_joined(name, self.keys[name])
        self.sender = self.names[0]
        members = [(n, self.keys[n]) for n in self.names]
        relays, _ = self.rings[self.sender].seal("room", members, ChatBody("warm-up"))
        self._deliver_relays(self.sender, relays)

    def _deliver_relays(self, source: str, relays: list[Relay]) -> None:
        queue = [(source, r) for r in relays]
        while queue:
            sender, relay = queue.pop(0)
            target = relay.nick
            _, replies = self.rings[target].relayed(
                sender, self.keys[sender], relay.kind, relay.data, 0.0
            )
            queue += [(target, r) for r in replies]

    def e2e_message(self) -> tuple[float, float, float]:
        """(sender, host, all receivers) seconds for one sealed room message."""
        members = [(n, self.keys[n]) for n in self.names]
        ring = self.rings[self.sender]
        t0 = time.perf_counter()
        _, data = ring.seal("room", members, ChatBody(TEXT))
        client, host = self.hops[self.sender]
        frame = client.seal(data)
        t1 = time.perf_counter()
        payload = _data(host, frame)
        frame_out = host.seal(payload)  # once: every recipient gets these bytes
        t2 = time.perf_counter()
        for name in self.names[1:]:
            got = _data(self.hops[name][0], frame_out)
            heard = self.rings[name].sealed(
                self.sender, self.keys[self.sender], "room", got, 0.0, 0.0
            )
            assert heard is not None and heard.body.text == TEXT
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    def hop_only_message(self) -> tuple[float, float, float]:
        """(sender, host, all receivers) seconds when only the hop is encrypted."""
        plaintext = TEXT.encode()
        client, host = self.hops[self.sender]
        t0 = time.perf_counter()
        frame = client.seal(plaintext)
        t1 = time.perf_counter()
        payload = _data(host, frame)
        frame_out = host.seal(payload)
        t2 = time.perf_counter()
        for name in self.names[1:]:
            assert _data(self.hops[name][0], frame_out) == plaintext
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2


def _median(run: Callable[[], tuple[float, float, float]], rounds: int) -> list[float]:
    samples = [run() for _ in range(rounds)]
    return [statistics.median(s[i] for s in samples) * 1e6 for i in range(3)]


def measure(rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for size in SIZES:
        room = Room(size)
        e2e = _median(room.e2e_message, rounds)
        hop = _median(room.hop_only_message, rounds)
        receivers = max(size - 1, 1)
        results[str(size)] = {
            "e2e_sender_us": e2e[0],
            "e2e_host_us": e2e[1],
            "e2e_each_receiver_us": e2e[2] / receivers,
            "e2e_total_us": sum(e2e),
            "hop_sender_us": hop[0],
            "hop_host_us": hop[1],
            "hop_each_receiver_us": hop[2] / receivers,
            "hop_total_us": sum(hop),
            "e2e_over_hop": sum(e2e) / sum(hop),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(rounds=5 if args.quick else 40)
    if args.json:
        print(json.dumps({"e2e_cost": results}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Cost of one room message (µs of CPU, medians)")
    for column in ("members", "", "sender", "host", "each receiver", "total", "e2e/hop"):
        table.add_column(column, justify="right")
    for size, row in results.items():
        table.add_row(
            size,
            "e2e",
            *(
                f"{row[k]:.1f}"
                for k in ("e2e_sender_us", "e2e_host_us", "e2e_each_receiver_us", "e2e_total_us")
            ),
            f"{row['e2e_over_hop']:.1f}x",
        )
        table.add_row(
            "",
            "hop only",
            *(
                f"{row[k]:.1f}"
                for k in ("hop_sender_us", "hop_host_us", "hop_each_receiver_us", "hop_total_us")
            ),
            "",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
