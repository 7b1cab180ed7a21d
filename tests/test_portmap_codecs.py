"""Port-mapping codecs (NAT-PMP, PCP, UPnP-IGD): known answers, and hostile replies.

A router is not trusted: every decoder is fed truncated, oversized and random bytes and
must either return a value or raise PortmapError, never anything else.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.nat.portmap import (
    PortmapError,
    behind_another_nat,
    natpmp,
    pcp,
    renew_after,
    upnp,
)

NONCE = bytes(range(12))


def pcp_reply(result: int = 0, lifetime: int = 300, port: int = 4000, external: str = "192.0.3.10",
              nonce: bytes = NONCE, proto: int = 6, internal: int = 4000) -> bytes:  # fmt: skip
    header = struct.pack("!BBxBII12x", 2, 0x81, result, lifetime, 77)
    body = nonce + struct.pack("!B3xHH", proto, internal, port)
    return header + body + bytes(10) + b"\xff\xff" + bytes(int(x) for x in external.split("."))


def test_natpmp_requests_are_the_rfc_layout() -> None:
    assert natpmp.external_request() == b"\x00\x00"
    assert natpmp.map_request("udp", 4000, 4000, 300) == bytes.fromhex("000100000fa00fa00000012c")
    assert natpmp.map_request("tcp", 4000, 0, 0)[1] == 2
    with pytest.raises(ValueError):
        natpmp.map_request("sctp", 4000, 4000, 1)


def test_natpmp_replies_decode() -> None:
    address = natpmp.decode(bytes.fromhex("008000000000aaaac0000a0a"))
    assert (address.op, address.result, address.external) == (0, 0, "192.0.10.10")
    mapped = natpmp.decode(bytes.fromhex("008200000000aaaa0fa00fa10000012c"))
    assert (mapped.op, mapped.internal_port, mapped.port, mapped.lifetime) == (2, 4000, 4001, 300)
    refused = natpmp.decode(bytes.fromhex("008200020000aaaa0fa000000000012c"))
    assert refused.result == 2 and "not authorized" in natpmp.result_words(refused.result)
    assert natpmp.result_words(99) == "result code 99"


@pytest.mark.parametrize(
    "reply",
    ["0080", "0180000000000000c0000a0a", "000000000000aaaac0000a0a", "008000000000aaaac0000a",
     "008200000000aaaa0fa00fa10000012cff", "008200000000aaaa00000fa10000012c",
     "00ff00000000aaaa0fa00fa10000012c"],
)  # fmt: skip
def test_natpmp_rejects_malformed_replies(reply: str) -> None:
    with pytest.raises(PortmapError):
        natpmp.decode(bytes.fromhex(reply))


def test_pcp_request_layout() -> None:
    request = pcp.map_request(NONCE, "udp", "10.0.1.2", 4000, 300, 4000)
    assert len(request) == 60
    assert request[:8] == bytes.fromhex("020100000000012c")
    assert request[8:24] == bytes(10) + b"\xff\xff" + bytes([10, 0, 1, 2])
    assert request[24:36] == NONCE and request[36] == 17
    assert struct.unpack("!HH", request[40:44]) == (4000, 4000)


def test_pcp_reply_decodes_and_refusals_have_words() -> None:
    reply = pcp.decode(pcp_reply())
    assert (reply.result, reply.nonce, reply.protocol, reply.port) == (0, NONCE, "tcp", 4000)
    assert reply.external == "192.0.3.10" and reply.lifetime == 300
    refused = pcp.decode(pcp_reply(result=2))
    assert "not authorized" in pcp.result_words(refused.result)
    assert pcp.decode(pcp_reply() + bytes(8)).port == 4000  # options are skipped


def test_a_natpmp_only_router_is_recognised() -> None:
    with pytest.raises(pcp.SpeaksNatPmp):
        pcp.decode(bytes.fromhex("0081000100000000"))


@pytest.mark.parametrize(
    "reply",
    [pcp_reply()[:23], pcp_reply()[:40], pcp_reply() + b"\x00", pcp_reply() + bytes(1100),
     b"\x01" + pcp_reply()[1:], pcp_reply()[:1] + b"\x01" + pcp_reply()[2:],
     pcp_reply()[:1] + b"\x82" + pcp_reply()[2:], pcp_reply(port=0), pcp_reply(proto=99)],
)  # fmt: skip
def test_pcp_rejects_malformed_replies(reply: bytes) -> None:
    with pytest.raises(PortmapError):
        pcp.decode(reply)


@given(st.binary(max_size=1200))
def test_pmp_decoders_only_raise_portmap_errors(data: bytes) -> None:
    for decode in (natpmp.decode, pcp.decode):
        with contextlib.suppress(PortmapError):
            decode(data)


@given(st.binary(min_size=60, max_size=60), st.integers(0, 60))
def test_pcp_truncations_are_refused_or_decoded(body: bytes, cut: int) -> None:
    data = pcp_reply()[:24] + body[24:]
    with contextlib.suppress(PortmapError):
        reply = pcp.decode(data[:cut] if cut < 60 else data)
        assert 0 <= reply.port < 65536


def test_cgnat_and_private_external_addresses_are_spotted() -> None:
    for address in ("100.64.0.1", "100.127.255.254", "10.1.2.3", "192.168.1.1", "0.0.0.0", "x"):
        assert behind_another_nat(address), address
    for address in ("192.0.3.10", "8.8.8.8", "100.128.0.1"):
        assert not behind_another_nat(address), address
    assert renew_after(300) == 150 and renew_after(0) == 15


SSDP_OK = (
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: "
    + upnp.IGD.encode()
    + b"\r\nLOCATION: http://10.0.1.1:5000/rootDesc.xml\r\n\r\n"
)
DESCRIPTION = """<root><device><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<controlURL>/ctl/L3F</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<controlURL>/ctl/IPConn</controlURL></service>
</serviceList></device></root>"""


def test_ssdp_answer_gives_the_description_url_of_the_sender_only() -> None:
    assert upnp.search_location(SSDP_OK, "10.0.1.1") == upnp.Url("10.0.1.1", 5000, "/rootDesc.xml")
    with pytest.raises(PortmapError):
        upnp.search_location(SSDP_OK, "10.0.1.66")  # points us at another machine
    for bad in (b"", b"HTTP/1.1 404 x\r\n\r\n", SSDP_OK.replace(b"LOCATION", b"X"), SSDP_OK * 20):
        with pytest.raises(PortmapError):
            upnp.search_location(bad, "10.0.1.1")
    assert b"ssdp:discover" in upnp.search_request()


def test_description_gives_the_wan_connection_control_url() -> None:
    base = upnp.Url("10.0.1.1", 5000, "/rootDesc.xml")
    url, kind = upnp.control_url(DESCRIPTION, base)
    assert url == upnp.Url("10.0.1.1", 5000, "/ctl/IPConn") and kind.endswith("WANIPConnection:1")
    with pytest.raises(PortmapError):
        upnp.control_url(DESCRIPTION.replace("WANIPConnection", "Other"), base)
    elsewhere = DESCRIPTION.replace("/ctl/IPConn", "http://10.9.9.9:80/ctl")
    with pytest.raises(PortmapError):
        upnp.control_url(elsewhere, base)


def test_http_answers_plain_chunked_and_faults() -> None:
    plain = upnp.parse_http(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello trailing")
    assert (plain.status, plain.body) == (200, "hello")
    chunked = upnp.parse_http(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert chunked.body == "abcde"
    body = "<NewExternalIPAddress>192.0.3.10</NewExternalIPAddress>"
    assert upnp.external_address(upnp.HttpReply(200, {}, body)) == "192.0.3.10"
    fault = upnp.HttpReply(
        500, {}, "<errorCode>718</errorCode><errorDescription>x</errorDescription>"
    )
    with pytest.raises(upnp.SoapFault) as refused:
        upnp.soap_result(fault)
    assert refused.value.code == 718 and "another machine" in str(refused.value)
    for bad in (b"garbage", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"HTTP/1.1 200 OK\r\n\r\n" + bytes(70000)):  # fmt: skip
        with pytest.raises(PortmapError):
            upnp.parse_http(bad)


def test_soap_requests_escape_their_arguments() -> None:
    body = upnp.soap_body("urn:x", "AddPortMapping", {"NewPortMappingDescription": "<&>"})
    assert "&lt;&amp;&gt;" in body and "<u:AddPortMapping" in body
    request = upnp.http_request("POST", upnp.Url("10.0.1.1", 5000, "/ctl"), body, "urn:x#Add")
    assert b'SOAPAction: "urn:x#Add"' in request
    assert f"Content-Length: {len(body)}".encode() in request


@given(st.binary(max_size=3000), st.sampled_from(["10.0.1.1", "1.2.3.4"]))
def test_upnp_decoders_only_raise_portmap_errors(data: bytes, sender: str) -> None:
    with contextlib.suppress(PortmapError):
        upnp.search_location(data, sender)
    with contextlib.suppress(PortmapError):
        upnp.parse_http(data)
    text = data.decode("latin-1")
    with contextlib.suppress(PortmapError):
        upnp.control_url(text, upnp.Url("10.0.1.1", 5000, "/"))
    with contextlib.suppress(PortmapError):
        upnp.external_address(upnp.HttpReply(200, {}, text))
    with contextlib.suppress(PortmapError):
        upnp.parse_url(text)


@given(st.text(max_size=200))
def test_upnp_decoders_take_any_text(text: str) -> None:
    kind = "urn:schemas-upnp-org:service:WANIPConnection:1"
    wrapped = f"<service><serviceType>{kind}</serviceType><controlURL>{text}</controlURL></service>"
    with contextlib.suppress(PortmapError):
        url, _ = upnp.control_url(wrapped, upnp.Url("10.0.1.1", 5000, "/"))
        assert url.host == "10.0.1.1"
