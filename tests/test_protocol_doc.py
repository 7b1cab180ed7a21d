"""PROTOCOL.md's examples must be exactly what the code encodes and accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgpack
import pytest

from severus_cli.core import packets
from severus_cli.core.framing import encode_frame
from severus_cli.core.session import make_prologue

DOC = Path(__file__).resolve().parent.parent / "PROTOCOL.md"
EXAMPLE = re.compile(r"```json (client|host)\n(.*?)\n```\n```hex\n(.*?)\n```", re.S)


def examples() -> list[tuple[str, str, str]]:
    found = EXAMPLE.findall(DOC.read_text(encoding="utf-8"))
    assert len(found) >= 8, "PROTOCOL.md lost its examples"
    return found


@pytest.mark.parametrize(("direction", "json_text", "hex_text"), examples())
def test_example_bytes_match_the_code(direction: str, json_text: str, hex_text: str) -> None:
    wire = bytes.fromhex(hex_text)
    table = packets.CLIENT_PACKETS if direction == "client" else packets.HOST_PACKETS
    decoded = packets.decode(wire, table)
    assert packets.encode(decoded) == wire
    assert msgpack.unpackb(wire, raw=False) == json.loads(json_text)


def test_every_packet_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for tag in {*packets.CLIENT_PACKETS, *packets.HOST_PACKETS}:
        assert f"| `{tag}` |" in text, f"packet {tag} missing from PROTOCOL.md"


def test_documented_constants() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert make_prologue(bytes(32))[:10] == b"severus/1\x00"
    assert len(make_prologue(bytes(32))) == 42
    assert "42 bytes in all" in text
    assert f"1 to {packets.MAX_TEXT:,} characters" in text
    assert encode_frame(bytes(26))[:2] == bytes.fromhex("001a")


def test_every_error_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    source = "".join(
        (DOC.parent / "severus_cli" / "core" / name).read_text(encoding="utf-8")
        for name in ("host.py", "packets.py", "framing.py", "session.py")
    )
    codes = set(
        re.findall(r'RemoteProtocolError\((?:[^()]|\([^()]*\))*?"([a-z_]+)"\s*\)', source)
    ) | set(re.findall(r'_(?:fatal|reply_error)\([^"]*"([a-z_]+)"', source))
    codes -= {"quit"}
    assert codes, "no error codes found in the core"
    for code in codes:
        assert f"| `{code}` |" in text, f"error code {code} missing from PROTOCOL.md"


def test_ticket_example_matches_the_code() -> None:
    from severus_cli.core.ticket import Endpoint, Ticket, decode_ticket, encode_ticket

    found = re.findall(r"```ticket\n(.*?)\n```", DOC.read_text(encoding="utf-8"))
    assert found, "PROTOCOL.md lost its ticket example"
    expected = Ticket(
        bytes(range(32)), bytes(range(32, 64)), (Endpoint("quic", "127.0.0.1", 3000),)
    )
    assert decode_ticket(found[0]) == expected
    assert encode_ticket(expected) == found[0]
