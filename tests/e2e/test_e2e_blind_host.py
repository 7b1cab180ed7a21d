"""The host relays ciphertext: what two joiners say privately, or in a room the host's
own participant is not in, never exists in plaintext in the host process.

Checked two ways: an instrumented host records every packet it handles after hop
decryption (SEVERUS_TRACE_PAYLOADS), and the host's whole memory is scanned.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from severus_cli.core.wire import packets
from tests.e2e.lab import cli_env
from tests.needs import require_root

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def _trace_records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    records, at = [], 0
    while at + 4 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        records.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    assert at == len(data), "the trace is not a sequence of length-prefixed packets"
    return records


def _memory_contains(pid: int, needles: list[bytes]) -> set[bytes]:
    """Which needles occur anywhere in the process's readable memory."""
    found: set[bytes] = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            match = re.match(r"([0-9a-f]+)-([0-9a-f]+) r", line)
            if not match or "[vvar]" in line or "[vsyscall]" in line:
                continue
            start, end = int(match.group(1), 16), int(match.group(2), 16)
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            found.update(n for n in needles if n in chunk)
    return found


def test_host_never_sees_private_or_foreign_room_text(lab: Lab, tmp_path: Path) -> None:
    trace = tmp_path / "host-trace.bin"
    ana = lab.host("ana", env=cli_env(SEVERUS_TRACE_PAYLOADS=str(trace)))
    bob = lab.join(ana, "bob")
    cy = lab.join(ana, "cy")
    bob.expect(r" \* cy joined\.")
    dm_marker = f"dm-{secrets.token_hex(8)}"
    room_marker = f"room-{secrets.token_hex(8)}"
    lobby_marker = f"lobby-{secrets.token_hex(8)}"

    bob.type(f"/msg cy {dm_marker}")
    cy.expect(rf"\[PM from bob\] {dm_marker}")
    bob.type("/join hideout")
    bob.expect(r"Now talking in #hideout")
    cy.type("/join hideout")
    bob.expect(r" \* cy joined #hideout")
    bob.type(room_marker)
    cy.expect(rf"#hideout bob: {room_marker}")
    cy.type(f"/msg bob /me {dm_marker}-back")
    bob.expect(rf"\*\* cy {dm_marker}-back")
    bob.type("/leave")
    bob.type(lobby_marker)  # the lobby: the host's own participant may read this one
    ana.expect(rf"bob: {lobby_marker}")

    records = _trace_records(trace)
    assert len(records) > 20, "the trace recorded too little to mean anything"
    handled = b"".join(records)
    for marker in (dm_marker, room_marker, lobby_marker):
        assert marker.encode() not in handled, f"{marker} crossed the host in the clear"
    # The packets it handled are the end-to-end ones, not plaintext chat.
    kinds = {
        packets.decode(r, packets.CLIENT_PACKETS).TYPE for r in records if _is_client_packet(r)
    }
    assert {"seal", "relay"} <= kinds
    assert "bob" in ana.text and dm_marker not in ana.text and room_marker not in ana.text

    require_root("scan another process's memory")
    present = _memory_contains(ana.pid, [m.encode() for m in (dm_marker, room_marker)])
    assert not present, f"found in host memory: {present}"
    # The scan works: the lobby line, which the host's participant did read, is there.
    assert _memory_contains(ana.pid, [lobby_marker.encode()])


def _is_client_packet(record: bytes) -> bool:
    try:
        packets.decode(record, packets.CLIENT_PACKETS)
    except Exception:
        return False
    return True
