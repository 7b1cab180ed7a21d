"""Load generator: clients of a running ``severus host``, driven through the project's
own client code (open_link, ClientLink, ClientCore, packets).

Run by the benchmark runner as ``python -m bench.loadgen`` with a JSON job on stdin;
it prints one JSON object with per-round results on stdout. Every loop is bounded in
count and in time. The host's CPU is read from /proc/<pid>/stat right at the edges of
each measured phase, which only this process knows precisely.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import LOAD_CPU, pin, process_cpu_seconds, process_rss_kib
from bench.wire import ACK, REFUSAL, is_room_message, new_core
from severus_cli.core import packets as p
from severus_cli.core.client import ClientCore
from severus_cli.core.events import UiEvent
from severus_cli.core.identity import Identity, load_identity
from severus_cli.net.client_link import ClientLink
from severus_cli.net.participant import RemoteParticipant
from severus_cli.runtime.connect import open_link, resolve_target

CONNECT_TIMEOUT = 10.0
WAIT_TIMEOUT = 30.0  # the longest any single wait for the host may take
CLOSE_TIMEOUT = 5.0
SETTLE = {"direct": 0.15, "quic": 1.3}  # the QUIC host closes a connection 1 s after FIN
RELAY_TEXT = "x" * 32

Job = dict[str, Any]
Round = dict[str, Any]


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
    """Counts down the receivers a fanned-out message still has to reach."""

    def __init__(self) -> None:
        self.remaining = 0
        self.last_at = 0.0
        self.done = asyncio.Event()

    def expect(self, receivers: int) -> None:
        self.remaining = receivers
        self.done.clear()

    def arrived(self, now: float) -> None:
        self.remaining -= 1
        self.last_at = now
        if self.remaining == 0:
            self.done.set()


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


# --- handshake ---------------------------------------------------------------------


async def handshake(job: Job, identity: Identity, config_dir: Path) -> list[Round]:
    targets = [Target(**t) for t in job["targets"]]
    rounds: int = job["rounds"]
    per_round: int = job["connects_per_round"]
    results: list[Round] = []
    serial = 0
    for target in targets:  # warm up: imports, first TLS context, caches
        for _ in range(2):
            serial += 1
            await close_client(await connect(identity, config_dir, target, f"warm{serial}"))
    for index in range(rounds):
        order = targets if index % 2 == 0 else targets[::-1]
        for target in order:
            times: list[float] = []
            cpu0 = target.cpu()
            wall0 = time.perf_counter()
            for _ in range(per_round):
                serial += 1
                start = time.perf_counter()
                client = await connect(identity, config_dir, target, f"hs{serial}")
                times.append(time.perf_counter() - start)
                await close_client(client)  # one connection at a time, like real joins
            await asyncio.sleep(SETTLE[target.mode])
            cpu = target.cpu() - cpu0
            wall = time.perf_counter() - wall0
            results.append(
                {
                    "mode": target.mode,
                    "connect_ms": [t * 1000 for t in times],
                    "host_cpu_ms_per_connect": cpu * 1000 / per_round,
                    "host_cpu_share": cpu / wall,
                }
            )
    return results


# --- relay -------------------------------------------------------------------------


async def relay(job: Job, identity: Identity, config_dir: Path) -> list[Round]:
    targets = [Target(**t) for t in job["targets"]]
    rounds: int = job["rounds"]
    count: int = job["messages"]
    window: int = job["window"]
    rooms: list[str] = job.get("rooms", [p.LOBBY])
    pairs = await open_pairs(targets, identity, config_dir, "relay")
    try:
        deadline = time.monotonic() + WAIT_TIMEOUT
        for _, sender, receiver in pairs:
            for room in rooms:
                if room != p.LOBBY:
                    await enter_room([sender, receiver], room, deadline)
            for room in rooms:
                await settle(sender, [], room, deadline)
            receiver.feed = False
        results: list[Round] = []
        warm = max(100, count // 20)
        for index in range(rounds + 1):  # round 0 warms up and is not reported
            order = pairs if index % 2 == 0 else pairs[::-1]
            for target, sender, receiver in order:
                for room in rooms:
                    size = warm if index == 0 else count
                    result = await _relay_round(target, sender, receiver, size, window, room)
                    if index > 0:
                        results.append(result)
        return results
    finally:
        await close_pairs(pairs)


async def _relay_round(
    target: Target, sender: Reader, receiver: Reader, count: int, window: int, room: str
) -> Round:
    # Seal every message first, as the client core does, so the clock only sees the
    # host's work and the sockets; sealing costs the sender far more than relaying
    # costs the host.
    packets: list[bytes] = []
    for _ in range(count):
        packets += speak(sender.client, RELAY_TEXT, room)
    deadline = time.monotonic() + WAIT_TIMEOUT * 2
    base_msgs = receiver.msgs
    base_oks = sender.oks
    link = sender.client.link
    total = len(packets)
    sender.feed = False  # only count the acks: the load generator must outpace the host
    cpu0 = target.cpu()
    start = time.perf_counter()
    sent = 0
    while sent < total:
        batch = min(window - (sent - (sender.oks - base_oks)), total - sent)
        if batch > 0:
            link.send(packets[sent : sent + batch])
            sent += batch
            await link.drain()
        if sent < total:  # refill once half the window is acknowledged
            await sender.until_oks(base_oks + sent - window // 2, deadline)
    await sender.until_oks(base_oks + total, deadline)
    await receiver.until_msgs(base_msgs + count, deadline)
    elapsed = receiver.last_msg_at - start
    cpu = target.cpu() - cpu0
    wall = time.perf_counter() - start
    sender.feed = True
    return {
        "mode": target.mode,
        "room": room,
        "msgs_per_s": count / elapsed,
        "host_cpu_us_per_msg": cpu * 1e6 / count,
        "host_cpu_share": cpu / wall,
    }


# --- latency -----------------------------------------------------------------------


async def latency(job: Job, identity: Identity, config_dir: Path) -> list[Round]:
    targets = [Target(**t) for t in job["targets"]]
    rounds: int = job["rounds"]
    count: int = job["messages"]
    pairs = await open_pairs(targets, identity, config_dir, "lat")
    try:
        deadline = time.monotonic() + WAIT_TIMEOUT
        for _, sender, receiver in pairs:
            await settle(sender, [receiver], p.LOBBY, deadline)
        results: list[Round] = []
        for index in range(rounds + 1):
            order = pairs if index % 2 == 0 else pairs[::-1]
            for target, sender, receiver in order:
                size = max(10, count // 10) if index == 0 else count
                result = await _latency_round(target, sender, receiver, size)
                if index > 0:
                    results.append(result)
        return results
    finally:
        await close_pairs(pairs)


async def _latency_round(target: Target, sender: Reader, receiver: Reader, count: int) -> Round:
    deadline = time.monotonic() + WAIT_TIMEOUT * 2
    samples: list[float] = []
    link = sender.client.link
    for seq in range(count):
        packets = speak(sender.client, f"{seq:032d}")
        oks, msgs = sender.oks, receiver.msgs
        start = time.perf_counter()
        link.send(packets)
        await receiver.until_msgs(msgs + 1, deadline)
        samples.append((receiver.last_msg_at - start) * 1e6)
        await sender.until_oks(oks + len(packets), deadline)  # the host is idle again
    return {"mode": target.mode, "one_way_us": samples}


# --- fanout ------------------------------------------------------------------------


async def fanout(job: Job, identity: Identity, config_dir: Path) -> list[Round]:
    targets = [Target(**t) for t in job["targets"]]
    rounds: int = job["rounds"]
    count: int = job["messages"]
    fans: int = job["clients"]
    parallel: int = job.get("parallel", 4)
    results: list[Round] = []
    for target in targets:
        group = Group()
        clients: list[Client] = []
        readers: list[Reader] = []
        try:
            rss0 = process_rss_kib(target.pid)
            connect_start = time.perf_counter()
            names = [f"fan{i}" for i in range(fans)]
            receivers = await connect_many(identity, config_dir, target, names, parallel, clients)
            readers = [Reader(client, group) for client in receivers]
            connect_wall = time.perf_counter() - connect_start
            sender_client = await connect(identity, config_dir, target, "fansender")
            clients.append(sender_client)
            rss_per_client = (process_rss_kib(target.pid) - rss0) / (fans + 1)
            sender = Reader(sender_client)
            readers.append(sender)
            await asyncio.sleep(0.2)  # the last joined notices land
            await settle(sender, readers[:-1], p.LOBBY, time.monotonic() + WAIT_TIMEOUT * 2)
            for index in range(rounds + 1):
                size = max(5, count // 5) if index == 0 else count
                result = await _fanout_round(target, sender, group, fans, size)
                if index > 0:
                    result["connect_wall_s"] = connect_wall
                    result["host_rss_kib_per_client"] = rss_per_client
                    results.append(result)
        finally:
            closer = Closer()
            for reader in readers:
                await reader.stop()
            for client in clients:
                closer.close(client)
            await closer.wait()
    return results


async def _fanout_round(
    target: Target, sender: Reader, group: Group, fans: int, count: int
) -> Round:
    reach_us: list[float] = []
    deadline = time.monotonic() + WAIT_TIMEOUT * 4
    base_oks = sender.oks
    link = sender.client.link
    expected_oks = 0
    cpu0 = target.cpu()
    start = time.perf_counter()
    for seq in range(count):
        packets = speak(sender.client, f"{seq:032d}")
        expected_oks += len(packets)
        group.expect(fans)
        sent_at = time.perf_counter()
        link.send(packets)
        await asyncio.wait_for(group.done.wait(), max(0.001, deadline - time.monotonic()))
        reach_us.append((group.last_at - sent_at) * 1e6)
    await sender.until_oks(base_oks + expected_oks, deadline)
    elapsed = time.perf_counter() - start
    cpu = target.cpu() - cpu0
    deliveries = fans * count
    return {
        "mode": target.mode,
        "deliveries_per_s": deliveries / elapsed,
        "host_cpu_us_per_delivery": cpu * 1e6 / deliveries,
        "host_cpu_share": cpu / elapsed,
        "reach_all_us": reach_us,
    }


# --- entry point -------------------------------------------------------------------

Scenario = Callable[[Job, Identity, Path], Coroutine[Any, Any, list[Round]]]
SCENARIOS: dict[str, Scenario] = {
    "handshake": handshake,
    "relay": relay,
    "latency": latency,
    "fanout": fanout,
}


async def run_job(job: Job) -> list[Round]:
    config_dir = Path(job["config_dir"])
    identity = load_identity(config_dir)
    scenario = SCENARIOS[job["scenario"]]
    return await asyncio.wait_for(scenario(job, identity, config_dir), job["time_limit"])


def main() -> int:
    job: Job = json.loads(sys.stdin.read())
    if job.get("pin", False):
        pin(0, LOAD_CPU)
    started = time.perf_counter()
    rounds = asyncio.run(run_job(job))
    summary = {"rounds": rounds, "wall_s": time.perf_counter() - started}
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
