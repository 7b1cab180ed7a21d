"""New registrations per source address (PROTOCOL.md 4.3), with no network at all:
a loop of connect, hello, disconnect makes the lobby hear joins and leaves, so each
address (an IPv6 /64 as one) gets a bucket of them, refused non-fatally when over."""

from __future__ import annotations

from severus_cli.core.host.core import Close, HostConfig, HostCore
from severus_cli.core.limits.registrations import (
    MAX_SOURCES,
    TOO_MANY_CONNECTIONS,
    RegistrationGate,
)
from severus_cli.core.limits.sources import source_key
from severus_cli.core.wire import packets as p
from tests.test_host_core import packets_for


def test_gate_bursts_then_refills_per_source() -> None:
    gate = RegistrationGate(10, 0.5)
    assert all(gate.allow("192.0.2.1", 0.0) for _ in range(10))
    assert not gate.allow("192.0.2.1", 0.0)
    assert gate.allow("192.0.2.2", 0.0)  # another address has its own
    assert not gate.allow("192.0.2.1", 1.9)
    assert gate.allow("192.0.2.1", 4.0)  # one every 2 s
    assert gate.allow("", 0.0)  # no source (the host's own participant): never limited
    assert gate.refused == 2


def test_ipv6_counts_per_64() -> None:
    gate = RegistrationGate(2, 0.5)
    a, b = source_key("2001:db8:1:2::1"), source_key("2001:db8:1:2:ffff::9")
    assert a == b
    assert gate.allow(a, 0.0) and gate.allow(b, 0.0)
    assert not gate.allow(source_key("2001:db8:1:2::77"), 0.0)


def test_gate_memory_is_bounded() -> None:
    gate = RegistrationGate(10, 0.5)
    for i in range(3 * MAX_SOURCES):
        gate.allow(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 0.0)
    assert len(gate) <= MAX_SOURCES


def test_zero_burst_means_no_limit() -> None:
    gate = RegistrationGate(0, 0.5)
    assert all(gate.allow("192.0.2.1", 0.0) for _ in range(100))


def _hello(core: HostCore, conn: int, nick: str, now: float, source: str) -> list[p.Packet]:
    core.accept(conn, now, source)
    core.authenticated(conn, bytes([conn % 256]) * 32, now)
    actions = core.receive(conn, p.encode(p.Hello(nick, "test")), now)
    return packets_for(actions).get(conn, [])


def test_a_reconnect_loop_makes_bounded_lobby_events() -> None:
    core = HostCore(HostConfig(), 0.0)
    core.accept(1, 0.0, "198.51.100.1")
    core.authenticated(1, b"\x01" * 32, 0.0)
    core.receive(1, p.encode(p.Hello("ana", "test")), 0.0)
    heard = 0
    now = 0.0
    for conn in range(2, 200):  # 20 s of a loop, 10 connections a second, new key each
        now += 0.1
        core.accept(conn, now, "203.0.113.9")
        core.authenticated(conn, bytes([conn]) * 32, now)
        actions = core.receive(conn, p.encode(p.Hello(f"x{conn}", "test")), now)
        got = packets_for(actions)
        answer = got[conn][0]
        if isinstance(answer, p.Welcome):
            heard += sum(isinstance(x, p.Joined) for x in got.get(1, []))
        else:
            assert isinstance(answer, p.Error)
            assert (answer.code, answer.msg, answer.fatal) == (
                "rate_limited",
                TOO_MANY_CONNECTIONS,
                False,
            )
            assert not [a for a in actions if isinstance(a, Close)]  # not fatal
        core.closed(conn, now, "disconnected")
    assert 10 <= heard <= 10 + 20 * 0.5 + 1  # the burst, then one per 2 s
    # The host's own address is not affected, nor is any other address.
    assert isinstance(_hello(core, 500, "bob", now, "198.51.100.2")[0], p.Welcome)


def test_a_refused_hello_may_be_said_again_later() -> None:
    core = HostCore(HostConfig(registration_burst=1), 0.0)
    assert isinstance(_hello(core, 1, "a", 0.0, "203.0.113.9")[0], p.Welcome)
    refused = _hello(core, 2, "b", 0.5, "203.0.113.9")
    assert isinstance(refused[0], p.Error) and refused[0].code == "rate_limited"
    again = packets_for(core.receive(2, p.encode(p.Hello("b", "test")), 2.6)).get(2, [])
    assert isinstance(again[0], p.Welcome)


def test_nick_taken_and_local_participant_spend_nothing() -> None:
    core = HostCore(HostConfig(registration_burst=1), 0.0)
    core.accept(1, 0.0)
    core.authenticated(1, b"\x01" * 32, 0.0, local=True)
    core.receive(1, p.encode(p.Hello("ana", "test")), 0.0)  # no source: not counted
    taken = _hello(core, 2, "ana", 0.0, "203.0.113.9")
    assert isinstance(taken[0], p.Error) and taken[0].code == "nick_taken"
    assert isinstance(_hello(core, 3, "bob", 0.0, "203.0.113.9")[0], p.Welcome)
