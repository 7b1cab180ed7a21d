"""Talking to the home router over sockets, for ``runtime.portmap``: where it is, one
UDP question with retransmissions (PCP, NAT-PMP), one bounded HTTP exchange (UPnP).

Every reply is bounded in size and time; a reply from anyone but the router is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from severus_cli.core.nat.portmap import PortmapError, natpmp, pcp, upnp

PMP_TRIES = (0.0, 0.25, 0.75)  # send times of PCP / NAT-PMP requests; give up at 1.2 s
PMP_GIVE_UP = 1.2
ROUTE_TABLE = Path("/proc/net/route")


def default_gateway(table: Path = ROUTE_TABLE) -> str | None:
    """The IPv4 default gateway from the kernel's route table (Linux); None if none."""
    try:
        lines = table.read_text("ascii", "replace")[:65536].splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[1] != "00000000":
            continue
        gateway, flags = _hex(fields[2]), _hex(fields[3])
        if gateway is not None and flags is not None and flags & 2:  # RTF_GATEWAY
            return socket.inet_ntoa(struct.pack("<I", gateway))
    return None


def _hex(field: str) -> int | None:
    """A route table number: up to eight hex digits (int() also takes "0x", "_", "٣")."""
    return int(field, 16) if re.fullmatch(r"[0-9A-Fa-f]{1,8}", field) else None


def local_address_towards(gateway: str) -> str:
    """Our own address on the LAN the gateway is on (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((gateway, natpmp.PORT))
        return str(sock.getsockname()[0])


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, str] | OSError] = asyncio.Queue(maxsize=64)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((data, str(addr[0])))

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(exc)


async def ask_udp(
    gateway: str, port: int, request: bytes, accept: Callable[[bytes], object | None]
) -> object | None:
    """Send ``request`` to the router's port 5351 on the PMP_TRIES schedule; the first
    reply ``accept`` takes (from the gateway only), or None when nobody answers.
    PortmapError from ``accept`` (a malformed reply) is only remembered: the next reply
    may be the real one."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        Datagrams, remote_addr=(gateway, port)
    )
    start = loop.time()
    try:
        for index in range(len(PMP_TRIES)):
            transport.sendto(request)
            until = PMP_TRIES[index + 1] if index + 1 < len(PMP_TRIES) else PMP_GIVE_UP
            while (left := start + until - loop.time()) > 0:
                try:
                    got = await asyncio.wait_for(protocol.queue.get(), left)
                except TimeoutError:
                    break
                if isinstance(got, OSError):
                    return None  # "port unreachable": nothing listens there
                data, sender = got
                if sender != gateway:
                    continue
                try:
                    value = accept(data)
                except pcp.SpeaksNatPmp:
                    raise
                except PortmapError:
                    continue
                if value is not None:
                    return value
        return None
    finally:
        transport.close()


async def http(url: upnp.Url, request: bytes, timeout: float = 1.0) -> upnp.HttpReply:
    """One HTTP exchange, bounded in time and size."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(url.host, url.port)
        try:
            writer.write(request)
            data = await reader.read(upnp.MAX_HTTP + 1)
            while data and len(data) <= upnp.MAX_HTTP and (more := await reader.read(4096)):
                data += more
        finally:
            writer.close()
    return upnp.parse_http(data)
