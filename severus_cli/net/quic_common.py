"""What the QUIC host and client share: timers, reading queued datagrams in a batch,
two reads of aioquic's state, and keeping aioquic's own log lines off the screen.

aioquic logs a warning for every malformed packet that reaches a connection
("Error: 10, reason: Packet contains no CRYPTO frame"). Severus configures no logging,
so Python's last-resort handler prints such warnings to stderr, that is over the chat
prompt, once per packet a stranger chooses to send. They say nothing a person can act
on, so the library's loggers get a handler that drops everything and never pass
records on; importing this module (every QUIC path does) is enough.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aioquic.quic.connection import QuicConnection

from severus_cli.errors import HostUnreachable

IDLE_TIMEOUT = 30.0
CLOSE_GRACE = 1.0  # time for a final error packet to arrive before the connection closes
LIBRARY_LOGGERS = ("quic", "http3")  # the names aioquic logs under
BATCH = 64  # datagrams handled per loop turn, at most
RECEIVE_SIZE = 65536  # no UDP payload is larger


def quiet_library_logs() -> None:
    """Send aioquic's log records nowhere (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = False
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


quiet_library_logs()


def drain(
    receive: Callable[[int], tuple[bytes, Any]],
    deliver: Callable[[bytes, Any], None],
    failed: Callable[[Exception], None],
    limit: int = BATCH - 1,
) -> None:
    """Hand on up to ``limit`` datagrams already queued on a non-blocking socket
    (``receive`` is its ``recvfrom``), as its asyncio transport would one per turn.

    asyncio reads one datagram per loop turn and aioquic answers each at once; read in
    a batch, the answers to many share packets, acknowledgements and timers. Errors go
    to ``failed`` as the transport reports them (an ICMP "port unreachable" on a
    connected socket)."""
    for _ in range(limit):
        try:
            data, addr = receive(RECEIVE_SIZE)
        except (BlockingIOError, InterruptedError):
            return  # nothing more queued
        except OSError as error:
            failed(error)
            return
        deliver(data, addr)


def unacked_bytes(quic: QuicConnection, stream_id: int) -> int:
    """Bytes written to a stream that the peer has not acknowledged yet: aioquic keeps
    them all, so a peer that stops reading (or acknowledging) would grow this forever.
    Reads aioquic internals (checked by a test); 0 if their shape ever changes."""
    stream = getattr(quic, "_streams", {}).get(stream_id)
    buffer = getattr(getattr(stream, "sender", None), "_buffer", None)
    return len(buffer) if isinstance(buffer, bytearray) else 0


def stream_delivered(quic: QuicConnection, stream_id: int) -> bool:
    """Whether the peer acknowledged everything written to a stream, its end included
    (aioquic forgets a stream once both directions are done: that counts as delivered).
    Reads aioquic internals, like :func:`unacked_bytes`."""
    stream = getattr(quic, "_streams", {}).get(stream_id)
    if stream is None:
        return True
    return bool(getattr(getattr(stream, "sender", None), "is_finished", True))


def quic_channel_binding(quic: QuicConnection) -> bytes:
    """The channel binding of a QUIC connection whose handshake completed: the TLS
    transcript hash through the client's Finished, the same on both ends.

    aioquic exposes no TLS exporter; the transcript covers both ephemeral key shares,
    so no two TLS handshakes share it, and the Noise handshake bound to it cannot be
    relayed into another connection (PROTOCOL.md, section 3).
    """
    schedule = getattr(quic.tls, "key_schedule", None)
    if schedule is None:
        raise HostUnreachable("the QUIC handshake is not complete")
    digest: bytes = schedule.hash.copy().finalize()
    return digest
