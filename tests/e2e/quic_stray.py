"""Stray datagrams for a QUIC host: junk, and one packet aioquic complains about.

The complaint is the interesting one: a client that answers the host's Retry (so
its address is validated and the host creates a connection) with an Initial that
carries no CRYPTO frame. aioquic logs "Error: 10, reason: Packet contains no CRYPTO
frame" at WARNING and closes that connection; with nothing catching its log, the
line lands on the host's terminal. Only loopback is touched.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from aioquic._buffer import Buffer
from aioquic.quic.crypto import CryptoPair
from aioquic.quic.packet import QuicFrameType, QuicPacketType, pull_quic_header
from aioquic.quic.packet_builder import QuicPacketBuilder

from tests.e2e.quic_spoof import RETRY_MASK, initial

CID_LENGTH = 8  # aioquic's default: the host's connection IDs


def junk(port: int, count: int = 20) -> None:
    """Random datagrams, short and full-size, with and without a long header."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index in range(count):
            size = 1200 if index % 2 else 40
            data = bytearray(os.urandom(size))
            if index % 4 < 2:
                data[0] |= 0xC0  # long header, fixed bit: looks like a handshake packet
            sock.sendto(bytes(data), ("127.0.0.1", port))


def udp_ports(pid: int) -> list[int]:
    """The local ports of the IPv4 and IPv6 UDP sockets process ``pid`` holds (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(2048)
    except TimeoutError:
        raise AssertionError("the host did not answer within the deadline") from None


def initial_without_crypto(port: int, deadline: float = 20.0) -> bytes:
    """Pass the host's Retry, then send an Initial holding only a PING; return the
    host's answer (its CONNECTION_CLOSE), which proves it handled the packet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(deadline)
        sock.connect(("127.0.0.1", port))
        sock.send(initial(port))
        retry = _recv(sock)
        assert retry[0] & RETRY_MASK == RETRY_MASK, retry[:1]
        header = pull_quic_header(Buffer(data=retry), host_cid_length=CID_LENGTH)
        assert header.version is not None
        crypto = CryptoPair()
        crypto.setup_initial(cid=header.source_cid, is_client=True, version=header.version)
        builder = QuicPacketBuilder(
            host_cid=header.destination_cid,
            peer_cid=header.source_cid,
            version=header.version,
            is_client=True,
            max_datagram_size=1200,
            peer_token=header.token,
        )
        builder.start_packet(QuicPacketType.INITIAL, crypto)
        builder.start_frame(QuicFrameType.PING)
        datagrams, _ = builder.flush()
        packet = datagrams[0]
        assert len(packet) >= 1200, len(packet)  # the host ignores shorter Initials
        sock.send(packet)
        return _recv(sock)
