"""A client's end of a relay hop session, sans-IO: Noise frames in, relay packets out.

Unlike the chat's session it stops reading at ``spliced``: every byte after that frame
belongs to the other end of the relayed pipe (the participant's or the host's TLS),
so it is handed back untouched as :attr:`RelayLink.leftover` instead of being parsed.
"""

from __future__ import annotations

import ipaddress

from severus_cli.core.nat.relay_packets import Spliced, decode_from_relay
from severus_cli.core.wire.framing import HEADER_SIZE
from severus_cli.core.wire.packets import Packet, encode
from severus_cli.core.wire.session import HopSession, Payload, PeerIdentity, Role
from severus_cli.errors import LocalProtocolError, RemoteProtocolError


class RelayLink:
    """The initiator of a hop session with a relay."""

    def __init__(
        self,
        static_private: bytes,
        cert_hash: bytes,
        expected_key: bytes | None = None,
        binding: bytes = b"",
    ) -> None:
        self._session = HopSession(Role.INITIATOR, static_private, cert_hash, binding=binding)
        self._buffer = bytearray()
        self._expected = expected_key
        self.relay_key: bytes | None = None
        self.spliced = False
        self.leftover = b""

    @property
    def established(self) -> bool:
        return self._session.established

    def data_to_send(self) -> bytes:
        return self._session.data_to_send()

    def send(self, packet: Packet) -> None:
        self._session.send(encode(packet))

    def receive_data(self, data: bytes) -> list[Packet]:
        """Feed bytes from the relay; return the packets they completed, up to and
        including ``spliced``."""
        if self.spliced:
            raise LocalProtocolError("the link is spliced: its bytes are not ours to read")
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        while len(buffer) >= HEADER_SIZE and not self.spliced:
            end = HEADER_SIZE + int.from_bytes(buffer[:HEADER_SIZE], "big")
            if len(buffer) < end:
                break
            frame = bytes(buffer[:end])
            del buffer[:end]
            for event in self._session.receive_data(frame):
                if isinstance(event, PeerIdentity):
                    self._trust(event.static_key)
                elif isinstance(event, Payload):
                    packet = decode_from_relay(event.data)
                    packets.append(packet)
                    if isinstance(packet, Spliced):
                        self.spliced = True
                        self.leftover = bytes(buffer)
                        buffer.clear()
        return packets

    def _trust(self, key: bytes) -> None:
        """The relay is outside the trust boundary (it only ever carries ciphertext);
        a pinned relay key is checked when one is given."""
        if self._expected is not None and key != self._expected:
            raise RemoteProtocolError("the relay presented an unexpected key", "bad_handshake")
        self.relay_key = key
        self._session.proceed()


DEFAULT_RELAY_PORT = 3340


def parse_hostport(text: str, default_port: int = DEFAULT_RELAY_PORT) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ValueError if malformed."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"not HOST:PORT: {text!r}")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
        if ":" in host:  # only a bare IPv6 address may have several colons
            ipaddress.IPv6Address(host)
    if not host or any(c.isspace() for c in host) or len(host) > 253:
        raise ValueError(f"not HOST:PORT: {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port in {text!r}")
    return host, int(port_text)
