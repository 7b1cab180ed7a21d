"""The one host loop: every transport hands its connections to :class:`HostLoop`.

A transport calls :meth:`HostLoop.open` when a connection is ready, :meth:`feed` with
bytes, and :meth:`lost` when it ends; the loop runs the Noise hop session and the
sans-IO :class:`HostCore`, and writes back through the connection's :class:`Link`.
The host's own participant is attached with :meth:`attach_local` and exchanges
packets in-process, with no transport at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from severus_cli.core.host.core import Action as HostAction
from severus_cli.core.host.core import AdminResult, Broadcast, Close, HostCore, Log, Send
from severus_cli.core.wire.framing import encode_frame
from severus_cli.core.wire.session import (
    HandshakeComplete,
    HopSession,
    Payload,
    Role,
    SessionEvent,
    join_psk,
)
from severus_cli.errors import RemoteProtocolError


class Link(Protocol):
    """What the host loop needs from one connection of any transport."""

    peer: str

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


@dataclass(eq=False, slots=True)
class Channel:
    link: Link
    session: HopSession | None  # None: the in-process host participant
    closing: bool = False


@dataclass(slots=True)
class Traffic:
    """Byte counters for /stats."""

    bytes_in: int = 0
    bytes_out: int = 0


class HostLoop:
    def __init__(
        self,
        core: HostCore,
        static_private: bytes,
        cert_hash: bytes,
        log: Callable[[str], None] = lambda text: None,
        clock: Callable[[], float] = time.time,
        trace: Callable[[bytes], None] | None = None,
        secret: bytes | None = None,
    ) -> None:
        """``secret``: the join secret; without it a peer's first handshake message fails."""
        self.core = core
        self.traffic = Traffic()
        self._static = static_private
        self._cert_hash = cert_hash
        self._log = log
        self._clock = clock
        self._channels: dict[int, Channel] = {}
        self._next_conn = 1
        self._trace = trace  # sees every packet the host handles
        self._psk = join_psk(secret, cert_hash) if secret is not None else None

    @property
    def connection_count(self) -> int:
        return len(self._channels)

    # --- transports call these ---------------------------------------------------

    def open(self, link: Link, waited: float = 0.0, binding: bytes = b"", source: str = "") -> int:
        """A transport connection (TLS already up) is ready for the hop handshake.

        ``waited``: seconds since the connection arrived (its TLS handshake), which
        count against the same handshake timeout as the Noise handshake and hello.
        ``binding``: the TLS connection's channel binding, which the handshake binds.
        ``source``: the address (or IPv6 /64) it came from, whose registrations the core
        limits (PROTOCOL.md 4.3).
        """
        conn = self._new_conn()
        session = HopSession(
            Role.RESPONDER,
            self._static,
            self._cert_hash,
            max_frame=self.core.config.max_frame,
            psk=self._psk,
            binding=binding,
        )
        self._channels[conn] = Channel(link, session)
        self.core.accept(conn, self._clock() - waited, source)
        return conn

    def attach_local(self, deliver: Callable[[bytes], None], key: bytes) -> int:
        """Attach the host's own participant; ``deliver`` receives packets for it."""
        conn = self._new_conn()
        self._channels[conn] = Channel(_LocalLink(deliver), None)
        now = self._clock()
        self.core.accept(conn, now)
        self._apply(self.core.authenticated(conn, key, now, local=True))
        return conn

    def local_packet(self, conn: int, payload: bytes) -> None:
        """A packet from the host's own participant."""
        if self._trace is not None:
            self._trace(payload)
        if conn in self._channels:
            self._apply(self.core.receive(conn, payload, self._clock()))

    def feed(self, conn: int, data: bytes) -> None:
        """Bytes arrived on ``conn``.

        Whatever they do, only ``conn`` may suffer: even an unexpected exception (a bug
        a hostile peer found) closes that connection, with a line in the host's log,
        instead of escaping into the event loop (where a chat screen would stop to show it).
        """
        channel = self._channels.get(conn)
        if channel is None or channel.closing or channel.session is None:
            return
        try:
            self._feed(conn, channel, channel.session, data)
        except Exception as error:  # contain it to the peer that caused it
            self._log(f"closing {channel.link.peer} after an internal error: {error!r:.200}")
            self._close(conn, "internal error")

    def _feed(self, conn: int, channel: Channel, session: HopSession, data: bytes) -> None:
        self.traffic.bytes_in += len(data)
        now = self._clock()
        events: list[SessionEvent] = []
        packets: list[bytes] = []
        handshaking = not session.established
        try:
            if handshaking:
                events = session.receive_data(data)
            else:
                packets = session.receive_packets(data)
        except RemoteProtocolError as error:
            if session.can_send:
                self._apply(self.core.protocol_error(conn, error))
            else:
                self._close(conn, error.message)
            return
        for event in events:  # the handshake, and whatever came in the same chunk
            if isinstance(event, Payload):
                packets.append(event.data)
            elif isinstance(event, HandshakeComplete):
                self._apply(self.core.authenticated(conn, event.static_key, now))
                if channel.closing:
                    return
        receive, trace = self.core.receive, self._trace
        for packet in packets:
            if trace is not None:
                trace(packet)
            self._apply(receive(conn, packet, now))
            if channel.closing:
                return
        if handshaking:  # once open, the session has nothing of its own to send
            self._flush(channel)

    def lost(self, conn: int, reason: str = "") -> None:
        """The transport closed ``conn``."""
        channel = self._channels.pop(conn, None)
        if channel is not None:
            self._apply(self.core.closed(conn, self._clock(), reason or "connection lost"))

    def tick(self) -> None:
        self._apply(self.core.tick(self._clock()))

    async def run_timers(self, interval: float = 0.5) -> None:
        """Drive timeouts until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.tick()

    def admin(self, command: Callable[[HostCore, float], AdminResult]) -> AdminResult:
        """Run a moderation command (``HostCore.kick`` ...) now and carry it out."""
        result = command(self.core, self._clock())
        self._apply(list(result.actions))
        return result

    def shutdown(self, reason: str = "the host is shutting down") -> None:
        for conn in list(self._channels):
            self._close(conn, reason)

    # --- applying the core's decisions ---------------------------------------------

    def _new_conn(self) -> int:
        conn = self._next_conn
        self._next_conn += 1
        return conn

    def _apply(self, actions: list[HostAction]) -> None:
        for action in actions:
            if isinstance(action, Send):  # the commonest first: an ok per message
                self._send_one(action.conn, action.data)
            elif isinstance(action, Broadcast):
                self._send(action.conns, action.data)
            elif isinstance(action, Close):
                self._close(action.conn, action.reason)
            elif isinstance(action, Log):
                self._log(action.text)

    def _send_one(self, conn: int, data: bytes) -> None:
        """:meth:`_send` to one connection: an ``ok`` for every message relayed."""
        if self._trace is not None:
            self._trace(data)
        channel = self._channels.get(conn)
        if channel is None or channel.closing:
            return
        session = channel.session
        if session is None:
            channel.link.write(data)
        elif session.can_send:
            frame = encode_frame(data)
            channel.link.write(frame)
            self.traffic.bytes_out += len(frame)

    def _send(self, conns: tuple[int, ...], data: bytes) -> None:
        """Frame ``data`` once and write the same bytes to every open session in ``conns``:
        a hop adds nothing per recipient (the transport's TLS does its own work)."""
        if self._trace is not None:
            self._trace(data)
        frame = encode_frame(data)
        channels = self._channels
        sent = 0
        for conn in conns:
            channel = channels.get(conn)
            if channel is None or channel.closing:
                continue
            session = channel.session
            if session is None:
                channel.link.write(data)  # the in-process participant takes packets
            elif session.can_send:  # otherwise the handshake never finished: nothing to say
                channel.link.write(frame)
                sent += 1
        self.traffic.bytes_out += sent * len(frame)

    def _flush(self, channel: Channel) -> None:
        if channel.session is not None:
            data = channel.session.data_to_send()
            if data:
                self.traffic.bytes_out += len(data)
                channel.link.write(data)

    def _close(self, conn: int, reason: str) -> None:
        channel = self._channels.get(conn)
        if channel is None or channel.closing:
            return
        self._flush(channel)
        channel.closing = True
        self._log(f"closing {channel.link.peer}: {reason}")
        channel.link.close()
        self.lost(conn, reason)


class _LocalLink:
    """The in-process host participant's end: packets go straight to its client core."""

    peer = "local"

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self._deliver = deliver

    def write(self, data: bytes) -> None:
        """Deliver on the next loop turn: the remote copies of a broadcast go out first,
        and the participant's own work (decrypting, drawing) never delays them."""
        try:
            asyncio.get_running_loop().call_soon(self._deliver, data)
        except RuntimeError:  # no loop (unit tests drive the host loop synchronously)
            self._deliver(data)

    def close(self) -> None:
        pass
