"""The README's limits table and trust-model numbers are what the code does.

Every row of the limits table is matched to the default the code uses and the option
that changes it (both the host's ``HostConfig`` and ``severus host``'s own default, which
is what a user gets); the numbers the trust model quotes for the client's bounds and for
known_peers are read from the constants that enforce them. A changed default, a renamed
option or a row lost from the README fails here.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import typer.main

from severus_cli.app import app
from severus_cli.core.client.state import ClientState
from severus_cli.core.e2e import keyring, peer_keys, pending
from severus_cli.core.host.actions import BYTES_PER_MESSAGE, MAX_BACKLOG, HostConfig
from severus_cli.core.limits import admission, room_shares
from severus_cli.core.trust import known_peers, peer_trust
from severus_cli.core.wire.framing import MAX_FRAME

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
CONFIG = HostConfig()


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def _limit_rows() -> dict[str, tuple[str, str]]:
    """The limits table: description -> (default, option)."""
    rows: dict[str, tuple[str, str]] = {}
    for line in _section("Limits and moderation").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("limit", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def _host_defaults() -> dict[str, object]:
    command = typer.main.get_command(app)
    host = command.commands["host"]  # type: ignore[attr-defined]
    return {opt: param.default for param in host.params for opt in param.opts}


def _n(value: float) -> str:
    return f"{value:,.0f}"


KIB = 1024
# Each row of the table, found by the start of its description: (default, option).
EXPECTED = {
    "participants at once": (_n(CONFIG.max_clients), "`--max-clients N`"),
    "rooms at once": (_n(CONFIG.max_rooms), "`--max-rooms N`"),
    "rooms one participant is in": (_n(CONFIG.max_rooms_per_user), "`--max-rooms-per-user N`"),
    "rooms one address": (
        f"{CONFIG.max_rooms // room_shares.ROOMS_PER_SOURCE_SHARE} "
        f"(`--max-rooms` / {room_shares.ROOMS_PER_SOURCE_SHARE})",
        "`--max-rooms-per-ip N` (0: no cap)",
    ),
    "connections at once from one address": (
        _n(CONFIG.max_per_ip),
        "`--max-per-ip N` (0: no cap)",
    ),
    "QUIC handshakes in progress": (
        f"{_n(admission.MAX_HANDSHAKES)}; {admission.HandshakeGate().per_source} per address",
        "—",
    ),
    "new participants from one address": (
        _n(CONFIG.registration_burst),
        "`--max-joins-per-ip N` (0: no limit)",
    ),
    "TLS, Noise handshake and `hello`": (
        f"{CONFIG.handshake_timeout:g} s",
        "`--handshake-timeout S`",
    ),
    "silence before a participant is dropped": (
        f"{CONFIG.idle_timeout:g} s",
        "`--idle-timeout S`",
    ),
    "frame a participant may send": (f"{MAX_FRAME:,} bytes", "`--max-frame BYTES` (1,024 or more)"),
    "message body": (f"{CONFIG.max_data:,} bytes", "`--max-message BYTES` (1,024 or more)"),
    "messages per participant": (
        f"{CONFIG.rate_per_second:g}/s",
        f"`--rate-limit N` (burst {CONFIG.rate_burst / CONFIG.rate_per_second:g}N; 0: none)",
    ),
    "bytes of messages, keys and handshakes": (
        f"{CONFIG.rate_per_second * BYTES_PER_MESSAGE // KIB:g} KiB/s",
        f"follows `--rate-limit N` (N \u00d7 {BYTES_PER_MESSAGE // KIB} KiB/s)",
    ),
    "private handshakes and keys per participant": (_n(CONFIG.control_per_second) + "/s", "—"),
    "other requests per participant": (f"{CONFIG.request_per_second:g}/s", "—"),
    "joins, parts and nick changes others hear": (
        f"{CONFIG.membership_per_second:g}/s",
        "—",
    ),
    "requests refused as over a limit": (f"{CONFIG.strike_per_second:g}/s", "—"),
    "unsent bytes queued for one participant": (
        f"{MAX_BACKLOG // (KIB * KIB)} MiB",
        "`--max-backlog BYTES`",
    ),
}


def test_every_limit_row_is_checked_and_every_check_has_its_row() -> None:
    rows = _limit_rows()
    matched = {start: [d for d in rows if d.startswith(start)] for start in EXPECTED}
    assert all(len(found) == 1 for found in matched.values()), matched
    assert len(rows) == len(EXPECTED), set(rows) - {m[0] for m in matched.values()}


@pytest.mark.parametrize("start", sorted(EXPECTED))
def test_limit_row_states_the_default_and_option(start: str) -> None:
    [(description, cells)] = [(d, c) for d, c in _limit_rows().items() if d.startswith(start)]
    assert cells == EXPECTED[start], description


def test_limit_descriptions_quote_the_bursts_the_code_uses() -> None:
    rows = {d[:30]: d for d in _limit_rows()}

    def row(start: str) -> str:
        return next(d for d in rows.values() if d.startswith(start))

    assert f"a burst of {CONFIG.rate_burst:g}, then {CONFIG.rate_per_second:g} per second" in row(
        "messages per participant"
    )
    burst_kib = CONFIG.rate_burst * BYTES_PER_MESSAGE // KIB
    per_s_kib = CONFIG.rate_per_second * BYTES_PER_MESSAGE // KIB
    assert f"{BYTES_PER_MESSAGE // KIB} KiB per message allowed" in row("bytes of messages")
    assert f"a burst of {burst_kib:g} KiB, then {per_s_kib:g} KiB per second" in row(
        "bytes of messages"
    )
    assert (
        f"a burst of {_n(CONFIG.control_burst)}, then {_n(CONFIG.control_per_second)} a second"
        in row("private handshakes and keys")
    )
    assert (
        f"a burst of {CONFIG.request_burst:g}, then {CONFIG.request_per_second:g} per second"
        in row("other requests")
    )
    assert (
        f"a burst of {CONFIG.membership_burst:g}, then {CONFIG.membership_per_second:g} per second"
        in row("joins, parts and nick changes")
    )
    assert f"{CONFIG.strike_burst:g}, then {CONFIG.strike_per_second:g} more per second" in row(
        "requests refused"
    )
    every = 1 / CONFIG.registration_per_second
    assert f"a burst of {CONFIG.registration_burst:g}, then one every {every:g} s" in row(
        "new participants"
    )
    ping = inspect.signature(ClientState.__init__).parameters["ping_interval"].default
    assert f"clients ping every {ping:g} s" in row("silence before")


def test_severus_host_defaults_are_the_host_config_defaults() -> None:
    """The table quotes HostConfig; what a user running ``severus host`` gets is the
    command's own defaults, so they must be the same numbers."""
    got = _host_defaults()
    assert got["--max-clients"] == CONFIG.max_clients
    assert got["--max-rooms"] == CONFIG.max_rooms
    assert got["--max-rooms-per-user"] == CONFIG.max_rooms_per_user
    assert got["--max-rooms-per-ip"] is None and CONFIG.max_rooms_per_ip is None
    assert got["--handshake-timeout"] == CONFIG.handshake_timeout
    assert got["--idle-timeout"] == CONFIG.idle_timeout
    assert got["--rate-limit"] == CONFIG.rate_per_second
    assert CONFIG.rate_burst == 3 * CONFIG.rate_per_second  # "burst 3N"
    assert got["--max-per-ip"] == CONFIG.max_per_ip
    assert got["--max-joins-per-ip"] == CONFIG.registration_burst
    assert got["--max-frame"] == CONFIG.max_frame == MAX_FRAME
    assert got["--max-message"] == CONFIG.max_data
    assert got["--max-backlog"] == CONFIG.max_backlog == MAX_BACKLOG


def test_the_throughput_sentence_follows_from_the_byte_allowance() -> None:
    per_second = CONFIG.rate_per_second * BYTES_PER_MESSAGE
    mbit = per_second * 8 / 1e6
    limits = _section("Limits and moderation")
    assert f"at most {per_second // KIB:g} KiB a second ({mbit:.2f} Mbit/s)" in " ".join(
        limits.split()
    )
    assert mbit < 2  # "a reader on a 2 Mbit/s link keeps up"


def _trust_text() -> str:
    return " ".join(
        (_section("Trust model") + _section("What the host can and cannot see")).split()
    )


def test_client_bounds_in_the_trust_model_are_the_code_constants() -> None:
    text = _trust_text()
    assert (
        f"at most {peer_keys.KEEP_EPOCHS} per room, {peer_keys.MAX_KEYS_PER_SENDER} per member "
        f"and {peer_keys.MAX_KEYS:,} in all" in text
    )
    burst, every = keyring.HELLO_BURST, 1 / keyring.HELLO_RATE
    assert burst <= 5  # "a few at once"
    assert f"then one every {every:g} s per member" in text
    assert f"({pending.MAX_PENDING_PER_SENDER} per sender;" in text


def test_known_peers_bounds_in_the_readme_are_the_code_constants() -> None:
    text = _trust_text()
    assert (
        f"bounded ({known_peers.MAX_PEERS_PER_HOST:,} nicks per host, "
        f"{known_peers.MAX_PEERS_TOTAL:,} in all)" in text
    )
    assert f"pins not seen for {known_peers.STALE_AFTER_DAYS} days" in text
    assert peer_trust.MAX_REMEMBERED > 0


def test_the_refusals_quoted_are_the_ones_sent() -> None:
    from severus_cli.core.host import limits
    from severus_cli.core.limits import registrations

    text = " ".join(_section("Limits and moderation").split())
    assert f"`{limits.TOO_MANY_MESSAGES}`" in text
    for other in (limits.TOO_MANY_BYTES, limits.TOO_MANY_REQUESTS, limits.TOO_MANY_CHANGES):
        assert f"`{other.removeprefix('slow down: too many ')}`" in text
    assert f"`{registrations.TOO_MANY_CONNECTIONS}`" in text
    refusal = room_shares.too_many_from_source(room_shares.rooms_per_source(CONFIG))
    assert f"(`{refusal.split(';')[0]}`)" in text
