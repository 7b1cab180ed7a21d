"""The workload shapes run against the anchor servers, each the one ``bench/loadgen.py``
runs against severus (see bench/README.md): relay (two clients, pipelined), fan-out to N
one message at a time and pipelined, latency (A to B, one at a time, one clock), connect
(TLS, register, join, then quit) and idle memory per client. The server's CPU is read
from /proc around each measured phase, and every wait is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from bench.anchor_clients import Client, Tally, close_all, open_clients, quiet
from bench.common import process_cpu_seconds, process_rss_kib

WAIT = 60.0  # the longest any one phase may wait for the server
SETTLE = 0.15  # after a phase, before reading the server's CPU
Round = dict[str, Any]


async def relay(
    kind: str, port: int, pid: int, messages: int, window: int, rounds: int
) -> list[Round]:
    """Host CPU per message, one sender to one receiver, at most ``window`` in flight."""
    tally = Tally()
    pair = [Client(kind, port, tally), Client(kind, port, tally)]  # the sender gets none
    try:
        await pair[0].open("relaya", "#relay")
        await pair[1].open("relayb", "#relay")
        results: list[Round] = []
        for index in range(rounds + 1):  # round 0 warms up
            size = max(100, messages // 20) if index == 0 else messages
            result = await _relay_round(pair[0], tally, pid, size, window)
            if index:
                results.append(result)
        return results
    finally:
        await close_all(pair)


async def _relay_round(sender: Client, tally: Tally, pid: int, count: int, window: int) -> Round:
    data = sender.message("#relay")
    base = tally.total
    deadline = time.monotonic() + WAIT
    cpu0 = process_cpu_seconds(pid)
    start = time.perf_counter()
    sent = 0
    while sent < count:
        batch = min(window - (sent - (tally.total - base)), count - sent)
        if batch > 0:
            await sender.send(data, batch)
            sent += batch
        if sent < count:  # refill once half the window has arrived
            await tally.until(base + sent - window // 2, deadline)
    await tally.until(base + count, deadline)
    elapsed = tally.last_at - start
    await asyncio.sleep(SETTLE)  # the server has nothing more to do for these messages
    cpu = process_cpu_seconds(pid) - cpu0
    return {
        "relay_us_per_msg": cpu * 1e6 / count,
        "relay_msgs_per_s": count / elapsed,
        "relay_busy_pct": 100 * cpu / elapsed,
    }


async def fanout(
    kind: str,
    port: int,
    pid: int,
    fans: int,
    messages: int,
    piped: int,
    window: int,
    rounds: int,
    parallel: int = 4,
) -> list[Round]:
    """One sender and ``fans`` receivers in one channel: per round, ``messages`` one at a
    time, then ``piped`` messages pipelined (at most ``window`` ahead of any receiver)."""
    tally = Tally()
    receivers = await open_clients(kind, port, "fan", "#fan", fans, tally, parallel)
    sender = Client(kind, port, tally)  # gets none of its own: the tally hears if it drops
    try:
        await sender.open("fansender", "#fan")
        await quiet(pid)  # the join notices have all gone out
        results: list[Round] = []
        for index in range(rounds + 1):  # round 0 warms up
            one = await _one_at_a_time(
                sender, tally, pid, fans, max(5, messages // 5) if index == 0 else messages
            )
            many = await _pipelined(
                sender, receivers, tally, pid, max(10, piped // 5) if index == 0 else piped, window
            )
            if index:
                results.append({**one, **many})
        return results
    finally:
        await close_all([*receivers, sender])


async def _one_at_a_time(sender: Client, tally: Tally, pid: int, fans: int, count: int) -> Round:
    data = sender.message("#fan")
    reach_us: list[float] = []
    base = tally.total
    deadline = time.monotonic() + WAIT
    cpu0 = process_cpu_seconds(pid)
    start = time.perf_counter()
    for seq in range(1, count + 1):
        sent_at = time.perf_counter()
        await sender.send(data)
        await tally.until(base + seq * fans, deadline)
        reach_us.append((tally.last_at - sent_at) * 1e6)
    elapsed = time.perf_counter() - start
    cpu = process_cpu_seconds(pid) - cpu0
    return {
        "fanout_us_per_delivery": cpu * 1e6 / (fans * count),
        "fanout_deliveries_per_s": fans * count / elapsed,
        "fanout_busy_pct": 100 * cpu / elapsed,
        "reach_us": reach_us,
    }


async def _pipelined(
    sender: Client, receivers: list[Client], tally: Tally, pid: int, count: int, window: int
) -> Round:
    """Bursts of ``window`` messages, written at once; the next once every receiver has
    all of them (InspIRCd 3 stalls on a sliding window: see bench/README.md)."""
    data = sender.message("#fan")
    fans = len(receivers)
    base = tally.total
    bases = [client.received for client in receivers]
    deadline = time.monotonic() + WAIT
    cpu0 = process_cpu_seconds(pid)
    start = time.perf_counter()
    sent = 0
    while sent < count:
        burst = min(window, count - sent)
        await sender.send(data, burst)
        sent += burst
        await tally.until(base + sent * fans, deadline)  # none can get more than was sent
    elapsed = tally.last_at - start
    cpu = process_cpu_seconds(pid) - cpu0
    wrong = [c.nick for c, b in zip(receivers, bases, strict=True) if c.received - b != count]
    if wrong:
        raise RuntimeError(f"{len(wrong)} receivers did not get exactly {count}: {wrong[:3]}")
    return {
        "pipelined_us_per_delivery": cpu * 1e6 / (fans * count),
        "pipelined_deliveries_per_s": fans * count / elapsed,
        "pipelined_busy_pct": 100 * cpu / elapsed,
    }


async def latency(kind: str, port: int, pid: int, messages: int, rounds: int) -> list[Round]:
    """One message at a time from A to B, both here: one clock."""
    tally = Tally()
    pair = [Client(kind, port, tally), Client(kind, port, tally)]  # the sender gets none
    try:
        await pair[0].open("lata", "#lat")
        await pair[1].open("latb", "#lat")
        data = pair[0].message("#lat")
        results: list[Round] = []
        for index in range(rounds + 1):  # round 0 warms up
            deadline = time.monotonic() + WAIT
            samples: list[float] = []
            for _ in range(max(10, messages // 10) if index == 0 else messages):
                base = tally.total
                start = time.perf_counter()
                await pair[0].send(data)
                await tally.until(base + 1, deadline)
                samples.append((tally.last_at - start) * 1e6)
            if index:
                results.append({"latency_us": samples})
        return results
    finally:
        await close_all(pair)


async def connect(
    kind: str, port: int, pid: int, connects: int, rounds: int, parallel: int = 1
) -> list[Round]:
    """TLS, register and join (IRC), then quit; one connection at a time, or ``parallel``
    at a time for a server that registers clients only once a second (InspIRCd 3)."""
    serial = itertools.count(1)
    semaphore = asyncio.Semaphore(parallel)

    async def one(times: list[float]) -> None:
        async with semaphore:
            client = Client(kind, port)
            start = time.perf_counter()
            try:
                await client.open(f"conn{next(serial)}", "#conn")
                times.append((time.perf_counter() - start) * 1000)
            finally:
                await client.close()

    results: list[Round] = []
    for index in range(rounds + 1):  # round 0 (a few connects) warms up
        size = 3 if index == 0 else connects
        times: list[float] = []
        cpu0 = process_cpu_seconds(pid)
        await asyncio.gather(*(one(times) for _ in range(size)))
        await asyncio.sleep(SETTLE)
        cpu = process_cpu_seconds(pid) - cpu0
        if index:
            results.append({"connect_cpu_ms": cpu * 1000 / size, "connect_ms": times})
    return results


async def memory(kind: str, port: int, pid: int, clients: int, parallel: int = 4) -> list[Round]:
    """Growth of the server's resident memory over connecting ``clients`` idle clients
    (registered and in one channel), per client; ``parallel`` connect at a time."""
    await close_all(await open_clients(kind, port, "warm", "#mem", 5, None, parallel))
    await quiet(pid)
    rss0 = process_rss_kib(pid)
    opened = await open_clients(kind, port, "mem", "#mem", clients, Tally(), parallel)
    try:
        await quiet(pid)
        return [{"memory_kib_per_client": (process_rss_kib(pid) - rss0) / clients}]
    finally:
        await close_all(opened)
