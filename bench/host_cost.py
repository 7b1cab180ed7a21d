"""The direct host's own CPU per relayed message and per delivery, in one process.

``python -m bench`` measures a real host process, whose figures move by tens of percent
with whatever else the machine runs and with how the load generator happens to batch.
This drives the same code a direct host runs for every message, from the TLS record
it reads to the TLS records it writes (:class:`TcpHostProtocol`, TLS over memory BIOs,
the hop session, :class:`HostCore`, the turn flusher), with transports that only count
bytes: no system calls, no other process (so neither the read nor the ``send()`` of
each connection is in the figure). What is left is the Python and OpenSSL work a change
to the host moves, steady to a few percent between runs, so two trees can be compared
(and profiled, ``--profile``) without a quiet machine.

Shapes, as in ``python -m bench`` (``seal`` packets of opaque data of the size a
32-character message seals to):

- relay: one sender, one receiver in the lobby; the sender's records carry ``batch``
  messages each (what one read of a pipelined sender brings);
- room: the same in a room;
- fanout: F receivers and a sender in the lobby, one message per read;
- piped: the same receivers, bursts of 32 messages per read;
- connect: one connection from accept to close (TLS, the Noise XX responder, hello,
  welcome, bye), timing only the host's calls: the client's side runs here too.

Run: ``python -m bench.host_cost [--quick] [--json] [--profile SHAPE]``. It also runs
against an older tree: it finds the modules where each version keeps them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import json
import os
import pstats
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA_SIZE = 180  # bytes of ciphertext a 32-character room message seals to


def _module(*names: str) -> Any:
    """The first of ``names`` that imports: the same module in different trees."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(names[0])


host_core = _module("severus_cli.core.host.core", "severus_cli.core.host")
packets = _module("severus_cli.core.wire.packets", "severus_cli.core.packets")
session_mod = _module("severus_cli.core.wire.session", "severus_cli.core.session")
identity_mod = _module("severus_cli.core.trust.identity", "severus_cli.core.identity")
tcp = importlib.import_module("severus_cli.net.tcp")
tls = importlib.import_module("severus_cli.net.tls")
host_loop_mod = importlib.import_module("severus_cli.net.host_loop")


class CountingTransport:
    """A transport that hands bytes to ``sink`` (set-up) or only counts them."""

    def __init__(self, port: int) -> None:
        self.sink: Callable[[bytes], object] | None = None
        self.sent = 0
        self._port = port

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        if self.sink is not None:
            self.sink(data)

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", self._port) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Client:
    """A client's ends of TLS and the hop session, driving one host protocol."""

    def __init__(self, protocol: Any, transport: CountingTransport, static: bytes) -> None:
        self.protocol = protocol
        self.transport = transport
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.tls = tls.client_context().wrap_bio(self._in, self._out, server_hostname=None)
        self._static = static
        self.session: Any = None
        self.packets: list[Any] = []
        transport.sink = self._in.write

    def pump(self) -> None:
        """Hand what the client wrote to the host; let the host's loop turn end."""
        if self._out.pending:
            self.protocol.data_received(self._out.read())

    def tls_handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                self.pump()
                return
            except ssl.SSLWantReadError:
                self.pump()

    def hop(self, cert_hash: bytes) -> None:
        role = session_mod.Role.INITIATOR
        binding = self.tls.get_channel_binding("tls-unique")
        try:
            self.session = session_mod.HopSession(role, self._static, cert_hash, binding=binding)
        except TypeError:  # an older tree, from before the hop bound the TLS channel
            self.session = session_mod.HopSession(role, self._static, cert_hash)

    def send_plain(self, data: bytes) -> None:
        self.tls.write(data)
        self.pump()

    def read(self) -> list[Any]:
        """Packets the host sent so far (only during set-up)."""
        chunks = []
        while True:
            try:
                chunks.append(self.tls.read(65536))
            except ssl.SSLWantReadError:
                break
        events = self.session.receive_data(b"".join(chunks)) if chunks else []
        return events

    def record(self, frames: bytes) -> bytes:
        """``frames`` as the TLS records this client would write in one go."""
        self.tls.write(frames)
        return self._out.read()


async def _turn() -> None:
    await asyncio.sleep(0)


async def connect(host: Any, context: ssl.SSLContext, cert_hash: bytes, nick: str) -> Client:
    port = 10000 + len(nick) + hash(nick) % 50000
    protocol = tcp.TcpHostProtocol(host, context)
    transport = CountingTransport(port)
    protocol.connection_made(transport)
    client = Client(protocol, transport, os.urandom(32))
    client.tls_handshake()
    await _turn()
    client.read()  # TLS 1.3: nothing for the session yet
    client.hop(cert_hash)
    client.send_plain(client.session.data_to_send())
    await _turn()
    events = client.read()
    assert events, "no handshake reply"
    client.session.proceed()
    hello = packets.Hello(nick, "bench", ())
    client.session.send(packets.encode(hello))
    client.send_plain(client.session.data_to_send())
    await _turn()
    client.read()
    return client


def make_host(directory: Path) -> tuple[Any, ssl.SSLContext, bytes]:
    identity = identity_mod.create_identity(directory)
    cert, key = identity_mod.tls_paths(directory)
    unlimited = host_core.UNLIMITED_RATE
    limits: dict[str, Any] = {"max_per_ip": 0, "registration_burst": 0.0}  # as the bench
    known = host_core.HostConfig.__dataclass_fields__
    config = host_core.HostConfig(
        rate_per_second=unlimited,
        rate_burst=unlimited,
        max_clients=1024,
        **{name: value for name, value in limits.items() if name in known},
    )
    core = host_core.HostCore(config, time.time())
    host = host_loop_mod.HostLoop(core, identity.static_private, identity.cert_hash)
    return host, tls.server_context(cert, key), identity.cert_hash


def seal_frames(client: Client, room: str, count: int, first: int) -> bytes:
    data = os.urandom(DATA_SIZE)
    frames = b"".join(
        client.session.seal(packets.encode(packets.Seal(first + i, room, data)))
        for i in range(count)
    )
    return frames


async def measure(
    sender: Client, receivers: list[Client], room: str, reads: int, batch: int
) -> float:
    """Host CPU seconds for ``reads`` reads of ``batch`` messages each."""
    records = [sender.record(seal_frames(sender, room, batch, 1 + i * batch)) for i in range(reads)]
    for client in (sender, *receivers):
        client.transport.sink = None
    received = sender.protocol.data_received
    start = time.process_time()
    for record in records:
        received(record)
        await asyncio.sleep(0)
    return time.process_time() - start


async def shape(name: str, receivers: int, batch: int, reads: int, rounds: int) -> list[float]:
    """µs of host CPU per message (relay, room) or per delivery (fanout, piped)."""
    with tempfile.TemporaryDirectory() as directory:
        host, context, cert_hash = make_host(Path(directory))
        sender = await connect(host, context, cert_hash, "sender")
        others = [await connect(host, context, cert_hash, f"r{i}") for i in range(receivers)]
        assert host.core.participant_count == receivers + 1, "not everyone registered"
        room = packets.LOBBY
        if name == "room":
            room = "bench"
            for client in (sender, *others):
                client.session.send(packets.encode(packets.Join(1, room)))
                client.send_plain(client.session.data_to_send())
                await _turn()
                client.read()
        per = batch * (receivers if name in ("fanout", "piped") else 1)
        await measure(sender, others, room, max(1, reads // 5), batch)  # warm-up
        results = []
        for _ in range(rounds):
            spent = await measure(sender, others, room, reads, batch)
            results.append(spent / (reads * per) * 1e6)
        return results


class HostClock:
    """Process CPU time spent in the host's own calls only (the client's TLS and
    Noise run in this process too, and are left out)."""

    def __init__(self) -> None:
        self.spent = 0.0

    def call(self, function: Callable[..., object], *args: Any) -> None:
        start = time.process_time()
        function(*args)
        self.spent += time.process_time() - start

    async def turn(self) -> None:
        """One loop turn, where the host's turn flusher encrypts and writes."""
        start = time.process_time()
        await asyncio.sleep(0)
        self.spent += time.process_time() - start


async def one_connect(host: Any, context: ssl.SSLContext, cert_hash: bytes, serial: int) -> float:
    """Host CPU seconds for one connection from accept to close: TLS, the Noise XX
    responder, hello and welcome, then bye and the close (what the bench's
    ``handshake`` scenario does, minus the system calls)."""
    clock = HostClock()
    protocol = tcp.TcpHostProtocol(host, context)
    transport = CountingTransport(10000 + serial % 50000)
    clock.call(protocol.connection_made, transport)
    client = Client(protocol, transport, os.urandom(32))

    def pump() -> None:
        if client._out.pending:
            clock.call(protocol.data_received, client._out.read())

    while True:
        try:
            client.tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pump()
    pump()
    await clock.turn()
    client.read()
    client.hop(cert_hash)
    client.tls.write(client.session.data_to_send())
    pump()
    await clock.turn()
    assert client.read(), "no handshake reply"
    client.session.proceed()
    client.session.send(packets.encode(packets.Hello(f"c{serial}", "bench", ())))
    client.tls.write(client.session.data_to_send())
    pump()
    await clock.turn()
    client.read()
    client.session.send(packets.encode(packets.Bye("bench done")))
    client.tls.write(client.session.data_to_send())
    pump()
    clock.call(protocol.connection_lost, None)
    await clock.turn()
    return clock.spent


async def connects(count: int, rounds: int) -> list[float]:
    """µs of host CPU per connect, per round of ``count`` connects."""
    with tempfile.TemporaryDirectory() as directory:
        host, context, cert_hash = make_host(Path(directory))
        for serial in range(20):  # warm-up
            await one_connect(host, context, cert_hash, serial)
        results = []
        for index in range(rounds):
            spent = 0.0
            for serial in range(count):
                spent += await one_connect(host, context, cert_hash, 100 + index * count + serial)
            results.append(spent / count * 1e6)
        assert host.connection_count == 0, "a connection was left open"
        return results


SHAPES = {  # name: (receivers, batch, reads; quick reads)
    "relay": (1, 16, 2000),
    "relay1": (1, 1, 10000),
    "room": (1, 16, 2000),
    "fanout": (200, 1, 200),
    "piped": (200, 32, 30),
    "connect": (0, 0, 300),  # connects per round, accept to close
}


def run(names: list[str], quick: bool, rounds: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name in names:
        receivers, batch, reads = SHAPES[name]
        if quick:
            reads = max(5, reads // 5)
        if name == "connect":
            figures[name] = statistics.median(asyncio.run(connects(reads, rounds)))
            continue
        base = "room" if name == "room" else ("relay" if name.startswith("relay") else name)
        values = asyncio.run(shape(base, receivers, batch, reads, rounds))
        figures[name] = statistics.median(values)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.host_cost")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(SHAPES))
    parser.add_argument("--profile", metavar="SHAPE", help="cProfile one shape instead")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run([args.profile], args.quick, 1)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    figures = run(args.only.split(","), args.quick, args.rounds)
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        receivers, batch, _ = SHAPES[name]
        units = {"fanout": "delivery", "piped": "delivery", "connect": "connect"}
        unit = units.get(name, "message")
        print(f"{name:8} {value:7.3f} µs per {unit} ({receivers} receivers, {batch} per read)")


if __name__ == "__main__":
    main()
