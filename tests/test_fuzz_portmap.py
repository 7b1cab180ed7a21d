"""Property-based fuzzing of what a home router (or anyone on the LAN) can send us:
NAT-PMP and PCP replies, SSDP answers, HTTP answers, device descriptions and SOAP
results. Random bytes rarely get past a decoder's first check, so most inputs here are
valid replies with fields drawn at random, then cut or mutated. Every decoder either
returns a value within bounds or raises PortmapError: never another exception. The
kernel's route table, where the router is found, gives a gateway or None."""

from __future__ import annotations

import contextlib
import ipaddress
import struct
import tempfile
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from severus_cli.core.nat.portmap import PortmapError, natpmp, pcp, upnp
from severus_cli.net.portmap_io import default_gateway

BASE = upnp.Url("10.0.1.1", 5000, "/rootDesc.xml")
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def mutated(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """``data`` cut to ``cut`` bytes (when shorter), with bytes overwritten."""
    buf = bytearray(data[:cut] if cut < len(data) else data)
    for at, value in flips:
        if buf:
            buf[at % len(buf)] = value
    return bytes(buf)


cuts = st.integers(0, 1200)
flips = st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=3)


@st.composite
def natpmp_replies(draw: st.DrawFn) -> bytes:
    op = draw(st.sampled_from([128, 129, 130, 131, 0, 1, 255]))
    head = struct.pack("!BBHI", draw(st.sampled_from([0, 0, 1, 2])), op, draw(u16), draw(u32))
    if op == 128:
        body = draw(st.binary(min_size=4, max_size=4))
    else:
        body = struct.pack("!HHI", draw(u16), draw(u16), draw(u32))
    return mutated(head + body, draw(cuts), draw(flips))


@st.composite
def pcp_replies(draw: st.DrawFn) -> bytes:
    head = struct.pack(
        "!BBxBII", draw(st.sampled_from([2, 2, 0, 1])), draw(st.sampled_from([0x81, 0x82, 1])),
        draw(st.integers(0, 255)), draw(u32), draw(u32),
    ) + bytes(12)  # fmt: skip
    body = draw(st.binary(min_size=12, max_size=12)) + struct.pack(
        "!B3xHH", draw(st.sampled_from([6, 17, 0, 99])), draw(u16), draw(u16)
    )
    external = draw(st.sampled_from([bytes(10) + b"\xff\xff", bytes(12)])) + draw(
        st.binary(min_size=4, max_size=4)
    )
    options = draw(st.binary(max_size=64))
    return mutated(head + body + external + options, draw(cuts), draw(flips))


@given(natpmp_replies())
@example(bytes.fromhex("008000000000aaaac0000a0a"))
def test_natpmp_decode_on_router_like_replies(data: bytes) -> None:
    with contextlib.suppress(PortmapError):
        reply = natpmp.decode(data)
        assert 0 <= reply.port < 65536 and 0 <= reply.internal_port < 65536
        assert reply.result == 0 or reply.external is None


@given(pcp_replies())
def test_pcp_decode_on_router_like_replies(data: bytes) -> None:
    with contextlib.suppress(PortmapError):
        reply = pcp.decode(data)
        assert 0 <= reply.port < 65536
        assert reply.result != 0 or (reply.protocol in ("tcp", "udp") and reply.external)


header_values = st.sampled_from(
    ["5", "0", "99999999999999999999", "-1", "\xb2", "\u0661", " 7", "chunked", "x", ""]
)


@st.composite
def http_answers(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from(["200 OK", "500 Internal Server Error", "404 x", "2000 x"]))
    headers = draw(
        st.lists(
            st.tuples(st.sampled_from(["Content-Length", "Transfer-Encoding", "Location", "X"]),
                      header_values),
            max_size=3,
        )
    )  # fmt: skip
    lines = [f"HTTP/1.{draw(st.sampled_from([0, 1, 2]))} {status}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if draw(st.booleans()):
        sizes = draw(st.lists(st.sampled_from(["3", "0", "ffffffff", "\xb2", "z", "2;x"]),
                              max_size=3))  # fmt: skip
        body = "".join(f"{size}\r\nabc\r\n" for size in sizes)
    else:
        body = draw(soap_bodies())
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1", "replace")
    return mutated(raw, draw(st.integers(0, 4000)), draw(flips))


element_text = st.sampled_from(
    ["718", "\xb2", "\u0661\u0662", "99999", "", "192.0.3.10", "::1", "&amp;", "x" * 600]
) | st.text(max_size=20)


@st.composite
def soap_bodies(draw: st.DrawFn) -> str:
    names = ["errorCode", "errorDescription", "NewExternalIPAddress", "u:errorCode"]
    parts = [f"<{n}>{draw(element_text)}</{n}>" for n in draw(st.lists(st.sampled_from(names),
                                                                       max_size=3))]  # fmt: skip
    return "<s:Envelope><s:Body>" + "".join(parts) + "</s:Body></s:Envelope>"


@given(http_answers())
@example(b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nabc")  # a superscript "digit"
def test_http_and_soap_decoders_on_router_like_answers(data: bytes) -> None:
    with contextlib.suppress(PortmapError):
        reply = upnp.parse_http(data)
        assert 100 <= reply.status <= 999
        with contextlib.suppress(PortmapError):
            upnp.soap_result(reply, "NewExternalIPAddress")
        with contextlib.suppress(PortmapError):
            upnp.external_address(reply)


@given(st.integers(100, 999), soap_bodies())
@example(500, "<errorCode>\xb2</errorCode>")
def test_soap_faults_give_a_soap_fault_or_a_portmap_error(status: int, body: str) -> None:
    with contextlib.suppress(PortmapError):
        upnp.soap_result(upnp.HttpReply(status, {}, body), "NewExternalIPAddress")


@st.composite
def ssdp_answers(draw: st.DrawFn) -> tuple[bytes, str]:
    location = draw(
        st.sampled_from(["http://10.0.1.1:5000/rootDesc.xml", "http://10.0.1.1:99999/",
                         "http://10.0.1.1:\u0661/", "http://999.1.1.1/", "http://10.0.1.1",
                         "https://10.0.1.1/", "http://10.0.1.1:0/x"])
        | st.text(max_size=40)
    )  # fmt: skip
    text = f"HTTP/1.1 200 OK\r\nST: {upnp.IGD}\r\nLOCATION: {location}\r\n\r\n"
    data = mutated(text.encode("utf-8"), draw(st.integers(0, 3000)), draw(flips))
    return data, draw(st.sampled_from(["10.0.1.1", "10.0.1.66"]))


@given(ssdp_answers())
def test_ssdp_answers_point_at_the_sender_or_are_refused(answer: tuple[bytes, str]) -> None:
    data, sender = answer
    with contextlib.suppress(PortmapError):
        url = upnp.search_location(data, sender)
        assert url.host == sender and 0 < url.port < 65536


@st.composite
def descriptions(draw: st.DrawFn) -> str:
    services = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["urn:schemas-upnp-org:service:WANIPConnection:1",
                                     "urn:schemas-upnp-org:service:WANPPPConnection:1",
                                     "urn:x"]))  # fmt: skip
        control = draw(
            st.sampled_from(["/ctl/IPConn", "ctl", "http://10.0.1.1:5000/c", "http://10.9.9.9/c",
                             "http://10.0.1.1:70000/c", "/a b", "", "&#x2f;ctl"])
            | st.text(max_size=20)
        )  # fmt: skip
        services.append(f"<service><serviceType>{kind}</serviceType>"
                        f"<controlURL>{control}</controlURL></service>")  # fmt: skip
    return "<root><serviceList>" + "".join(services) + "</serviceList></root>"


@given(descriptions())
def test_descriptions_give_a_control_url_on_the_router_or_are_refused(text: str) -> None:
    with contextlib.suppress(PortmapError):
        url, _ = upnp.control_url(text, BASE)
        assert url.host == BASE.host and 0 < url.port < 65536 and url.path.startswith("/")


route_lines = st.lists(
    st.lists(st.sampled_from(["eth0", "00000000", "0101000A", "0003", "zz", "0x2", "\u0663", ""])
             | st.text(max_size=10), max_size=9).map("\t".join),
    max_size=5,
).map(lambda lines: "Iface\tDestination\tGateway\tFlags\n" + "\n".join(lines))  # fmt: skip


@given(route_lines.map(str.encode) | st.binary(max_size=300))
@example(b"Iface\n eth0 00000000 0101000A zz\n")  # flags that are not hex
@example(b"Iface\n eth0 00000000 \xff0101000A 0003\n")  # not even text
def test_the_route_table_gives_a_gateway_or_none(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as where:
        table = Path(where) / "route"
        table.write_bytes(data)
        gateway = default_gateway(table)
    assert gateway is None or ipaddress.IPv4Address(gateway)
