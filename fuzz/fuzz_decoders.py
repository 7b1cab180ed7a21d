"""Fuzz every decoder a peer or a file can reach: frames, the hop session, packets, the
host and client cores, end-to-end payloads, tickets, known_hosts, known_peers, invite
lists, durations, typed lines, the text sanitiser, and what a home router answers to a
port mapping request (NAT-PMP, PCP, SSDP, HTTP, device descriptions, SOAP) and the
route table that says where the router is.

With atheris (coverage-guided; ``pip install atheris``)::

    python fuzz/fuzz_decoders.py -max_total_time=300          # or -runs=1000000
    python fuzz/fuzz_decoders.py fuzz/corpus -max_total_time=3600

Without atheris, or with ``--plain``, the same targets run in a plain loop of random
and mutated inputs (no coverage feedback), taking ``-runs=N`` and ``-max_total_time=S``::

    python fuzz/fuzz_decoders.py --plain -runs=20000

A finding is any exception other than the refusals each decoder documents
(RemoteProtocolError, ConfigError, UsageError and its TicketError, PortmapError): those mean the
input was judged and refused, which is the point.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # the plain loop needs nothing more
    atheris = None

if atheris is not None and "--plain" not in sys.argv:
    with atheris.instrument_imports(include=["severus_cli"]):
        from severus_cli.core.client.core import ClientCore
        from severus_cli.core.e2e import wire
        from severus_cli.core.host import moderation
        from severus_cli.core.host.core import HostConfig, HostCore
        from severus_cli.core.nat.portmap import PortmapError, natpmp, pcp, upnp
        from severus_cli.core.trust import known_hosts, known_peers, ticket
        from severus_cli.core.wire import packets
        from severus_cli.core.wire.framing import FrameDecoder
        from severus_cli.core.wire.session import HopSession, Role
        from severus_cli.net import portmap_io
        from severus_cli.ui import input as typed
        from severus_cli.ui import sanitize
else:
    from severus_cli.core.client.core import ClientCore
    from severus_cli.core.e2e import wire
    from severus_cli.core.host import moderation
    from severus_cli.core.host.core import HostConfig, HostCore
    from severus_cli.core.nat.portmap import PortmapError, natpmp, pcp, upnp
    from severus_cli.core.trust import known_hosts, known_peers, ticket
    from severus_cli.core.wire import packets
    from severus_cli.core.wire.framing import FrameDecoder
    from severus_cli.core.wire.session import HopSession, Role
    from severus_cli.net import portmap_io
    from severus_cli.ui import input as typed
    from severus_cli.ui import sanitize

from severus_cli.errors import ConfigError, RemoteProtocolError, UsageError  # noqa: E402

REFUSALS = (RemoteProtocolError, ConfigError, UsageError, PortmapError)
NOW = 1_000_000.0
_SCRATCH = Path(tempfile.mkdtemp(prefix="severus-fuzz-"))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _chunks(data: bytes) -> list[bytes]:
    """Split ``data`` where its first byte says, so partial reads are exercised too."""
    if not data:
        return []
    step = 1 + data[0] % 64
    body = data[1:]
    return [body[i : i + step] for i in range(0, len(body), step)]


def _frames(data: bytes) -> None:
    decoder = FrameDecoder(1024 + (data[0] if data else 0) * 64)
    for chunk in _chunks(data):
        for frame in decoder.feed(chunk):
            assert len(frame) <= decoder.max_frame


def _session(data: bytes) -> None:
    session = HopSession(Role.RESPONDER, b"\x01" * 32, b"\x02" * 32, max_frame=4096)
    for chunk in _chunks(data):
        session.receive_data(chunk)


def _host_core(data: bytes) -> None:
    """Whatever a registered participant sends, the core answers and never raises."""
    core = HostCore(HostConfig(max_rooms=4), NOW)
    core.accept(1, NOW)
    core.authenticated(1, b"\x03" * 32, NOW)
    core.receive(1, packets.encode(packets.Hello("fuzz", "f", ())), NOW)
    for n, chunk in enumerate(data.split(b"\x00\xff")[:8]):
        actions = core.receive(1, chunk, NOW + n)
        assert isinstance(actions, list)


def _client_core(data: bytes) -> None:
    core = ClientCore("fuzz", NOW, static_private=b"\x04" * 32, static_public=b"\x05" * 32)
    welcome = packets.Welcome("fuzz", "host", (("fuzz", b"\x05" * 32), ("bob", b"\x06" * 32)))
    if data[:1] == b"w":
        core.receive(packets.encode(welcome), NOW)
    for chunk in data[1:].split(b"\x00\xff")[:8]:
        core.receive(chunk, NOW)


def _ticket_text(data: bytes) -> None:
    ticket.decode_ticket(_text(data))


def _ticket_record(data: bytes) -> None:
    """A record with a valid checksum, so the entry parser is reached."""
    record = b"\x01" + data
    record += hashlib.sha256(record).digest()[:4]
    text = "sev" + base64.b32encode(record).decode().rstrip("=").lower()
    found = ticket.decode_ticket(text)
    assert ticket.decode_ticket(ticket.encode_ticket(found)) == found


def _known_hosts(data: bytes) -> None:
    known_hosts.parse_known_hosts(data, Path("known_hosts.json"))


def _known_peers(data: bytes) -> None:
    (_SCRATCH / known_peers.FILE_NAME).write_bytes(data)
    peers = known_peers.KnownPeers(_SCRATCH, "127.0.0.1:3000")
    peers.check("bob", b"\x07" * 32)


def _allow_list(data: bytes) -> None:
    moderation.parse_allow_list(_text(data), Path("allow"))


def _moderation_words(data: bytes) -> None:
    text = _text(data)
    moderation.looks_like_duration(text)
    moderation.parse_duration(text)


def _typed_line(data: bytes) -> None:
    typed.parse_line(_text(data), reply_to="bob")


def _sanitise(data: bytes) -> None:
    shown = sanitize.literal(_text(data), multiline=bool(data[:1] == b"m"))
    assert "\x1b" not in shown and "\u202e" not in shown


def _ssdp(data: bytes) -> None:
    url = upnp.search_location(data, "10.0.1.1")
    assert url.host == "10.0.1.1" and 0 < url.port < 65536


def _http_soap(data: bytes) -> None:
    reply = upnp.parse_http(data)
    with contextlib.suppress(PortmapError):
        upnp.soap_result(reply, "NewExternalIPAddress")
    upnp.external_address(reply)


def _route_table(data: bytes) -> None:
    (_SCRATCH / "route").write_bytes(data)
    gateway = portmap_io.default_gateway(_SCRATCH / "route")
    assert gateway is None or gateway.count(".") == 3


def _description(data: bytes) -> None:
    url, _ = upnp.control_url(_text(data), upnp.Url("10.0.1.1", 5000, "/"))
    assert url.host == "10.0.1.1" and url.path.startswith("/")


TARGETS: tuple[Callable[[bytes], object], ...] = (
    _frames,
    _session,
    lambda d: packets.decode_from_client(d),
    lambda d: packets.decode_from_host(d),
    _host_core,
    _client_core,
    lambda d: wire.decode_sealed(d),
    lambda d: wire.decode_body(d),
    lambda d: wire.decode_pairwise(d),
    _ticket_text,
    _ticket_record,
    _known_hosts,
    _known_peers,
    _allow_list,
    _moderation_words,
    lambda d: moderation.parse_target(_text(d)),
    _typed_line,
    _sanitise,
    lambda d: natpmp.decode(d),
    lambda d: pcp.decode(d),
    _ssdp,
    _http_soap,
    _description,
    _route_table,
)


def one_input(data: bytes) -> None:
    """Feed ``data[1:]`` to the target ``data[0]`` picks; refusals are fine."""
    if not data:
        return
    target = TARGETS[data[0] % len(TARGETS)]
    with contextlib.suppress(*REFUSALS):
        target(data[1:])


PCP_MAPPED = bytes.fromhex(  # header, nonce, UDP 4000 -> 4000, external ::ffff:192.0.3.10
    "0281000000000e1000000000"
    + "00" * 12
    + "00" * 12
    + "110000000fa00fa0"
    + "00" * 10
    + "ffffc000030a"
)


def seeds() -> list[bytes]:
    """Valid inputs to mutate in the plain loop."""
    hello = packets.encode(packets.Hello("bob", "severus/0.1", ("rust",)))
    welcome = packets.encode(packets.Welcome("fuzz", "ana", (("fuzz", b"\x05" * 32),)))
    seal = packets.encode(packets.Seal(7, "lobby", b"\x00" * 40))
    good_ticket = ticket.encode_ticket(
        ticket.Ticket(b"\x01" * 32, b"\x02" * 32, (ticket.Endpoint("tcp", "127.0.0.1", 3000),))
    )
    hosts = (
        b'{"version": 1, "hosts": {"127.0.0.1:3000": {"key": "SHA256:'
        + b"A" * 43
        + b'", "cert": null, "first_seen": "2026-01-01T00:00:00Z",'
        b' "last_seen": "2026-01-01T00:00:00Z"}}}'
    )
    body = wire.encode_body(wire.ChatBody("hello"))
    return [
        bytes([2]) + hello,
        bytes([2]) + seal,
        bytes([3]) + welcome,
        bytes([4]) + seal,
        bytes([5]) + b"w" + welcome,
        bytes([7]) + body,
        bytes([9]) + good_ticket.encode(),
        bytes([10]) + b"\x00" * 64 + b"\x03\x06\x7f\x00\x00\x01\x0b\xb8",
        bytes([11]) + hosts,
        bytes([12]) + b'{"version": 1, "hosts": {"h": {"bob": {"key": "k"}}}}',
        bytes([13]) + b"SHA256:" + b"A" * 43 + b" bob\n# c\n",
        bytes([14]) + b"1h30m",
        bytes([16]) + b"/ban bob 2h spam",
        bytes([17]) + "bidi \u202e \x1b]0;x\x07 [b]x[/b]".encode(),
        bytes([18]) + bytes.fromhex("008200000000aaaa0fa00fa10000012c"),
        bytes([19]) + PCP_MAPPED,
        bytes([20]) + b"HTTP/1.1 200 OK\r\nLOCATION: http://10.0.1.1:5000/rootDesc.xml\r\n\r\n",
        bytes([21]) + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"34\r\n<NewExternalIPAddress>1.2.3.4</NewExternalIPAddress>\r\n0\r\n\r\n",
        bytes([21]) + b"HTTP/1.1 500 x\r\nContent-Length: 26\r\n\r\n<errorCode>718</errorCode>",
        bytes([22]) + b"<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1"
        b"</serviceType><controlURL>/ctl/IPConn</controlURL></service>",
        bytes([23]) + b"Iface\tDestination\tGateway\tFlags\neth0\t00000000\t0101000A\t0003\n",
    ]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        at = rng.randrange(len(buf) + 1)
        if choice < 0.4 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif choice < 0.6:
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif choice < 0.8 and len(buf) > 1:
            del buf[at : at + rng.randint(1, 16)]
        else:
            buf[at:at] = rng.choice((b"\xff\xff", b"\x00", b"\xc1", b"\xdf\xff\xff\xff\xff"))
    return bytes(buf)


def plain_loop(runs: int = 10_000, max_time: float = 0.0, seed: int | None = None) -> int:
    """Random and mutated inputs for every target; the number of inputs tried."""
    rng = random.Random(seed)
    corpus = seeds()
    started = time.monotonic()
    done = 0
    while done < runs and not (max_time and time.monotonic() - started > max_time):
        if rng.random() < 0.3:
            data = bytes([rng.randrange(len(TARGETS))]) + rng.randbytes(rng.randint(0, 300))
        else:
            data = _mutate(rng.choice(corpus), rng)
        one_input(data)
        done += 1
    return done


def _flag(name: str, default: float) -> float:
    for arg in sys.argv[1:]:
        if arg.startswith(f"-{name}="):
            return float(arg.split("=", 1)[1])
    return default


def main() -> None:
    if atheris is None or "--plain" in sys.argv:
        runs = int(_flag("runs", 10_000))
        count = plain_loop(runs, _flag("max_total_time", 0.0), seed=int.from_bytes(os.urandom(4)))
        why = "--plain" if atheris is not None else "atheris is not installed"
        print(f"plain random-input loop ({why}): {count} inputs, no finding")
        return
    atheris.Setup([arg for arg in sys.argv if arg != "--plain"], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
