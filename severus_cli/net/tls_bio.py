"""TLS for the host's TCP connections, run over memory BIOs inside our own Protocol.

asyncio's own TLS transport keeps a 256 KiB read buffer per connection, which makes an
idle participant cost ~290 KiB of host memory; here each connection holds only the
SSLObject and two small BIOs. Writes made during one event-loop turn are encrypted and
sent together (one TLS record batch, one system call) at the end of the turn, which is
what makes fanning one message out to many participants cheap. One callback per turn
flushes every connection written to (:class:`TurnFlusher`), not one per connection.
Reading stops once the input BIO and OpenSSL hold nothing more, instead of at the
SSLWantReadError a further read raises: making that exception costs about 4 µs, more
than decrypting a record, and a host reads for every message it relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from collections.abc import Callable

READ_CHUNK = 16384  # TLS records are at most 16 KiB of plaintext
WRITE_SLICE = 4096  # plaintext per SSL write: what each connection's output BIO may hold


class TurnFlusher:
    """The connections written to during this event-loop turn, flushed at its end.

    A broadcast to N participants schedules one callback instead of N (each
    ``call_soon`` allocates a handle and copies the context).
    """

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[TlsConnection] = []
        self._scheduled = False

    def add(self, connection: TlsConnection) -> None:
        self._dirty.append(connection)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _run(self) -> None:
        dirty, self._dirty = self._dirty, []
        self._scheduled = False
        for connection in dirty:
            connection.flush()


_FLUSHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnFlusher] = (
    weakref.WeakKeyDictionary()
)


def turn_flusher(loop: asyncio.AbstractEventLoop) -> TurnFlusher:
    """The one :class:`TurnFlusher` of ``loop``."""
    flusher = _FLUSHERS.get(loop)
    if flusher is None:
        flusher = _FLUSHERS[loop] = TurnFlusher(loop)
    return flusher


class TlsConnection:
    """Server-side TLS on a raw transport; plaintext goes to ``on_data``."""

    __slots__ = (
        "_closing",
        "_flusher",
        "_in",
        "_on_data",
        "_on_ready",
        "_out",
        "_pending",
        "_pending_size",
        "_raw",
        "_ready",
        "_scheduled",
        "_ssl",
        "_unsent",
        "failure",
    )

    def __init__(
        self,
        raw: asyncio.Transport,
        context: ssl.SSLContext,
        on_ready: Callable[[], None],
        on_data: Callable[[bytes], None],
    ) -> None:
        self._raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._in, self._out, server_side=True)
        self._on_ready = on_ready
        self._on_data = on_data
        self._ready = False
        self._closing = False
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._scheduled = False
        self._unsent = 0  # the transport's buffer after the last flush: an upper bound
        self._flusher = turn_flusher(asyncio.get_running_loop())
        self.failure: str | None = None

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def binding(self) -> bytes:
        """The channel binding of this TLS connection, once it is ready."""
        from severus_cli.net.tls import channel_binding

        return channel_binding(self._ssl)

    def data_received(self, data: bytes | memoryview) -> None:
        """Ciphertext from the network (copied: ``data`` may be a reused buffer)."""
        self._in.write(data)
        if not self._ready:
            self._handshake()
            if not self._ready:
                return
        self._read()

    def _handshake(self) -> None:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._send_out()
            return
        except (ssl.SSLError, OSError) as error:
            self.failure = f"TLS handshake failed: {getattr(error, 'reason', None) or error}"
            self._send_out()
            self._raw.abort()
            return
        self._send_out()
        self._ready = True
        self._on_ready()

    def _read(self) -> None:
        while True:
            try:
                chunk = self._ssl.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.close()
                break
            except (ssl.SSLError, OSError) as error:
                self.failure = f"TLS error: {getattr(error, 'reason', None) or error}"
                self._raw.abort()
                break
            if not chunk:  # the peer's close_notify
                self.close()
                break
            self._on_data(chunk)
            if not self._in.pending and not self._ssl.pending():
                break  # all read: asking again would only raise SSLWantReadError
        self._send_out()  # TLS may have something to say (key updates, alerts)

    def write(self, data: bytes) -> None:
        """Queue plaintext; it is encrypted and sent at the end of this loop turn."""
        if self._closing or not self._ready:
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if not self._scheduled:
            self._scheduled = True
            self._flusher.add(self)

    def flush(self) -> None:
        self._scheduled = False
        pending, self._pending, self._pending_size = self._pending, [], 0
        if not pending or self._raw.is_closing():
            return
        data = b"".join(pending) if len(pending) > 1 else pending[0]
        try:
            if len(data) <= WRITE_SLICE:
                self._ssl.write(data)
                ciphertext = self._out.read()
            else:
                # A memory BIO keeps the largest buffer it ever held until the connection
                # ends, so a big flush (a long roster, a burst of notices) is encrypted a
                # slice at a time: each connection then holds at most a slice's
                # ciphertext, not its peak.
                view = memoryview(data)
                parts = []
                for start in range(0, len(data), WRITE_SLICE):
                    self._ssl.write(view[start : start + WRITE_SLICE])
                    parts.append(self._out.read())
                ciphertext = b"".join(parts)
        except (ssl.SSLError, OSError):
            self._raw.abort()
            return
        self._raw.write(ciphertext)
        self._unsent = self._raw.get_write_buffer_size()

    def _send_out(self) -> None:
        if self._out.pending:
            raw = self._raw
            raw.write(self._out.read())
            self._unsent = raw.get_write_buffer_size()

    def over(self, limit: int) -> bool:
        """True when more than ``limit`` bytes wait: not yet encrypted, plus encrypted
        but not yet sent. Cheap enough to ask after every write: the transport's
        buffer only shrinks between flushes, so it is read again only near the limit."""
        if self._pending_size + self._unsent <= limit:
            return False
        self._unsent = self._raw.get_write_buffer_size()
        return self._pending_size + self._unsent > limit

    def close(self) -> None:
        """Send what is queued and a close_notify, then close the socket."""
        if self._closing:
            return
        self.flush()
        self._closing = True
        if self._ready:
            with contextlib.suppress(ssl.SSLError, OSError):
                self._ssl.unwrap()
            self._send_out()
        self._raw.close()
