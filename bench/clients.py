"""Clients of a running ``severus host`` for the load generators, made of the project's
own client code (open_link, ClientLink, ClientCore, packets): connecting, registering,
saying sealed room messages, and one reader per link that counts what arrives.

Every wait is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import process_cpu_seconds
from bench.wire import ACK, REFUSAL, is_room_message, new_core
from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.events import UiEvent
from severus_cli.core.trust.identity import Identity
from severus_cli.core.wire import packets as p
from severus_cli.net.client_link import ClientLink
from severus_cli.net.participant import RemoteParticipant
from severus_cli.runtime.connect import open_link, resolve_target

CONNECT_TIMEOUT = 10.0
WAIT_TIMEOUT = 30.0  # the longest any single wait for the host may take
CLOSE_TIMEOUT = 5.0


def _ignore(events: list[UiEvent]) -> None:
    """Events are not shown; the benchmark reads packets itself."""


@dataclass
class Target:
    """One running host: its transport, ticket and process id."""

    mode: str
    ticket: str
    pid: int

    def cpu(self) -> float:
        return process_cpu_seconds(self.pid)


@dataclass
class Client:
    """A registered participant: its link and its client core."""

    participant: RemoteParticipant
    nick: str

    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self.ids)

    @property
    def link(self) -> ClientLink:
        return self.participant.link

    @property
    def core(self) -> ClientCore:
        return self.participant.core


async def close_client(client: Client) -> None:
    """Say bye and close, as ``RemoteParticipant.close`` does, minus one wait.

    ``ClientLink.close`` waits up to 2 s for the stream writer to report closed, and
    aioquic's stream writer never does (its transport adapter never calls
    ``connection_lost``), so every QUIC close would take the full 2 s and leave the
    connection lingering. For QUIC we finish the stream and close the connection
    directly instead (bench/README.md, "Findings").
    """
    participant = client.participant
    participant.core.quit("bench done")
    participant.flush()
    link = participant.link
    if link.path != "quic":
        await link.close()
        return
    link._writer.close()  # FIN on the stream, after the bye
    closer, link._on_close = link._on_close, None
    link._reader.feed_eof()  # wake a pending receive()
    if closer is not None:
        await closer()  # QuicClient.close: CONNECTION_CLOSE, then the socket


@dataclass
class Closer:
    """Closes clients in the background, so many can close at once."""

    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self, client: Client) -> None:
        self.tasks.append(asyncio.create_task(self._close(client)))

    @staticmethod
    async def _close(client: Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(close_client(client), CLOSE_TIMEOUT)

    async def wait(self) -> None:
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=CLOSE_TIMEOUT + 1)
        self.tasks.clear()


async def connect(identity: Identity, config_dir: Path, target: Target, nick: str) -> Client:
    """Transport + TLS + Noise (open_link), then hello/welcome (register)."""
    endpoints, policy = resolve_target(target.ticket, target.mode, config_dir, False, None)
    link = await open_link(identity, endpoints[0], policy, CONNECT_TIMEOUT)
    participant = RemoteParticipant(new_core(identity, nick), link, _ignore)
    try:
        await participant.register(CONNECT_TIMEOUT)
    except BaseException:
        await link.close()
        raise
    return Client(participant, nick)


def speak(client: Client, text: str, room: str = p.LOBBY) -> list[bytes]:
    """What the client core sends to say ``text`` in ``room``: a room message sealed
    end to end (and any key hand-outs it needs first), encoded and ready to write."""
    core = client.core
    events = core.say(text, time.time(), room=room)
    problems = [e for e in events if getattr(e, "level", "") == "error"]
    if problems:
        raise RuntimeError(f"the client core refused to say it: {problems[0]}")
    return core.packets_to_send()


class Group:
    """Counts what a group of receivers gets: down, the receivers a fanned-out message
    still has to reach (one at a time); up, every delivery (pipelined)."""

    def __init__(self) -> None:
        self.remaining = 0
        self.last_at = 0.0
        self.done = asyncio.Event()
        self.total = 0
        self._target = 0
        self._progress = asyncio.Event()

    def expect(self, receivers: int) -> None:
        self.remaining = receivers
        self.done.clear()

    def arrived(self, now: float) -> None:
        self.remaining -= 1
        self.last_at = now
        if self.remaining == 0:
            self.done.set()
        self.total += 1
        if self.total >= self._target:
            self._progress.set()

    async def until_total(self, target: int, deadline: float) -> None:
        """Wait until ``total`` reaches ``target``; TimeoutError after ``deadline``."""
        while self.total < target:
            self._target = target
            self._progress.clear()
            await asyncio.wait_for(self._progress.wait(), max(0.001, deadline - time.monotonic()))


class Reader:
    """Reads one client's link for the whole scenario (cancelling a read mid-way could
    drop bytes and break the Noise session) and counts what arrives.

    While ``feed`` is on, every packet also goes through the client core, which answers
    end-to-end handshakes and takes the keys it is given, as a real client does. The
    measured phases turn it off for receivers: they then only decode each packet, so
    the load generator stays cheap and the host is what is measured.
    """

    def __init__(self, client: Client, group: Group | None = None) -> None:
        self.client = client
        self.group = group
        self.feed = True
        self.msgs = 0
        self.oks = 0
        self.last_msg_at = 0.0
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        participant = self.client.participant
        link = participant.link
        group = self.group
        while True:
            payloads = await link.receive()
            now = time.perf_counter()
            for payload in payloads:
                packet = p.decode_from_host(payload)
                if is_room_message(packet):
                    self.msgs += 1
                    self.last_msg_at = now
                    if group is not None:
                        group.arrived(now)
                elif isinstance(packet, ACK):
                    self.oks += 1
                elif isinstance(packet, REFUSAL):
                    raise RuntimeError(f"the host refused: {packet.code}: {packet.msg}")
                if self.feed:
                    participant.core.receive(payload, time.time())
            if self.feed:
                participant.flush()
            self._changed.set()

    async def until(self, condition: Callable[[], bool], deadline: float) -> None:
        """Wait until ``condition()`` holds; TimeoutError after ``deadline``."""
        while not condition():
            if self.task.done():
                self.task.result()
                raise RuntimeError(f"{self.client.nick}: the link closed")
            self._changed.clear()
            waiter = asyncio.ensure_future(self._changed.wait())
            try:
                done, _ = await asyncio.wait(
                    {waiter, self.task},
                    timeout=max(0.0, deadline - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
            if not done:
                raise TimeoutError(f"{self.client.nick}: gave up waiting for the host")

    async def until_oks(self, count: int, deadline: float) -> None:
        await self.until(lambda: self.oks >= count, deadline)

    async def until_msgs(self, count: int, deadline: float) -> None:
        await self.until(lambda: self.msgs >= count, deadline)

    async def until_in_room(self, room: str, deadline: float) -> None:
        rooms = self.client.core.rooms
        await self.until(lambda: room.casefold() in rooms, deadline)

    async def until_settled(self, deadline: float) -> None:
        """Until the host has acknowledged everything the core sent, keys included."""
        core = self.client.core
        await self.until(lambda: core.unacknowledged == 0, deadline)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


async def connect_many(
    identity: Identity,
    config_dir: Path,
    target: Target,
    names: list[str],
    parallel: int,
    opened: list[Client],
) -> list[Client]:
    """Connect one client per name, ``parallel`` at a time; each is also appended to
    ``opened`` as soon as it exists, so the caller can close them even after a failure."""
    semaphore = asyncio.Semaphore(parallel)

    async def one(name: str) -> Client:
        async with semaphore:
            client = await connect(identity, config_dir, target, name)
            opened.append(client)
            return client

    return list(await asyncio.gather(*(one(name) for name in names)))


async def enter_room(readers: list[Reader], room: str, deadline: float) -> None:
    """Every reader's client joins ``room`` (created on first join)."""
    for reader in readers:
        reader.client.participant.perform(lambda core, now: core.join(room, now))
    for reader in readers:
        await reader.until_in_room(room, deadline)


async def settle(sender: Reader, receivers: list[Reader], room: str, deadline: float) -> None:
    """Say one message so the sender's key reaches every member (the host's own
    participant too, when it is in the room); then receivers stop feeding their cores."""
    base = sender.oks
    packets = speak(sender.client, "warming up", room)
    sender.client.link.send(packets)
    await sender.until_oks(base + 1, deadline)
    await sender.until_settled(deadline)
    await asyncio.sleep(0.05)  # the last keys land at their members
    for reader in receivers:
        reader.feed = False


Pair = tuple[Target, Reader, Reader]


async def open_pairs(
    targets: list[Target], identity: Identity, config_dir: Path, prefix: str
) -> list[Pair]:
    """A sender and a receiver on each host, each with its reader running."""
    pairs: list[Pair] = []
    for target in targets:
        sender = await connect(identity, config_dir, target, f"{prefix}A{target.mode}")
        receiver = await connect(identity, config_dir, target, f"{prefix}B{target.mode}")
        pairs.append((target, Reader(sender), Reader(receiver)))
    return pairs


async def close_pairs(pairs: list[Pair]) -> None:
    closer = Closer()
    for _, sender, receiver in pairs:
        for reader in (sender, receiver):
            await reader.stop()
            closer.close(reader.client)
    await closer.wait()


class Crowd:
    """Many clients of one host at once, each with its reader running from the moment it
    is registered (only reading and counting: its core is not fed)."""

    def __init__(self, identity: Identity, config_dir: Path, target: Target) -> None:
        self.identity = identity
        self.config_dir = config_dir
        self.target = target
        self.clients: list[Client] = []
        self.readers: list[Reader] = []

    async def join(self, names: list[str], parallel: int) -> None:
        semaphore = asyncio.Semaphore(parallel)

        async def one(name: str) -> None:
            async with semaphore:
                client = await connect(self.identity, self.config_dir, self.target, name)
                self.clients.append(client)
                reader = Reader(client)
                reader.feed = False
                self.readers.append(reader)

        await asyncio.gather(*(one(name) for name in names))

    async def close(self) -> None:
        closer = Closer()
        for reader in self.readers:
            await reader.stop()
        for client in self.clients:
            closer.close(client)
        await closer.wait()
        self.readers.clear()
        self.clients.clear()


async def quiet(target: Target, limit: float = 10.0) -> None:
    """Until the host's CPU stops moving for 0.2 s (at most ``limit`` s)."""
    deadline = time.monotonic() + limit
    last = target.cpu()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = target.cpu()
        if now == last:
            return
        last = now
