"""Load generator: clients of a running ``severus host``, driven through the project's
own client code (open_link, ClientLink, ClientCore, packets; see bench/clients.py).

Run by the benchmark runner as ``python -m bench.loadgen`` with a JSON job on stdin;
it prints one JSON object with per-round results on stdout. Every loop is bounded in
count and in time. The host's CPU is read from /proc/<pid>/stat right at the edges of
each measured phase, which only this process knows precisely.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.clients import (
    WAIT_TIMEOUT,
    Client,
    Closer,
    Crowd,
    Group,
    Reader,
    Target,
    close_client,
    close_pairs,
    connect,
    connect_many,
    enter_room,
    open_pairs,
    quiet,
    settle,
    speak,
)
from bench.common import LOAD_CPU, pin, process_rss_kib
from severus_cli.core.trust.identity import Identity, load_identity
from severus_cli.core.wire import packets as p

SETTLE = {"direct": 0.15, "quic": 1.3}  # the QUIC host closes a connection 1 s after FIN
RELAY_TEXT = "x" * 32

Job = dict[str, Any]
Round = dict[str, Any]


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
    # At most ``window`` in flight, counted by the acks and by the receiver's copies
    # both (as the anchors count their receivers): a host faster than this process can
    # read would otherwise fill the receiver's backlog until it cut the receiver off.
    extra = total - count  # packets that are not room messages (keys, if any)
    while sent < total:
        done = min(sender.oks - base_oks, receiver.msgs - base_msgs + extra)
        batch = min(window - (sent - done), total - sent)
        if batch > 0:
            link.send(packets[sent : sent + batch])
            sent += batch
            await link.drain()
        if sent < total:  # refill once half the window is acknowledged and received
            await sender.until_oks(base_oks + sent - window // 2, deadline)
            await receiver.until_msgs(base_msgs + sent - extra - window // 2, deadline)
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
    """F receivers and one sender in the lobby. Each round sends ``messages`` one at a
    time, then ``piped_messages`` pipelined in bursts of ``window``."""
    targets = [Target(**t) for t in job["targets"]]
    rounds: int = job["rounds"]
    count: int = job["messages"]
    piped: int = job.get("piped_messages", 0)
    window: int = job.get("window", 32)
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
            for index in range(rounds + 1):  # round 0 warms up
                size = max(5, count // 5) if index == 0 else count
                result = await _fanout_round(target, sender, group, fans, size)
                if piped:
                    size = max(10, piped // 5) if index == 0 else piped
                    result |= await _piped_round(target, sender, readers[:-1], group, size, window)
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


async def _piped_round(
    target: Target, sender: Reader, receivers: list[Reader], group: Group, count: int, window: int
) -> Round:
    """``count`` messages in bursts of ``window``, written at once; the next burst once
    the host has acknowledged every message of this one and every receiver has them all,
    so no queue grows without bound. Receivers count the ``sealed`` packets they get."""
    sealed = [speak(sender.client, f"{seq:032d}") for seq in range(count)]  # before the clock
    fans = len(receivers)
    deadline = time.monotonic() + WAIT_TIMEOUT * 4
    base_oks, base_total = sender.oks, group.total
    bases = [reader.msgs for reader in receivers]
    link = sender.client.link
    sender.feed = False  # only count the acks
    cpu0 = target.cpu()
    start = time.perf_counter()
    sent = acks = 0
    while sent < count:
        burst = sealed[sent : sent + window]
        link.send([packet for packets in burst for packet in packets])
        await link.drain()
        sent += len(burst)
        acks += sum(len(packets) for packets in burst)
        await sender.until_oks(base_oks + acks, deadline)
        await group.until_total(base_total + sent * fans, deadline)  # none gets more than sent
    elapsed = group.last_at - start
    cpu = target.cpu() - cpu0
    sender.feed = True
    wrong = [r.client.nick for r, b in zip(receivers, bases, strict=True) if r.msgs - b != count]
    if wrong:
        raise RuntimeError(f"{len(wrong)} receivers did not get exactly {count}: {wrong[:3]}")
    deliveries = fans * count
    return {
        "piped_deliveries_per_s": deliveries / elapsed,
        "piped_host_cpu_us_per_delivery": cpu * 1e6 / deliveries,
        "piped_host_cpu_share": cpu / elapsed,
    }


# --- memory ------------------------------------------------------------------------


async def memory(job: Job, identity: Identity, config_dir: Path) -> list[Round]:
    """Growth of the host's resident memory over connecting ``clients`` idle clients (in
    the lobby, their links read), per client; a few connect and leave first."""
    targets = [Target(**t) for t in job["targets"]]
    count: int = job["clients"]
    parallel: int = job.get("parallel", 4)
    results: list[Round] = []
    for target in targets:
        crowd = Crowd(identity, config_dir, target)
        try:
            await crowd.join([f"memwarm{i}" for i in range(5)], parallel)
            await crowd.close()
            await quiet(target)
            rss0 = process_rss_kib(target.pid)
            start = time.perf_counter()
            await crowd.join([f"mem{i}" for i in range(count)], parallel)
            connect_wall = time.perf_counter() - start
            await quiet(target)
            grown = process_rss_kib(target.pid) - rss0
            results.append(
                {
                    "mode": target.mode,
                    "host_rss_kib_per_client": grown / count,
                    "connect_wall_s": connect_wall,
                }
            )
        finally:
            await crowd.close()
    return results


# --- entry point -------------------------------------------------------------------

Scenario = Callable[[Job, Identity, Path], Coroutine[Any, Any, list[Round]]]
SCENARIOS: dict[str, Scenario] = {
    "handshake": handshake,
    "relay": relay,
    "latency": latency,
    "fanout": fanout,
    "memory": memory,
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
