"""Limits and admission: per-address caps, the join secret (Noise PSK), frame and message
limits, host-only commands and where secrets come from."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from severus_cli.commands import secret as secret_mod
from severus_cli.commands.secret import join_secret
from severus_cli.core.client import events as ev
from severus_cli.core.client.core import SEAL_OVERHEAD, ClientCore
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.session import (
    HandshakeComplete,
    HopSession,
    PeerIdentity,
    Role,
    join_psk,
)
from severus_cli.errors import ConfigError, RemoteProtocolError, UsageError
from severus_cli.net.guard import ConnectionGuard, source_key
from severus_cli.runtime.controller import ChatController
from severus_cli.ui import input as cmd

CERT = bytes(range(32))


# --- per-address caps ------------------------------------------------------------------


def test_guard_caps_each_address_and_releases() -> None:
    guard = ConnectionGuard(2)
    first, second = guard.acquire("10.0.0.1"), guard.acquire("10.0.0.1")
    assert first == second == "10.0.0.1"
    assert guard.acquire("10.0.0.1") is None
    assert guard.acquire("10.0.0.2") == "10.0.0.2"
    assert guard.refused == 1
    guard.release("10.0.0.1")
    assert guard.count("10.0.0.1") == 1
    assert guard.acquire("10.0.0.1") is not None
    guard.release("10.0.0.1")
    guard.release("10.0.0.1")
    assert guard.count("10.0.0.1") == 0


def test_guard_zero_means_no_cap() -> None:
    guard = ConnectionGuard(0)
    assert all(guard.acquire("10.0.0.1") for _ in range(1000))


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::2")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("fe80::1%eth0") == source_key("fe80::2")
    assert source_key("not an address") == "not an address"


# --- the join secret -------------------------------------------------------------------


def handshake(client_psk: bytes | None, host_psk: bytes | None) -> tuple[HopSession, HopSession]:
    """Run the handshake as far as it goes; raise where it fails."""
    client = HopSession(Role.INITIATOR, os.urandom(32), CERT, psk=client_psk)
    host = HopSession(Role.RESPONDER, os.urandom(32), CERT, psk=host_psk)
    assert host.receive_data(client.data_to_send()) == []
    events = client.receive_data(host.data_to_send())
    assert isinstance(events[0], PeerIdentity)
    client.proceed()
    assert isinstance(host.receive_data(client.data_to_send())[0], HandshakeComplete)
    return client, host


def test_the_same_secret_completes_the_handshake() -> None:
    client, host = handshake(join_psk(b"hunter2", CERT), join_psk(b"hunter2", CERT))
    host.send(b"hi")
    assert client.receive_data(host.data_to_send())[0].data == b"hi"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("client_secret", "host_secret"),
    [(b"wrong", b"hunter2"), (None, b"hunter2"), (b"hunter2", None)],
)
def test_a_wrong_or_missing_secret_fails_at_the_first_message(
    client_secret: bytes | None, host_secret: bytes | None
) -> None:
    client = HopSession(
        Role.INITIATOR,
        os.urandom(32),
        CERT,
        psk=join_psk(client_secret, CERT) if client_secret else None,
    )
    host = HopSession(
        Role.RESPONDER,
        os.urandom(32),
        CERT,
        psk=join_psk(host_secret, CERT) if host_secret else None,
    )
    with pytest.raises(RemoteProtocolError) as failed:
        host.receive_data(client.data_to_send())
    assert failed.value.code == "bad_handshake"
    assert host.data_to_send() == b""  # a stranger gets no reply at all, not even a key


def test_psk_is_salted_per_host_and_fixed_size() -> None:
    other_cert = bytes(32)
    assert join_psk(b"x", CERT) != join_psk(b"y", CERT)
    assert join_psk(b"x", CERT) != join_psk(b"x", other_cert)  # a guess serves one host
    assert len(join_psk(b"", CERT)) == 32
    with pytest.raises(ValueError, match="PSK"):
        HopSession(Role.INITIATOR, os.urandom(32), CERT, psk=b"short")


# --- frame and message limits ----------------------------------------------------------


def test_frames_over_the_hosts_limit_are_refused_before_their_body() -> None:
    host = HopSession(Role.RESPONDER, os.urandom(32), CERT, max_frame=1024)
    with pytest.raises(RemoteProtocolError) as refused:
        host.receive_data(b"\x04\x01")  # announces 1025 bytes
    assert refused.value.code == "too_large"


def client_with(limits: p.RateLimits) -> ClientCore:
    core = ClientCore("bob", 0.0, static_private=os.urandom(32), static_public=bytes(32))
    welcome = p.Welcome("bob", "ana", (("bob", bytes(32)),), limits=limits)
    core.receive(p.encode(welcome), 0.0)
    return core


def test_client_keeps_under_the_announced_message_limit() -> None:
    core = client_with(p.RateLimits(max_data=2000))
    most = 2000 - SEAL_OVERHEAD
    assert core.say("x" * most, 1.0)[0] == ev.ChatMessage(1.0, "bob", "lobby", "x" * most, own=True)
    refused = core.say("x" * (most + 1), 1.0)
    assert isinstance(refused[0], ev.Notice) and "too long" in refused[0].text


# --- host-only commands ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "intent"),
    [
        ("/kick bob", cmd.Kick("bob")),
        ("/kick @bob stop  flooding", cmd.Kick("bob", "stop  flooding")),
        ("/ban bob", cmd.Ban("bob")),
        ("/ban bob 2h", cmd.Ban("bob", 7200.0)),
        ("/ban bob 1d spam and more", cmd.Ban("bob", 86400.0, "spam and more")),
        ("/ban bob permanent", cmd.Ban("bob", None)),
        ("/ban bob being rude", cmd.Ban("bob", None, "being rude")),
        ("/ban SHA256:abc 10m", cmd.Ban("SHA256:abc", 600.0)),
        ("/bans", cmd.ListBans()),
        ("/unban bob", cmd.Unban("bob")),
    ],
)
def test_moderation_commands_parse(line: str, intent: cmd.Intent) -> None:
    assert cmd.parse_line(line) == intent


@pytest.mark.parametrize("line", ["/kick", "/ban", "/unban", "/unban a b", "/ban bob 0s"])
def test_moderation_commands_need_their_arguments(line: str) -> None:
    assert isinstance(cmd.parse_line(line), cmd.BadCommand)


def test_help_marks_moderation_host_only() -> None:
    lines = cmd.help_lines()
    for name in ("/kick", "/ban", "/bans", "/unban"):
        at = next(i for i, text in enumerate(lines) if text.strip().startswith(name + " "))
        # A usage too long for its column has its summary on the next line.
        entry = lines[at] if "host only" in lines[at] else lines[at + 1]
        assert "host only" in entry, entry
        assert entry == lines[at] or not entry.strip().startswith("/"), entry


class Screen:
    def __init__(self) -> None:
        self.events: list[ev.UiEvent] = []

    def show_event(self, event: ev.UiEvent) -> None:
        self.events.append(event)

    def clear(self) -> None:
        pass


class Everyone:
    def __init__(self) -> None:
        self.core = ClientCore("bob", 0.0, static_private=os.urandom(32), static_public=bytes(32))

    def perform(self, action: object) -> None:
        raise AssertionError("a moderation command must not reach the network")


def test_a_joiner_cannot_moderate() -> None:
    screen = Screen()
    controller = ChatController(screen, clock=lambda: 5.0)
    controller.participant = Everyone()
    assert controller.handle("/kick ana")
    assert screen.events == [ev.Notice(5.0, "only the host can /kick, /ban and /unban", "error")]


# --- where secrets come from -----------------------------------------------------------


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVERUS_SECRET", "  hunter2\n")
    assert join_secret(True, None) == (b"hunter2", False)
    assert join_secret(False, None) == (None, False)


def test_host_makes_one_up_joiners_must_be_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEVERUS_SECRET", raising=False)
    made, generated = join_secret(True, None, generate=True)
    assert generated and made is not None and len(made) >= 20
    with pytest.raises(UsageError, match="SEVERUS_SECRET"):
        join_secret(True, None)


def test_secret_from_a_file_or_stdin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("from-file\nignored\n")
    assert join_secret(False, str(path)) == (b"from-file", False)
    monkeypatch.setattr(secret_mod, "read_line_unbuffered", lambda: "from-stdin")
    assert join_secret(False, "-") == (b"from-stdin", False)
    with pytest.raises(UsageError, match="stdin carries the messages"):
        join_secret(False, "-", stdin_allowed=False)
    with pytest.raises(ConfigError, match="cannot read the join secret"):
        join_secret(False, str(tmp_path / "missing"))
    path.write_text("\n")
    with pytest.raises(UsageError, match="empty"):
        join_secret(False, str(path))
    path.write_text("x" * 256)
    with pytest.raises(UsageError, match="longer than 255"):
        join_secret(False, str(path))


def test_read_line_unbuffered_leaves_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    os.write(write, b"first\nsecond\n")
    os.close(write)
    with os.fdopen(read, "r") as stream:
        monkeypatch.setattr("sys.stdin", stream)
        assert secret_mod.read_line_unbuffered() == "first"
        assert os.read(read, 100) == b"second\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("no fd\nhere\n"))
    assert secret_mod.read_line_unbuffered() == "no fd\n"


def test_a_paste_over_the_rate_limit_says_once_why_it_is_slow() -> None:
    core = client_with(p.RateLimits(burst=5, rate=2))
    notices = [e for i in range(12) for e in core.say(f"line {i}", 1.0) if isinstance(e, ev.Notice)]
    assert len(notices) == 1 and notices[0].level == "warn"
    assert "2 messages a second after a burst of 5; 1 waiting" in notices[0].text
    now = 1.0
    while core.queued:
        now += 0.5
        core.tick(now)
    again = core.say("later", now + 100) + core.say("x", now + 100)
    assert not any(isinstance(e, ev.Notice) for e in again)  # a new burst: nothing waits


def test_protocol_md_documents_the_secret_and_the_moderation_codes() -> None:
    import hashlib
    import re

    from severus_cli.core.wire.session import NOISE_NAME_PSK

    root = Path(__file__).resolve().parent.parent
    doc = (root / "PROTOCOL.md").read_text(encoding="utf-8")
    assert f"`{NOISE_NAME_PSK.decode()}`" in doc
    assert 'scrypt(secret, salt = "severus/3 join secret" || 0x00 || certificate hash' in doc
    assert "N = 2^15, r = 8, p = 1" in doc
    salt = b"severus/3 join secret\x00" + CERT
    scrypt = hashlib.scrypt(b"x", salt=salt, n=2**15, r=8, p=1, maxmem=64 << 20, dklen=32)
    assert join_psk(b"x", CERT) == scrypt
    source = "".join(
        (root / "severus_cli" / "core" / name).read_text(encoding="utf-8")
        for name in ("host/admin.py", "host/moderation.py")
    )
    codes = set(re.findall(r'_expel\([^"]*"([a-z_]+)"', source))
    codes |= set(re.findall(r'return "([a-z_]+)", ', source))
    assert codes == {"kicked", "banned", "not_invited"}
    for code in codes:
        assert f"| `{code}` | yes |" in doc, code


def test_errors_quoting_a_peer_reach_the_terminal_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from severus_cli.commands.errors import report
    from severus_cli.errors import RejectedError

    report(RejectedError("the host ended the session: \x1b]0;PWNED\x07 \x1b[2J \u202eevil"))
    shown = capsys.readouterr().err
    assert "\x1b]" not in shown and "\x1b[2J" not in shown and "\u202e" not in shown
    assert r"\x1b]0;PWNED\x07" in shown and r"\x1b[2J" in shown


class FakeLink:
    peer = "fake"

    def __init__(self) -> None:
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_a_bug_one_peer_reaches_closes_only_that_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    from severus_cli.core.host.core import HostConfig, HostCore
    from severus_cli.net.host_loop import HostLoop

    logs: list[str] = []
    loop = HostLoop(HostCore(HostConfig(), 0.0), os.urandom(32), CERT, log=logs.append)
    bad, good = FakeLink(), FakeLink()
    first, _ = loop.open(bad), loop.open(good)

    def bug(self: HopSession, data: bytes) -> list[object]:
        raise KeyError("a bug")

    monkeypatch.setattr(HopSession, "receive_data", bug)
    loop.feed(first, b"anything")  # must not raise into the event loop
    assert bad.closed and not good.closed
    assert loop.connection_count == 1
    assert any("internal error" in line and "a bug" in line for line in logs), logs
