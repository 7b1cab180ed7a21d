"""``severus relay`` on the network: the asyncio adapter around :class:`RelayCore`.

TCP port P: each connection is counted against the per-address cap *before* TLS
starts (so a flood of half-open handshakes is bounded too), then TLS 1.3 with the
relay's own certificate and a Noise hop session, exactly as a host's. Once the core
splices two connections, bytes are copied between them unread, with backpressure and
the optional bandwidth cap. UDP port P answers STUN Binding Requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import cast

from severus_cli.core.nat.relay import Close, Note, Pacer, RelayAction, RelayCore, SendTo, Splice
from severus_cli.core.nat.relay_packets import Address
from severus_cli.core.nat.stun import answer_binding
from severus_cli.core.wire.session import HandshakeComplete, HopSession, Payload, Role
from severus_cli.errors import SeverusError
from severus_cli.net.tls_bio import TlsConnection

HIGH_WATER = 256 * 1024  # bytes queued towards one end before the other end is paused
Trace = Callable[[bytes], None]


class RelayServer:
    def __init__(
        self,
        core: RelayCore,
        static_private: bytes,
        cert_hash: bytes,
        context: ssl.SSLContext,
        log: Callable[[str], None],
        trace: Trace | None = None,
    ) -> None:
        self.core = core
        self._static = static_private
        self._cert_hash = cert_hash
        self._context = context
        self._log = log
        self._trace = trace
        self._conns: dict[int, RelayConnection] = {}
        self._next = 1
        self._servers: list[asyncio.AbstractServer] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._timers: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self, bind: str | None, port: int) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: RelayConnection(self), host=bind, port=port, reuse_address=True
        )
        self._servers.append(server)
        self.port = server.sockets[0].getsockname()[1]
        udp_bind = bind or "::"
        try:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _StunResponder(self.core), local_addr=(udp_bind, self.port)
            )
        except OSError:
            if bind is not None:
                raise
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _StunResponder(self.core), local_addr=("0.0.0.0", self.port)
            )
        self._timers = asyncio.create_task(self._tick())

    def close(self) -> None:
        if self._timers is not None:
            self._timers.cancel()
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()
        for conn in list(self._conns.values()):
            conn.abort()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            self.apply(self.core.tick(loop.time()))

    # --- connections report here --------------------------------------------------------

    def opened(self, conn: RelayConnection, ip: str) -> int | None:
        ident = self._next
        self._next += 1
        actions = self.core.open(ident, ip, asyncio.get_running_loop().time())
        if actions:
            self.apply(actions)
            return None
        self._conns[ident] = conn
        return ident

    def new_session(self, binding: bytes) -> HopSession:
        return HopSession(Role.RESPONDER, self._static, self._cert_hash, binding=binding)

    def authenticated(self, ident: int, key: bytes) -> None:
        self.apply(self.core.authenticated(ident, key, asyncio.get_running_loop().time()))

    def packet(self, ident: int, payload: bytes) -> None:
        if self._trace is not None:
            self._trace(payload)
        self.apply(self.core.receive(ident, payload, asyncio.get_running_loop().time()))

    def forwarded(self, data: bytes) -> None:
        if self._trace is not None:
            self._trace(data)

    def lost(self, ident: int) -> None:
        if self._conns.pop(ident, None) is not None:
            self.apply(self.core.closed(ident, asyncio.get_running_loop().time()))

    @property
    def tls_context(self) -> ssl.SSLContext:
        return self._context

    # --- carrying out the core's decisions ---------------------------------------------

    def apply(self, actions: list[RelayAction]) -> None:
        for action in actions:
            if isinstance(action, SendTo):
                conn = self._conns.get(action.conn)
                if conn is not None:
                    conn.send_packet(action.data)
            elif isinstance(action, Close):
                conn = self._conns.get(action.conn)
                if conn is not None:
                    conn.close()
            elif isinstance(action, Splice):
                a, b = self._conns.get(action.a), self._conns.get(action.b)
                if a is not None and b is not None:
                    now = asyncio.get_running_loop().time()
                    a.splice(b, Pacer(self.core.config.bandwidth, now))
                    b.splice(a, Pacer(self.core.config.bandwidth, now))
            elif isinstance(action, Note):
                self._log(action.text)


class RelayConnection(asyncio.Protocol):
    """One TCP connection: TLS (over memory BIOs, as the host's), then a hop session,
    then maybe a pipe.

    TLS runs inside this protocol from the first byte rather than through
    ``loop.start_tls()`` from a task: uvloop starts reading as soon as
    ``connection_made`` returns, so a ClientHello that is already there would reach
    ``data_received`` before ``start_tls()`` took the transport over, and the
    handshake would hang.
    """

    def __init__(self, server: RelayServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._tls: TlsConnection | None = None
        self._ident: int | None = None
        self._session: HopSession | None = None
        self._partner: RelayConnection | None = None
        self._pacer: Pacer | None = None
        self._pace_timer: asyncio.TimerHandle | None = None
        self._holds: set[str] = set()
        self._gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not isinstance(): uvloop's transports do not derive from asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        address = transport.get_extra_info("peername")
        ip = _plain_ip(address[0]) if address else "?"
        self._ident = self._server.opened(self, ip)
        if self._ident is None:
            transport.abort()
            return
        with contextlib.suppress(OSError):
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=HIGH_WATER)
        # The core closes a connection still without a hop session after its handshake
        # timeout, which bounds the TLS handshake too.
        self._tls = TlsConnection(
            transport, self._server.tls_context, self._tls_ready, self._plaintext
        )

    def _tls_ready(self) -> None:
        binding = self._tls.binding if self._tls is not None else b""
        self._session = self._server.new_session(binding)

    def data_received(self, data: bytes) -> None:
        if self._tls is not None and not self._gone:
            self._tls.data_received(data)

    def _plaintext(self, data: bytes) -> None:
        partner = self._partner
        if partner is not None:
            self._forward(partner, data)
            return
        session, ident = self._session, self._ident
        if session is None or ident is None or self._gone:
            return
        try:
            events = session.receive_data(data)
        except SeverusError:
            self.close()
            return
        self._flush()
        for event in events:
            if isinstance(event, HandshakeComplete):
                self._server.authenticated(ident, event.static_key)
            elif isinstance(event, Payload):
                self._server.packet(ident, event.data)
            if self._gone or self._partner is not None:
                return  # bytes after a splice belong to the pipe; a client must wait

    def _forward(self, partner: RelayConnection, data: bytes) -> None:
        self._server.forwarded(data)
        partner.write_raw(data)
        if self._pacer is not None:
            loop = asyncio.get_running_loop()
            delay = self._pacer.charge(len(data), loop.time())
            if delay > 0:
                # One read brings several TLS records: the last delay (the whole debt)
                # replaces the earlier ones, whose timers would resume reading too soon.
                self.hold("pace")
                if self._pace_timer is not None:
                    self._pace_timer.cancel()
                self._pace_timer = loop.call_later(delay, self.release, "pace")

    # --- the server calls these ---------------------------------------------------------

    def send_packet(self, payload: bytes) -> None:
        if self._session is not None and self._session.can_send and not self._gone:
            self._session.send(payload)
            self._flush()

    def _flush(self) -> None:
        if self._session is not None:
            data = self._session.data_to_send()
            if data:
                self.write_raw(data)

    def splice(self, partner: RelayConnection, pacer: Pacer) -> None:
        self._partner = partner
        self._pacer = pacer

    def write_raw(self, data: bytes) -> None:
        """Send ``data`` inside this connection's TLS (sent at the end of the loop turn)."""
        transport = self._transport
        if self._tls is not None and transport is not None and not transport.is_closing():
            self._tls.write(data)

    def hold(self, reason: str) -> None:
        self._holds.add(reason)
        if self._transport is not None and not self._transport.is_closing():
            with contextlib.suppress(RuntimeError):
                self._transport.pause_reading()

    def release(self, reason: str) -> None:
        self._holds.discard(reason)
        if not self._holds and self._transport is not None and not self._transport.is_closing():
            with contextlib.suppress(RuntimeError):
                self._transport.resume_reading()

    def pause_writing(self) -> None:
        if self._partner is not None:  # we cannot send as fast as the other end reads
            self._partner.hold("backpressure")

    def resume_writing(self) -> None:
        if self._partner is not None:
            self._partner.release("backpressure")

    def close(self) -> None:
        """Send what is queued and a TLS close_notify, then close."""
        if self._transport is not None and not self._transport.is_closing():
            if self._tls is not None:
                self._tls.close()
            else:
                self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def _lost(self) -> None:
        if not self._gone:
            self._gone = True
            if self._ident is not None:
                self._server.lost(self._ident)


class _StunResponder(asyncio.DatagramProtocol):
    """Answers Binding Requests with the source address seen; drops everything else."""

    def __init__(self, core: RelayCore) -> None:
        self._core = core
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        source: Address = (_plain_ip(str(addr[0])), int(addr[1]))
        now = asyncio.get_running_loop().time()
        if self._transport is None or not self._core.stun_allowed(source[0], now):
            return
        answer = answer_binding(data, source)
        if answer is not None:
            self._transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error about an earlier answer: nothing to do


def _plain_ip(host: str) -> str:
    """``::ffff:1.2.3.4`` from a dual-stack socket is the IPv4 address it maps."""
    return host.removeprefix("::ffff:") if host.startswith("::ffff:") and "." in host else host
