"""Anchors: the same workloads against a ceiling forwarder and a real IRC server (ngIRCd,
TLS), with severus's own figures from the same run, and the ratios.

- ceiling: ``bench/ceiling.py``, an asyncio TLS frame forwarder with no Noise, no
  msgpack, no checks: the limit of this stack;
- ngIRCd: from Debian (``apt-get install -y ngircd``), limits lifted, TLS, clients in
  one channel;
- severus: ``python -m bench --only relay,fanout --json`` run in the middle.

Host CPU per message (2-client relay) and per delivery (fan-out to N) are what compare:
a Python load generator caps the raw rates. Run: ``python -m bench.anchors [--quick]
[--json]``. Anchors that are not installed are skipped with a reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import HOST_CPU, LOAD_CPU, can_pin, median, pin, process_cpu_seconds

TEXT = b"x" * 32
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Counter:
    """Messages received by a group of clients; wakes a waiter at a target."""

    def __init__(self) -> None:
        self.count = 0
        self.base = 0  # count when the current phase began
        self.target = 0
        self.reached = asyncio.Event()

    def add(self, n: int) -> None:
        self.count += n
        if self.count >= self.target:
            self.reached.set()

    async def wait_for(self, target: int, timeout: float = 30.0) -> None:
        self.target = target
        if self.count >= target:
            return
        self.reached.clear()
        await asyncio.wait_for(self.reached.wait(), timeout)


class Client:
    """A TLS client of either anchor; counts the messages it receives."""

    def __init__(self, kind: str, port: int, counter: Counter | None) -> None:
        self.kind = kind
        self.port = port
        self.counter = counter
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, nick: str) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=_client_context(), server_hostname=""
        )
        if self.kind == "irc":
            self.writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #b\r\n".encode())
            await self._until(b" 366 ")  # end of the channel's names: joined
        self.task = asyncio.create_task(self._count())

    async def _until(self, marker: bytes) -> None:
        assert self.reader is not None
        seen = b""
        while marker not in seen:
            chunk = await asyncio.wait_for(self.reader.read(65536), 10)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            seen = seen[-200:] + chunk

    async def _count(self) -> None:
        assert self.reader is not None
        buffer = b""
        while chunk := await self.reader.read(65536):
            buffer += chunk
            if self.kind == "irc":
                *lines, buffer = buffer.split(b"\r\n")
                got = sum(1 for line in lines if b" PRIVMSG " in line)
            else:
                got = 0
                while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
                    buffer = buffer[2 + int.from_bytes(buffer[:2], "big") :]
                    got += 1
            if got and self.counter is not None:
                self.counter.add(got)

    def message(self) -> bytes:
        if self.kind == "irc":
            return b"PRIVMSG #b :" + TEXT + b"\r\n"
        return len(TEXT).to_bytes(2, "big") + TEXT

    async def send(self, count: int, echo: Counter | None = None, window: int = 32) -> None:
        """Send ``count`` messages, at most ``window`` ahead of what ``echo`` has seen
        arrive (IRC servers drop a client whose input buffer overflows)."""
        assert self.writer is not None
        data = self.message()
        sent = 0
        while sent < count:
            batch = min(window, count - sent)
            self.writer.write(data * batch)
            await self.writer.drain()
            sent += batch
            if echo is not None:
                await echo.wait_for(echo.base + sent - window // 2 if sent > window else 0)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()


async def relay(kind: str, port: int, pid: int, messages: int) -> float:
    """Host CPU µs per message, one sender to one receiver."""
    counter = Counter()
    sender, receiver = Client(kind, port, None), Client(kind, port, counter)
    await sender.open("relaya")
    await receiver.open("relayb")
    try:
        before = process_cpu_seconds(pid)
        await sender.send(messages, counter)
        await counter.wait_for(messages, 60)
        return (process_cpu_seconds(pid) - before) / messages * 1e6
    finally:
        sender.close()
        receiver.close()


async def fanout(kind: str, port: int, pid: int, clients: int, messages: int) -> float:
    """Host CPU µs per delivery, one sender to ``clients`` receivers, one at a time."""
    counter = Counter()
    receivers = [Client(kind, port, counter) for _ in range(clients)]
    for number, client in enumerate(receivers):
        await client.open(f"fan{number}")
    sender = Client(kind, port, None)
    await sender.open("fansender")
    try:
        before = process_cpu_seconds(pid)
        for sent in range(1, messages + 1):
            await sender.send(1)
            await counter.wait_for(sent * clients, 30)
        return (process_cpu_seconds(pid) - before) / (messages * clients) * 1e6
    finally:
        sender.close()
        for client in receivers:
            client.close()


def _start(
    argv: list[str], ready: Callable[[], bool], timeout: float = 30.0
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{argv[0]} did not start")
        time.sleep(0.05)
    if can_pin():
        pin(proc.pid, HOST_CPU)
    return proc


def _listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        return False

    return check


def _ngircd_conf(folder: Path, port: int, cert: Path, key: Path) -> Path:
    conf = folder / "ngircd.conf"
    conf.write_text(
        "[Global]\nName = bench.local\nInfo = bench\nListen = 127.0.0.1\n"
        f"Ports = {_free_port()}\n"
        "[Limits]\nMaxConnections = 0\nMaxConnectionsIP = 0\nMaxJoins = 0\n"
        "MaxPenaltyTime = 0\nMaxNickLength = 30\nPingTimeout = 600\nPongTimeout = 600\n"
        "[Options]\nIdent = no\nPAM = no\nDNS = no\n"
        f"[SSL]\nCertFile = {cert}\nKeyFile = {key}\nPorts = {port}\n"
    )
    return conf


async def _measure(kind: str, port: int, pid: int, quick: bool) -> dict[str, float]:
    rounds = 2 if quick else 3
    relay_runs = [await relay(kind, port, pid, 2000 if quick else 20000) for _ in range(rounds)]
    fan_runs = [
        await fanout(kind, port, pid, 50 if quick else 200, 50 if quick else 200)
        for _ in range(rounds)
    ]
    return {"relay_us_per_message": median(relay_runs), "fanout_us_per_delivery": median(fan_runs)}


def _severus(quick: bool) -> dict[str, float]:
    argv = [sys.executable, "-m", "bench", "--only", "relay,fanout", "--json"]
    done = subprocess.run(
        [*argv, "--quick"] if quick else argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=True,
    )
    scenarios = json.loads(done.stdout)["scenarios"]

    def metric(scenario: str, needle: str) -> float:
        for value in scenarios[scenario]["metrics"].values():
            if isinstance(value, dict) and value.get("label") == needle:
                return float(value.get("direct") or 0.0)
        raise RuntimeError(f"bench reported no {needle!r} for {scenario}")

    return {
        "relay_us_per_message": metric("relay", "host CPU per message"),
        "fanout_us_per_delivery": metric("fanout", "host CPU per delivery"),
    }


def run(quick: bool) -> dict[str, Any]:
    if can_pin():
        pin(0, LOAD_CPU)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="severus-anchors-") as tmp:
        folder = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "severus_cli", "keygen", "--config-dir", str(folder / "id")],
            check=True,
            capture_output=True,
        )
        cert, key = folder / "id" / "tls.crt", folder / "id" / "tls.key"
        anchors: list[tuple[str, str, Callable[[int], list[str]] | None]] = [
            (
                "ceiling",
                "frames",
                lambda p: [sys.executable, "-m", "bench.ceiling", str(p), str(cert), str(key)],
            ),
        ]
        ngircd = shutil.which("ngircd")
        if ngircd:
            anchors.append(
                (
                    "ngircd",
                    "irc",
                    lambda p: [ngircd, "-n", "-f", str(_ngircd_conf(folder, p, cert, key))],
                )
            )
        else:
            results["ngircd"] = {"skipped": "ngircd is not installed (apt-get install -y ngircd)"}
        for name, kind, argv in anchors:
            assert argv is not None
            port = _free_port()
            proc = _start(argv(port), _listening(port))
            try:
                results[name] = asyncio.run(_measure(kind, port, proc.pid, quick))
            finally:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
                proc.kill()
    results["severus"] = _severus(quick)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="severus against a ceiling and ngIRCd")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.quick)
    if args.json:
        print(json.dumps({"anchors": results}))
        return
    from rich.console import Console
    from rich.table import Table

    ours = results["severus"]
    table = Table(title="Host CPU, same workloads, one run (µs, medians)")
    for column in ("server", "relay / message", "ratio", "fan-out / delivery", "ratio"):
        table.add_column(column, justify="right")
    for name, row in results.items():
        if "skipped" in row:
            table.add_row(name, row["skipped"], "", "", "")
            continue
        relay_us, fan_us = row["relay_us_per_message"], row["fanout_us_per_delivery"]
        table.add_row(
            name,
            f"{relay_us:.1f}",
            f"{ours['relay_us_per_message'] / relay_us:.2f}x" if relay_us else "",
            f"{fan_us:.2f}",
            f"{ours['fanout_us_per_delivery'] / fan_us:.2f}x" if fan_us else "",
        )
    Console().print(table)
    Console().print("ratio: severus divided by that server (1.00x = as cheap)")


if __name__ == "__main__":
    main()
