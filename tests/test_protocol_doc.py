"""PROTOCOL.md's examples must be exactly what the code encodes and accepts."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from severus_cli.core.e2e import keyring, pairwise, sender_keys, wire
from severus_cli.core.e2e.verify import safety_code
from severus_cli.core.host.core import HostConfig
from severus_cli.core.limits import registrations
from severus_cli.core.wire import packets
from severus_cli.core.wire.framing import encode_frame
from severus_cli.core.wire.session import make_prologue
from severus_cli.net.tls import ALPN

DOC = Path(__file__).resolve().parent.parent / "PROTOCOL.md"
EXAMPLE = re.compile(r"```json (client|host)\n(.*?)\n```\n```hex\n(.*?)\n```", re.S)


def from_json(text: str) -> Any:
    """JSON as the examples write it: ``{"$bin": "hex"}`` stands for msgpack bin."""

    def hook(obj: dict[str, Any]) -> Any:
        return bytes.fromhex(obj["$bin"]) if list(obj) == ["$bin"] else obj

    return json.loads(text, object_hook=hook)


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
    assert msgpack.unpackb(wire, raw=False) == from_json(json_text)


def test_the_examples_show_the_chat_packets() -> None:
    shown = {from_json(json_text)["t"] for _, json_text, _ in examples()}
    assert {"hello", "welcome", "seal", "ok", "sealed", "relay", "relayed", "err"} <= shown


def test_every_packet_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for tag in {*packets.CLIENT_PACKETS, *packets.HOST_PACKETS}:
        assert f"| `{tag}` |" in text, f"packet {tag} missing from PROTOCOL.md"


def test_documented_constants() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert make_prologue(bytes(32))[:10] == b"severus/3\x00"
    assert "ALPN `severus/3`" in text and ALPN == "severus/3"
    assert len(make_prologue(bytes(32), b"x" * 48)) == 74
    assert "74 bytes in all" in text
    assert f"1 to {packets.MAX_TEXT:,} characters" in text
    ok = packets.encode(packets.Ok(7))
    assert len(ok) == 10 and "The `ok` above (10 bytes) travels as a 12-byte frame" in text
    assert encode_frame(ok) == bytes.fromhex("000a") + ok


def test_every_error_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    source = "".join(
        (DOC.parent / "severus_cli" / "core" / name).read_text(encoding="utf-8")
        for name in (
            "host/core.py",
            "host/queries.py",
            "host/secondary.py",
            "host/move.py",
            "wire/codec.py",
            "wire/packet_base.py",
            "wire/framing.py",
            "wire/session.py",
            "e2e/pairwise.py",
            "e2e/sender_keys.py",
            "e2e/wire.py",
            "e2e/keyring.py",
        )
    )
    codes = set(
        re.findall(r'RemoteProtocolError\((?:[^()]|\([^()]*\))*?"([a-z_]+)"\s*\)', source)
    ) | set(re.findall(r'_(?:fatal|reply_error)\([^"]*"([a-z_]+)"', source))
    codes -= {"quit"}
    assert codes, "no error codes found in the core"
    for code in codes:
        assert f"| `{code}` |" in text, f"error code {code} missing from PROTOCOL.md"


def test_ticket_example_matches_the_code() -> None:
    from severus_cli.core.trust.ticket import Endpoint, Ticket, decode_ticket, encode_ticket

    found = re.findall(r"```ticket\n(.*?)\n```", DOC.read_text(encoding="utf-8"))
    assert found, "PROTOCOL.md lost its ticket example"
    expected = Ticket(
        bytes(range(32)), bytes(range(32, 64)), (Endpoint("quic", "127.0.0.1", 3000),)
    )
    assert decode_ticket(found[0]) == expected
    assert encode_ticket(expected) == found[0]


# --- end-to-end encryption (section 6) -----------------------------------------------------


def block(name: str) -> str:
    found = re.findall(rf"```{name}\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(found) == 1, f"PROTOCOL.md lost its {name} example"
    return str(found[0])


def test_sender_key_worked_example_matches_the_code() -> None:
    rows = {}
    for line in block("sender-key").splitlines():
        name, _, value = line.partition("=")
        rows[name.strip()] = bytes.fromhex(value)
    sender, room, epoch, chain = rows["sender"], rows["room"].decode(), rows["epoch"], rows["chain"]
    signer = Ed25519PrivateKey.from_private_bytes(rows["signing seed"])
    assert signer.public_key().public_bytes_raw() == rows["verify key"]
    # The documented derivation, step by step...
    assert hmac.digest(chain, b"\x01", "sha256") == rows["message key"]
    assert hmac.digest(chain, b"\x02", "sha256") == rows["next chain"]
    ad = b"severus-room/1\x00" + sender + room.casefold().encode() + b"\x00" + epoch + bytes(8)
    assert ad == rows["ad"]
    assert msgpack.unpackb(rows["plaintext"]) == {"t": "say", "text": "hello", "action": False}
    ciphertext = ChaCha20Poly1305(rows["message key"]).encrypt(bytes(12), rows["plaintext"], ad)
    assert ciphertext == rows["ciphertext"]
    assert signer.sign(ad + ciphertext) == rows["signature"]
    envelope = {"e": epoch, "n": 0, "c": ciphertext, "s": rows["signature"]}
    assert msgpack.packb(envelope) == rows["envelope"]
    # ...is what the code does,
    own = sender_keys.OwnSenderKey(room, epoch=epoch, chain=chain, signer=signer)
    gift = own.distribution()
    assert wire.encode_gift(gift) == rows["gift"]
    assert own.seal(sender, rows["plaintext"]) == rows["envelope"]
    assert own.chain == rows["next chain"]
    assert sender_keys.associated_data(sender, room, epoch, 0) == ad
    # ...and a member given the gift opens the envelope of the section 5 examples.
    decoded = wire.decode_pairwise(rows["gift"])
    assert isinstance(decoded, wire.SenderKeyGift) and decoded == gift
    member = sender_keys.PeerSenderKey.from_gift(sender, decoded)
    assert member.open(wire.decode_sealed(rows["envelope"])) == rows["plaintext"]
    sealed = [from_json(j) for _, j, _ in examples() if from_json(j)["t"] in ("seal", "sealed")]
    assert sealed and all(packet["data"] == rows["envelope"] for packet in sealed)


def test_safety_code_example_matches_the_code() -> None:
    code = block("safety-code")
    assert code == safety_code(bytes(range(32)), bytes(range(32, 64)))
    digest = hashlib.sha512(b"severus-verify/1\x00" + bytes(range(64))).digest()
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100000 for i in range(0, 30, 5)]
    assert code == " ".join(f"{g:05d}" for g in groups)


def test_documented_registration_limit() -> None:
    """4.3's registrations bucket and 4.7's send-only numbers are the code's."""
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    config = HostConfig()
    burst, every = f"{config.registration_burst:g}", f"{1 / config.registration_per_second:g}"
    assert "| registrations |" in text
    assert f"{burst} tokens, refilled at 1 every {every} seconds (host `--max-joins-per-ip`" in text
    assert f"`msg` `{registrations.TOO_MANY_CONNECTIONS}`" in text
    assert f"`via` 1 to {packets.MAX_VIA}" in text
    assert f"`{packets.SEND_ONLY}` in its `hello`'s `caps`" in text
    assert set(packets.CAPS) == {"nick", "via", "move"} and "- `via`: in a `welcome`" in text
    assert "- `move`: in a `welcome`" in text and f"`{packets.MOVING}` in its `caps`" in text


def test_documented_end_to_end_constants() -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    prologue = pairwise._prologue(bytes(32), bytes([1]) * 32)
    assert prologue.startswith(b"severus-e2e/1\x00") and len(prologue) == 78
    assert "`severus-e2e/1`, one zero byte" in text and "78 bytes" in text
    assert f"`{pairwise.NOISE_NAME.decode()}`" in text
    assert f"(at most {pairwise.MAX_QUEUED} per peer)" in text
    assert f"at most {pairwise.MAX_PAYLOAD:,} bytes" in text
    assert f"1 to {packets.MAX_DATA:,} bytes" in text
    assert f"more than {sender_keys.MAX_SKIP:,} beyond it" in text
    assert f"up to {keyring.PENDING_TTL:g} seconds ({keyring.MAX_PENDING} messages at most)" in text
    assert f"keeps the last {keyring.KEEP_EPOCHS} epochs" in text
    assert f"an {sender_keys.EPOCH_ID_SIZE}-byte random epoch id" in text
    config = HostConfig()
    burst, rate = f"{config.control_burst:,.0f}", f"{config.control_per_second:,.0f}"
    assert f"{burst} tokens, refilled at {rate} per second" in text
    for kind in ("hs", "key", "dm"):
        assert f"`relay` / `relayed` kind `{kind}`" in text


def test_documented_handshake_sizes() -> None:
    """The step table's sizes are what two real sides exchange."""
    private = {name: bytes([n]) * 32 for n, name in enumerate("ab", start=1)}
    public = {
        name: X25519PrivateKey.from_private_bytes(key).public_key().public_bytes_raw()
        for name, key in private.items()
    }
    sides = {name: pairwise.Pairwise(private[name], public[name]) for name in "ab"}
    sizes = []
    queue = [("a", out) for out in sides["a"].send(public["b"], "dm", b"x")]
    while queue:
        sender, out = queue.pop(0)
        receiver = "b" if sender == "a" else "a"
        if out.kind == pairwise.HANDSHAKE:
            sizes.append((out.data[0], len(out.data)))
        _, replies = sides[receiver].receive(public[sender], out.kind, out.data)
        queue += [(receiver, reply) for reply in replies]
    assert sizes == [(1, 33), (2, 97), (3, 65)]
    text = DOC.read_text(encoding="utf-8")
    for step, size in sizes:
        assert re.search(rf"\| `0{step}` \| [a-z]+ \| `[^`]+` \| {size} \|", text), step
