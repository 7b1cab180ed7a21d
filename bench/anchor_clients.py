"""Clients of the anchor servers (bench/anchor_servers.py) for the shapes in
bench/anchor_shapes.py.

They speak IRC (``NICK``/``USER``, then ``JOIN`` one channel, ``PRIVMSG`` to it) or, for
the ceiling, 2-byte length-prefixed frames, over TLS; they only count what arrives.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

from bench.common import process_cpu_seconds

TEXT = b"x" * 32
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
RECORD_BYTES = 1900  # plaintext per TLS record a sender writes (ngIRCd reads 2048)


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


CONTEXT = _context()


class Tally:
    """Messages received by a group of clients; wakes a waiter at a target."""

    def __init__(self) -> None:
        self.total = 0
        self.last_at = 0.0  # perf_counter() of the latest arrival
        self.error = ""
        self._target = 0
        self._event = asyncio.Event()

    def add(self, count: int, now: float) -> None:
        self.total += count
        self.last_at = now
        if self.total >= self._target:
            self._event.set()

    def fail(self, reason: str) -> None:
        self.error = self.error or reason
        self._event.set()

    async def until(self, target: int, deadline: float) -> None:
        while self.total < target:
            if self.error:
                raise RuntimeError(self.error)
            self._target = target
            self._event.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.total} of {target} messages arrived in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)


class Client:
    """A TLS client of an anchor; counts the messages it receives into ``tally``."""

    def __init__(self, kind: str, port: int, tally: Tally | None = None) -> None:
        self.kind = kind
        self.port = port
        self.tally = tally
        self.received = 0
        self.nick = ""
        self.closing = False
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, nick: str, channel: str) -> None:
        """TLS; for IRC also register and join ``channel`` (done at its 366 reply)."""
        self.nick = nick
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port, ssl=CONTEXT, server_hostname=""),
            OPEN_TIMEOUT,
        )
        self.reader, self.writer = reader, writer
        if self.kind == "irc":  # JOIN once registered: InspIRCd ignores it before 001
            writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
            await asyncio.wait_for(self._until(b" 001 "), OPEN_TIMEOUT)
            writer.write(f"JOIN {channel}\r\n".encode())
            await asyncio.wait_for(self._until(b" 366 "), OPEN_TIMEOUT)
        self.task = asyncio.create_task(self._count())

    async def _until(self, marker: bytes) -> None:
        assert self.reader is not None
        seen = b""
        while marker not in seen:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError(f"{self.nick}: the server closed the connection")
            seen = seen[-200:] + chunk

    async def _count(self) -> None:
        assert self.reader is not None
        buffer = b""
        reason = "the server closed the connection"
        try:
            while chunk := await self.reader.read(65536):
                now = time.perf_counter()
                buffer += chunk
                if self.kind == "irc":
                    end = buffer.rfind(b"\r\n")
                    if end < 0:
                        continue
                    complete, buffer = buffer[:end], buffer[end + 2 :]
                    got = complete.count(b" PRIVMSG ")
                    if complete.startswith(b"PING ") or b"\nPING " in complete:
                        self._pong(complete)
                else:
                    got, start = 0, 0
                    while len(buffer) - start >= 2:
                        size = int.from_bytes(buffer[start : start + 2], "big")
                        if len(buffer) - start < 2 + size:
                            break
                        start += 2 + size
                        got += 1
                    buffer = buffer[start:]
                if got:
                    self.received += got
                    if self.tally is not None:
                        self.tally.add(got, now)
        except (OSError, ssl.SSLError, EOFError) as error:
            reason = f"{type(error).__name__}: {error}"
        if not self.closing and self.tally is not None:
            self.tally.fail(f"{self.nick}: {reason}")

    def _pong(self, lines: bytes) -> None:
        assert self.writer is not None
        for line in lines.split(b"\r\n"):
            if line.startswith(b"PING "):
                self.writer.write(b"PONG " + line[5:] + b"\r\n")

    def message(self, channel: str) -> bytes:
        if self.kind == "irc":
            return b"PRIVMSG " + channel.encode() + b" :" + TEXT + b"\r\n"
        return len(TEXT).to_bytes(2, "big") + TEXT

    async def send(self, message: bytes, count: int = 1) -> None:
        """``count`` copies of ``message``, at most RECORD_BYTES of them per TLS record:
        ngIRCd reads 2 KiB per TLS record and waits for the socket before it reads the
        rest of a bigger one, which has already left the socket, so it would stall."""
        assert self.writer is not None
        per = max(1, RECORD_BYTES // len(message))
        while count > 0:
            self.writer.write(message * min(per, count))  # one record per write
            count -= per
        await self.writer.drain()

    async def close(self) -> None:
        """IRC: QUIT and wait for the server to close; frames: close the TLS session."""
        self.closing = True
        with contextlib.suppress(Exception):
            if self.writer is not None and self.kind == "irc" and self.task is not None:
                self.writer.write(b"QUIT :bye\r\n")
                await asyncio.wait_for(asyncio.shield(self.task), CLOSE_TIMEOUT)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), CLOSE_TIMEOUT)


async def open_clients(
    kind: str, port: int, prefix: str, channel: str, count: int, tally: Tally | None, parallel: int
) -> list[Client]:
    """``count`` clients in ``channel``, ``parallel`` connecting at a time."""
    clients = [Client(kind, port, tally) for _ in range(count)]
    semaphore = asyncio.Semaphore(parallel)

    async def one(number: int) -> None:
        async with semaphore:
            await clients[number].open(f"{prefix}{number}", channel)

    try:
        await asyncio.gather(*(one(number) for number in range(count)))
    except BaseException:
        await close_all(clients)
        raise
    return clients


async def close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


async def quiet(pid: int, limit: float = 10.0) -> None:
    """Until the server's CPU stops moving for 0.2 s (at most ``limit`` s)."""
    deadline = time.monotonic() + limit
    last = process_cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = process_cpu_seconds(pid)
        if now == last:
            return
        last = now
