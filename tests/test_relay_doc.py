"""PROTOCOL.md's Relay section matches the relay's code: packets, errors, examples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgpack
import pytest

from severus_cli.core.nat.relay_packets import CLIENT_TO_RELAY, RELAY_TO_CLIENT
from severus_cli.core.wire.packets import decode, encode

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = re.compile(r"```json (relay-client|relay)\n(.*?)\n```\n```hex\n(.*?)\n```", re.S)


def section() -> str:
    text = (ROOT / "PROTOCOL.md").read_text(encoding="utf-8")
    start = text.index("## 11. Relay")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def from_json(text: str) -> Any:
    def hook(obj: dict[str, Any]) -> Any:
        return bytes.fromhex(obj["$bin"]) if list(obj) == ["$bin"] else obj

    return json.loads(text, object_hook=hook)


@pytest.mark.parametrize(("direction", "json_text", "hex_text"), EXAMPLE.findall(section()))
def test_examples_are_what_the_code_encodes(direction: str, json_text: str, hex_text: str) -> None:
    wire = bytes.fromhex(hex_text)
    table = CLIENT_TO_RELAY if direction == "relay-client" else RELAY_TO_CLIENT
    assert encode(decode(wire, table)) == wire
    assert msgpack.unpackb(wire, raw=False) == from_json(json_text)


def test_there_are_examples_both_ways() -> None:
    assert {d for d, _, _ in EXAMPLE.findall(section())} == {"relay-client", "relay"}


def test_every_relay_packet_is_documented_with_its_fields() -> None:
    text = section()
    for tag, cls in {**CLIENT_TO_RELAY, **RELAY_TO_CLIENT}.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{tag}` |")), None)
        assert row is not None, f"relay packet {tag} missing from PROTOCOL.md"
        for field in cls.SCHEMA:
            assert f"`{field}`" in row, f"{tag}.{field} missing from its row"


def test_every_relay_error_code_is_documented() -> None:
    text = section()
    source = "".join(
        (ROOT / "severus_cli" / "core" / name).read_text(encoding="utf-8")
        for name in ("nat/relay.py", "nat/relay_packets.py", "wire/codec.py")
    )
    codes = set(re.findall(r'_fail\(\s*\w+,\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'RelayError\("([a-z_]+)"', source))
    codes |= {"bad_packet", "unknown_packet"}  # raised by the shared decoder
    assert len(codes) >= 10
    for code in codes:
        assert f"| `{code}` |" in text, f"error code {code} missing from the Relay section"


def test_documented_ports_and_alpn() -> None:
    from severus_cli.core.nat.relay_link import DEFAULT_RELAY_PORT
    from severus_cli.net.relay_client import RELAY_ALPN

    text = section()
    assert f"(default {DEFAULT_RELAY_PORT})" in text
    assert f"`{RELAY_ALPN}`" in text
