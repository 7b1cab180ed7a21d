"""UPnP-IGD, the little of it a port mapping needs: SSDP discovery, the device
description, and three SOAP actions (GetExternalIPAddress, AddPortMapping,
DeletePortMapping). Pure code: texts in, values out; ``runtime.portmap`` sends them.

A full UPnP stack (device trees, eventing, XML schemas) is not needed for this, so the
parsing is deliberately small: bounded sizes, plain HTTP/1.1 (length or chunked), and
the few XML elements we read found by pattern, never by an XML parser that could be
made to expand entities. A discovery answer whose description lives on another machine
than the one that answered is refused, so nobody on the LAN can point us elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from html import escape, unescape

from severus_cli.core.nat.portmap import PortmapError

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
IGD = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
MAX_SSDP = 2048
MAX_HTTP = 65536  # a description or SOAP answer longer than this is not a router's
_SERVICES = (  # in order of preference
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
)

ERRORS = {
    402: "invalid arguments",
    501: "action failed",
    606: "not authorized",
    714: "no such mapping",
    715: "wildcard not permitted in remote host",
    716: "wildcard not permitted in external port",
    718: "the port is already mapped to another machine",
    724: "external and internal ports must be the same",
    725: "only permanent leases are supported",
    726: "remote host must be a wildcard",
    727: "external port must be a wildcard",
    728: "no ports left to map",
    729: "conflicts with another mapping mechanism",
}


@dataclass(frozen=True, slots=True)
class Url:
    host: str
    port: int
    path: str


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: str


class SoapFault(PortmapError):
    """The router refused the action; ``code`` is the UPnP error code."""

    def __init__(self, code: int, description: str) -> None:
        words = ERRORS.get(code) or description or "refused"
        super().__init__(f"{words} (error {code})")
        self.code = code


def search_request() -> bytes:
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        f"HOST: {SSDP_GROUP}:{SSDP_PORT}\r\n"
        'MAN: "ssdp:discover"\r\n'
        "MX: 1\r\n"
        f"ST: {IGD}\r\n\r\n"
    ).encode()


def parse_url(text: str) -> Url:
    """An http:// URL of an IPv4 address (routers give one; a name would need DNS)."""
    found = re.fullmatch(r"http://([0-9.]{7,15})(?::([0-9]{1,5}))?(/[\x21-\x7e]*)?", text.strip())
    if found is None:
        raise PortmapError("not an http URL of an IPv4 address")
    host, port, path = found.group(1), int(found.group(2) or 80), found.group(3) or "/"
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise PortmapError("not an IPv4 address") from None
    if not 0 < port < 65536:
        raise PortmapError("port out of range")
    return Url(host, port, path)


def search_location(data: bytes, sender: str) -> Url:
    """The description URL in an SSDP answer from ``sender``."""
    if len(data) > MAX_SSDP:
        raise PortmapError("SSDP answer too long")
    text = data.decode("latin-1")
    if not re.match(r"HTTP/1\.[01] 200 ", text):
        raise PortmapError("not an SSDP answer")
    headers = _headers(text.split("\r\n")[1:])
    if "location" not in headers:
        raise PortmapError("SSDP answer without a location")
    url = parse_url(headers["location"])
    if url.host != sender:
        raise PortmapError("SSDP answer points at another machine")
    return url


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines[:64]:
        if not line:
            break
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def parse_http(data: bytes) -> HttpReply:
    """A whole HTTP/1.x response read until the server closed (``Connection: close``)."""
    if len(data) > MAX_HTTP:
        raise PortmapError("HTTP answer too long")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise PortmapError("HTTP answer without a header end")
    lines = head.decode("latin-1").split("\r\n")
    status = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if status is None:
        raise PortmapError("not an HTTP answer")
    headers = _headers(lines[1:])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif "content-length" in headers:
        length = headers["content-length"]
        if not _digits(length, 9) or int(length) > len(body):
            raise PortmapError("HTTP answer shorter than its length")
        body = body[: int(length)]
    return HttpReply(int(status.group(1)), headers, body.decode("utf-8", "replace"))


def _digits(text: str, most: int) -> bool:
    """ASCII digits only: str.isdigit() also takes "²", which int() then refuses."""
    return re.fullmatch(rf"[0-9]{{1,{most}}}", text) is not None


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        line, sep, data = data.partition(b"\r\n")
        size_text = line.split(b";")[0].strip()
        if not sep or not re.fullmatch(rb"[0-9a-fA-F]{1,8}", size_text):
            raise PortmapError("bad HTTP chunk")
        size = int(size_text, 16)
        if size == 0:
            return bytes(out)
        if len(data) < size + 2:
            raise PortmapError("HTTP chunk cut short")
        out += data[:size]
        data = data[size + 2 :]


def http_request(method: str, url: Url, body: str = "", action: str = "") -> bytes:
    lines = [f"{method} {url.path} HTTP/1.1", f"Host: {url.host}:{url.port}",
             "Connection: close", "User-Agent: severus"]  # fmt: skip
    if action:
        lines += ['Content-Type: text/xml; charset="utf-8"', f'SOAPAction: "{action}"']
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def control_url(description: str, base: Url) -> tuple[Url, str]:
    """The control URL and service type of the router's WAN connection service."""
    services = re.findall(r"<service>(.*?)</service>", description, re.S)[:64]
    found: dict[str, str] = {}
    for service in services:
        kind = _element(service, "serviceType")
        control = _element(service, "controlURL")
        if kind in _SERVICES and control and kind not in found:
            found[kind] = control
    for kind in _SERVICES:
        if kind in found:
            control = found[kind]
            if control.startswith("http://"):
                url = parse_url(control)
                if url.host != base.host:
                    raise PortmapError("control URL on another machine")
                return url, kind
            path = control if control.startswith("/") else "/" + control
            if not re.fullmatch(r"/[\x21-\x7e]*", path):
                raise PortmapError("bad control URL")
            return Url(base.host, base.port, path), kind
    raise PortmapError("the router offers no WAN connection service")


def _element(text: str, name: str) -> str | None:
    found = re.search(rf"<(?:\w+:)?{name}>([^<]{{0,512}})</(?:\w+:)?{name}>", text)
    return unescape(found.group(1).strip()) if found else None


def soap_body(service: str, action: str, arguments: dict[str, str]) -> str:
    args = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in arguments.items())
    return (
        '<?xml version="1.0"?>\r\n'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action} xmlns:u="{service}">{args}</u:{action}></s:Body></s:Envelope>'
    )


def add_mapping_args(
    port: int, protocol: str, client: str, lease: int, description: str = "severus"
) -> dict[str, str]:
    return {
        "NewRemoteHost": "",
        "NewExternalPort": str(port),
        "NewProtocol": protocol.upper(),
        "NewInternalPort": str(port),
        "NewInternalClient": client,
        "NewEnabled": "1",
        "NewPortMappingDescription": description,
        "NewLeaseDuration": str(lease),
    }


def delete_mapping_args(port: int, protocol: str) -> dict[str, str]:
    return {"NewRemoteHost": "", "NewExternalPort": str(port), "NewProtocol": protocol.upper()}


def soap_result(reply: HttpReply, wanted: str | None = None) -> str | None:
    """The value of element ``wanted`` in a successful answer; SoapFault if refused."""
    if reply.status != 200:
        code = _element(reply.body, "errorCode")
        words = _element(reply.body, "errorDescription") or f"HTTP {reply.status}"
        if code is None or not _digits(code, 4):
            raise SoapFault(0, words)
        raise SoapFault(int(code), words)
    if wanted is None:
        return None
    value = _element(reply.body, wanted)
    if value is None:
        raise PortmapError(f"answer without {wanted}")
    return value


def external_address(reply: HttpReply) -> str:
    value = soap_result(reply, "NewExternalIPAddress") or ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise PortmapError("the router gave no valid external address") from None
