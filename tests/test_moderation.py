"""Moderation: bans by key, the invite list, /kick /ban /unban /bans, in the host core."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.host.core import Action, Broadcast, Close, HostConfig, HostCore, Log, Send
from severus_cli.core.host.moderation import (
    MAX_ALLOW_FILE,
    MAX_BANS,
    MAX_DURATION,
    RECENT,
    Ban,
    Moderation,
    format_duration,
    load_allow_list,
    looks_like_duration,
    parse_allow_list,
    parse_duration,
    parse_target,
)
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire import packets as p
from severus_cli.errors import ConfigError, UsageError

NOW = 1000.0


def key(n: int) -> bytes:
    return bytes([n]) * 32


class Host:
    """A HostCore whose connection ``n`` always has key ``key(n)`` unless told otherwise."""

    def __init__(self, **config: object) -> None:
        self.core = HostCore(HostConfig(**config), NOW)  # type: ignore[arg-type]

    def connect(self, conn: int, ident: bytes | None = None, local: bool = False) -> list[Action]:
        self.core.accept(conn, NOW)
        return self.core.authenticated(conn, ident or key(conn), NOW, local=local)

    def join(self, conn: int, nick: str, ident: bytes | None = None, local: bool = False) -> None:
        assert self.connect(conn, ident, local) == []
        actions = self.core.receive(conn, p.encode(p.Hello(nick, "t", ())), NOW)
        assert isinstance(p.decode_from_host(_sends(actions)[conn][0]), p.Welcome)

    def drop(self, actions: list[Action] | tuple[Action, ...], now: float = NOW) -> list[Action]:
        """Carry out the closes, as the host loop would; what the others are told."""
        out: list[Action] = []
        for action in actions:
            if isinstance(action, Close):
                out += self.core.closed(action.conn, now, action.reason)
        return out


def _sends(actions: list[Action] | tuple[Action, ...]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for action in actions:
        if isinstance(action, Send):
            out.setdefault(action.conn, []).append(action.data)
    return out


def fatal(actions: list[Action] | tuple[Action, ...], conn: int) -> p.Error:
    """The fatal error ``conn`` is sent, which must come with its close."""
    packets = [p.decode_from_host(d) for d in _sends(actions).get(conn, [])]
    errors = [e for e in packets if isinstance(e, p.Error)]
    assert errors and errors[-1].fatal, packets
    assert conn in {a.conn for a in actions if isinstance(a, Close)}
    return errors[-1]


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        ("2H", 7200),
        (" 5m ", 300),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert looks_like_duration(text.strip())


@pytest.mark.parametrize("text", ["permanent", "perm", "forever", "PERMANENT"])
def test_permanent(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "-5m", "1.5h", "0s", "9999999999d", "10 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


@given(st.text(max_size=30))
def test_parse_duration_only_raises_usage_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except UsageError:
        return
    assert seconds is None or 0 < seconds <= 10 * 365 * 86400


def test_format_duration() -> None:
    assert format_duration(30) == "30s"
    assert format_duration(599.2) == "10m"
    assert format_duration(3600 + 61) == "1h 1m"
    assert format_duration(86400 * 2 + 3600 * 5 + 7) == "2d 5h"
    assert format_duration(0) == "1s"


# --- targets and the allow list ----------------------------------------------------------


def test_targets() -> None:
    fp = fingerprint(key(1))
    assert parse_target(fp) == (fp, None)
    assert parse_target("sha256:" + fp[7:]) == (fp, None)
    assert parse_target("@bob") == (None, "bob")
    for bad in ("", "bob smith", "\x1b]0;x\x07", "SHA256:short"):
        with pytest.raises(UsageError):
            parse_target(bad)


def test_allow_list_format(tmp_path: Path) -> None:
    one, two = fingerprint(key(1)), fingerprint(key(2))
    path = tmp_path / "allow"
    path.write_text(f"# friends\n\n{one}  bob's laptop\n   {two} # cy\n")
    assert load_allow_list(path) == {one, two}


def test_allow_list_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "allow"
    path.write_text(f"{fingerprint(key(1))}\nbob\n")
    with pytest.raises(ConfigError, match=r"allow, line 2: 'bob' is not a SHA256"):
        load_allow_list(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_allow_list(path)
    with pytest.raises(ConfigError, match=r"cannot read the invite list .*missing"):
        load_allow_list(tmp_path / "missing")


@given(st.text(max_size=400))
def test_allow_list_parser_only_raises_config_error(text: str) -> None:
    try:
        allowed = parse_allow_list(text, Path("allow"))
    except ConfigError as error:
        assert "allow, line " in error.message
        return
    assert all(fp.startswith("SHA256:") for fp in allowed)


# --- the ban list ------------------------------------------------------------------------


def test_bans_expire_and_are_found_by_key_or_nick() -> None:
    mod = Moderation()
    fp1, fp2 = fingerprint(key(1)), fingerprint(key(2))
    assert mod.add(Ban(fp1, "bob", NOW + 60, "spam"))
    assert mod.add(Ban(fp2, "cy", None))
    refusal = mod.refusal(key(1), NOW + 10)
    assert refusal is not None and refusal[0] == "banned" and "50s left" in refusal[1]
    assert "spam" in refusal[1]
    assert mod.refusal(key(1), NOW + 60) is None  # expired
    assert [b.nick for b in mod.active(NOW + 61)] == ["cy"]
    assert mod.remove("CY", NOW) is not None
    assert mod.active(NOW) == []
    assert mod.refusal(key(3), NOW) is None


def test_ban_list_is_bounded() -> None:
    mod = Moderation()
    for n in range(MAX_BANS):
        assert mod.add(Ban(f"SHA256:{n}", "", None))
    assert not mod.add(Ban("SHA256:one-too-many", "", None))
    assert mod.add(Ban("SHA256:0", "again", None))  # replacing one is fine


def test_recent_nicks_are_bounded() -> None:
    mod = Moderation()
    for n in range(RECENT + 10):
        mod.remember(f"n{n}", key(n % 250))
    assert mod.recent("n0") is None
    assert mod.recent(f"N{RECENT + 9}") == (f"n{RECENT + 9}", key((RECENT + 9) % 250))


def test_invite_list_refuses_others() -> None:
    mod = Moderation(frozenset({fingerprint(key(1))}))
    assert mod.refusal(key(1), NOW) is None
    refusal = mod.refusal(key(2), NOW)
    assert refusal is not None and refusal[0] == "not_invited"


# --- the host core -----------------------------------------------------------------------


def test_kick_sends_a_fatal_err_and_tells_the_others() -> None:
    host = Host()
    host.join(1, "ana", local=True)
    host.join(2, "bob")
    host.join(3, "cy")
    result = host.core.kick("BOB", "flooding", NOW)
    assert result.ok and result.message == "kicked bob"
    error = fatal(result.actions, 2)
    assert error.code == "kicked" and "flooding" in error.msg
    told = host.drop(result.actions)
    lefts = [p.decode_from_host(a.data) for a in told if isinstance(a, Broadcast)]
    assert lefts == [p.Left("bob", "lobby", 2, "kicked by the host: flooding")]
    assert host.core.participant_count == 2
    host.join(4, "bob", key(2))  # a kick is not a ban


def test_the_host_cannot_kick_or_ban_itself_or_nobody() -> None:
    host = Host()
    host.join(1, "ana", local=True)
    assert not host.core.kick("ana", "", NOW).ok
    assert not host.core.kick("nobody", "", NOW).ok
    assert not host.core.ban("ana", None, "", NOW).ok
    assert not host.core.ban(fingerprint(key(1)), None, "", NOW).ok
    assert not host.core.ban("nobody", None, "", NOW).ok
    assert host.core.bans(NOW) == []


def test_ban_by_nick_expels_and_keeps_the_key_out_under_any_nick() -> None:
    host = Host()
    host.join(1, "ana", local=True)
    host.join(2, "bob")
    result = host.core.ban("bob", NOW + 600, "spam", NOW)
    assert result.ok and fingerprint(key(2)) in result.message and "10m left" in result.message
    assert fatal(result.actions, 2).code == "banned"
    host.drop(result.actions)
    refused = host.connect(5, key(2))  # the same key, about to say another nick
    error = fatal(refused, 5)
    assert error.code == "banned" and "spam" in error.msg
    assert any(isinstance(a, Log) and "banned" in a.text for a in refused)
    assert host.core.receive(5, p.encode(p.Hello("bobby", "t", ())), NOW) == [
        Close(5, "packet before the handshake")
    ]
    assert host.connect(6, key(2), local=False) != []
    assert host.core.authenticated(7, key(2), NOW + 601) == []  # expired
    assert host.core.bans(NOW + 601) == []


def test_ban_by_fingerprint_expels_every_connection_of_that_key() -> None:
    host = Host()
    host.join(1, "ana", local=True)
    host.join(2, "bob")
    host.join(3, "bob2", key(2))
    host.join(4, "cy")
    result = host.core.ban(fingerprint(key(2)), None, "", NOW)
    assert result.ok and "permanent" in result.message
    assert {a.conn for a in result.actions if isinstance(a, Close)} == {2, 3}
    assert fatal(result.actions, 3).code == "banned"


def test_ban_someone_who_just_left_then_unban() -> None:
    host = Host()
    host.join(2, "bob")
    host.drop([Close(2, "quit")])
    assert host.core.ban("Bob", None, "", NOW).ok
    assert [b.nick for b in host.core.bans(NOW)] == ["bob"]
    assert fatal(host.connect(3, key(2)), 3).code == "banned"
    assert not host.core.unban("cy", NOW).ok
    assert host.core.unban("bob", NOW).ok
    assert host.connect(4, key(2)) == []
    assert host.core.ban(fingerprint(key(9)), None, "", NOW).ok  # never seen: by key only
    assert host.core.unban(fingerprint(key(9)), NOW).message == f"unbanned {fingerprint(key(9))}"


def test_invite_only_host() -> None:
    host = Host(allow=frozenset({fingerprint(key(2))}))
    host.join(1, "ana", key(1), local=True)  # the host's own participant needs no invite
    host.join(2, "bob")
    assert fatal(host.connect(3), 3).code == "not_invited"


def test_announced_message_limit_follows_the_frame_limit() -> None:
    host = Host(max_frame=4096, max_data=60000)
    assert host.connect(1) == []
    actions = host.core.receive(1, p.encode(p.Hello("bob", "t", ())), NOW)
    welcome = p.decode_from_host(_sends(actions)[1][0])
    assert isinstance(welcome, p.Welcome)
    assert welcome.limits.max_data == 4096 - 128
    seal = p.Seal(1, "lobby", b"x" * (4096 - 127))
    reply = p.decode_from_host(_sends(host.core.receive(1, p.encode(seal), NOW))[1][0])
    assert isinstance(reply, p.Error) and reply.code == "too_long" and not reply.fatal


def test_default_limits_keep_the_documented_wire_form() -> None:
    assert "max_data" not in p.RateLimits().to_wire()
    lowered = p.RateLimits(max_data=2000)
    welcome = p.Welcome("bob", "ana", (("bob", key(1)),), limits=lowered)
    decoded = p.decode_from_host(p.encode(welcome))
    assert isinstance(decoded, p.Welcome) and decoded.limits.max_data == 2000


# --- bounds, exactly at their limits --------------------------------------------------------


def test_a_ban_lasts_from_one_second_to_exactly_ten_years() -> None:
    assert parse_duration("1s") == 1.0
    assert parse_duration("3650d") == MAX_DURATION
    with pytest.raises(UsageError):
        parse_duration("3650d1s")


def test_format_duration_at_unit_boundaries() -> None:
    """A whole day or hour shows in that unit, never as 24h or 60m."""
    assert format_duration(86400) == "1d"
    assert format_duration(3600) == "1h"
    assert format_duration(60) == "1m"


def test_remaining_of_a_ban() -> None:
    assert Ban("SHA256:x", "bob", None).remaining(NOW) == "permanent"
    assert Ban("SHA256:x", "bob", NOW + 90).remaining(NOW) == "1m 30s left"


def test_a_ban_without_reason_says_none() -> None:
    mod = Moderation()
    mod.add(Ban(fingerprint(key(1)), "bob", None))
    assert mod.refusal(key(1), NOW) == ("banned", "you are banned from this host (permanent)")


def test_unban_by_nick_among_timed_bans() -> None:
    """Lifting a ban skips over timed ones still in force (their expiry compares to now)."""
    mod = Moderation()
    mod.add(Ban(fingerprint(key(1)), "bob", NOW + 60))
    mod.add(Ban(fingerprint(key(2)), "cy", NOW + 60))
    assert [b.nick for b in mod.active(NOW)] == ["bob", "cy"]
    lifted = mod.remove("cy", NOW)
    assert lifted is not None and lifted.nick == "cy"
    assert [b.nick for b in mod.active(NOW)] == ["bob"]


def test_recent_nicks_keep_exactly_recent_and_a_returning_nick_is_freshest() -> None:
    mod = Moderation()
    for n in range(RECENT):
        mod.remember(f"n{n}", key(n))
    assert mod.recent("n0") == ("n0", key(0))  # exactly RECENT are kept
    mod.remember("N0", key(200))  # seen again: now the most recent, under its new form
    mod.remember("extra", key(201))
    assert mod.recent("n0") == ("N0", key(200))
    assert mod.recent("n1") is None  # the oldest went instead


def test_a_comment_line_may_itself_contain_hashes() -> None:
    fp = fingerprint(key(1))
    assert parse_allow_list(f"# friends # and family\n{fp} # bob # laptop\n", Path("a")) == {fp}


def test_allow_list_size_bound_is_exact(tmp_path: Path) -> None:
    fp = fingerprint(key(1))
    line = f"{fp}\n"
    path = tmp_path / "allow"
    at_limit = line + "#" * (MAX_ALLOW_FILE - len(line) - 1) + "\n"
    path.write_text(at_limit)
    assert load_allow_list(path) == {fp}
    path.write_text(at_limit + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_allow_list(path)


def test_unreadable_allow_list_names_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file or directory"):
        load_allow_list(tmp_path / "missing")
