"""HostCore's allowances: bytes, requests, membership changes, rooms per participant.

Each test plays a participant that sends as fast as it can and checks what an honest
one next to it receives, with a simulated clock and no network.
"""

from __future__ import annotations

import pytest

from severus_cli.core.client.requests import Requests
from severus_cli.core.host.core import Action, HostConfig, HostCore
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import MAX_DATA
from tests.test_host_core import Host, closes, error_msg, fatal, packets_for, reply_error

BIG = b"x" * MAX_DATA  # the largest message the host relays


def delivered(actions: list[Action], conn: int) -> int:
    """Bytes of message data ``conn`` receives from these actions."""
    got = packets_for(actions).get(conn, [])
    return sum(len(x.data) for x in got if isinstance(x, (p.Sealed, p.Relayed)))


def test_a_burst_of_the_largest_messages_stops_at_the_byte_allowance() -> None:
    host = Host()
    host.crowd("mallory", "bob")
    byte_limit = host.core.config.byte_limit
    assert byte_limit is not None
    allowed = int(byte_limit[0] // MAX_DATA)
    for i in range(allowed):
        assert packets_for(host.receive(1, p.Seal(i, "lobby", BIG)))[1] == [p.Ok(i)]
    actions = host.receive(1, p.Seal(99, "lobby", BIG))
    reply_error(actions, 1, 99, "rate_limited")
    assert "bytes" in error_msg(actions)
    # Small messages still fit in what is left, and the message bucket was not spent
    # by the refusal.
    assert packets_for(host.receive(1, p.Seal(100, "lobby", b"hi")))[1] == [p.Ok(100)]


@pytest.mark.parametrize("how", ["seal", "dm", "key", "hs"])
def test_one_sender_flat_out_for_a_minute_stays_under_a_slow_link(how: str) -> None:
    """Whatever the kind, one sender's bytes to one recipient are bounded by the byte
    allowance: a burst well under the backlog, then a rate well under 2 Mbit/s."""
    host = Host()
    host.crowd("mallory", "bob")
    config = host.core.config
    assert config.byte_limit is not None
    burst, rate = config.byte_limit
    start, total, worst_second, second, second_start = host.now, 0, 0, 0, host.now
    request = 0
    while host.now - start < 60:
        host.now += 0.01  # 100 tries a second: more than any bucket allows
        for _ in range(3):
            request += 1
            packet: p.Packet = (
                p.Seal(request, "lobby", BIG)
                if how == "seal"
                else p.Relay(request, "bob", how, BIG)
            )
            actions = host.receive(1, packet)
            assert not closes(actions) or 1 in closes(actions)
            if closes(actions):  # flooding past its strikes: dropped, bob is fine
                break
            got = delivered(actions, 2)
            total += got
            second += got
        if closes(actions):
            break
        if host.now - second_start >= 1:
            worst_second = max(worst_second, second)
            second, second_start = 0, host.now
    assert total <= burst + 60 * rate
    assert worst_second <= burst + rate
    assert burst <= config.max_backlog / 4
    assert rate <= 250_000 / 2  # half of a 2 Mbit/s link


def test_a_paced_sender_is_never_dropped_for_strikes() -> None:
    """Hitting the limit now and then costs a strike; strikes come back over time."""
    host = Host()
    host.crowd("ana", "bob")
    for i in range(3000):  # 5 minutes of one large message every 0.1 s
        host.now += 0.1
        actions = host.receive(1, p.Seal(i, "lobby", BIG))
        assert not closes(actions)


def test_a_flood_is_cut_off_after_its_strikes() -> None:
    host = Host()
    host.crowd("mallory", "bob")
    config = host.core.config
    refused = 0
    for i in range(10_000):
        actions = host.receive(1, p.Names(i, "lobby"))
        if closes(actions):
            fatal(actions, 1, "rate_limited")
            break
        if p.Error(i, "rate_limited", error_msg(actions), False) in packets_for(actions)[1]:
            refused += 1
    else:
        pytest.fail("a flood of requests was never cut off")
    assert i == config.request_burst + config.strike_burst
    # The others did not hear a thing about it beyond mallory leaving.
    left = packets_for(host.core.closed(1, host.now, "rate limited"))
    assert set(left) == {2} and isinstance(left[2][0], p.Left)


@pytest.mark.parametrize(
    "packet",
    [p.Names(1, "lobby"), p.ListRooms(1), p.Whois(1, "bob"), p.Ping(1), p.Join(1, "lobby")],
)
def test_every_request_type_is_charged(packet: p.Packet) -> None:
    host = Host(request_burst=3, request_per_second=0.01)
    host.crowd("mallory", "bob")
    for _ in range(3):
        assert "rate_limited" not in str(packets_for(host.receive(1, packet)))
    actions = host.receive(1, packet)
    reply_error(actions, 1, 1, "rate_limited")
    # Messages have their own allowance.
    assert packets_for(host.receive(1, p.Seal(2, "lobby", b"x")))[1] == [p.Ok(2)]


def test_pings_before_hello_are_charged_too() -> None:
    host = Host(request_burst=2, request_per_second=0.01)
    host.connect(1)
    assert packets_for(host.receive(1, p.Ping(1))) == {1: [p.Pong(1)]}
    assert packets_for(host.receive(1, p.Ping(2))) == {1: [p.Pong(2)]}
    reply_error(host.receive(1, p.Ping(3)), 1, 3, "rate_limited")


def test_join_part_flood_reaches_a_member_a_few_times_a_second() -> None:
    """The finding: one participant joining and parting a room as fast as it could made
    its members see tens of thousands of events a second."""
    host = Host()
    host.crowd("mallory", "bob")
    host.receive(2, p.Join(1, "den"))
    config = host.core.config
    events, request, start = 0, 0, host.now
    while host.now - start < 10:
        host.now += 0.05
        for packet in (p.Join(request, "den"), p.Part(request + 1, "den")):
            request += 2
            actions = host.receive(1, packet)
            events += sum(
                isinstance(x, (p.Joined, p.Left)) for x in packets_for(actions).get(2, [])
            )
    assert events <= config.membership_burst + 10 * config.membership_per_second
    assert events >= config.membership_burst  # allowed, just slowly


def test_joining_or_leaving_a_room_nobody_else_is_in_is_free() -> None:
    host = Host(membership_burst=1, membership_per_second=0.001)
    host.crowd("ana", "bob")
    for i in range(10):
        assert isinstance(packets_for(host.receive(1, p.Join(i, f"solo{i}")))[1][0], p.Users)
    for i in range(10):
        assert packets_for(host.receive(1, p.Part(i, f"solo{i}")))[1] == [p.Ok(i)]
    host.receive(2, p.Join(50, "den"))
    assert isinstance(packets_for(host.receive(1, p.Join(51, "den")))[1][0], p.Users)
    reply_error(host.receive(1, p.Part(52, "den")), 1, 52, "rate_limited")
    # Joining a room one is already in changes nothing and costs nothing.
    assert isinstance(packets_for(host.receive(1, p.Join(53, "den")))[1][0], p.Users)


def test_one_participant_cannot_take_every_room() -> None:
    host = Host(max_rooms=40, max_rooms_per_user=16)
    host.crowd("mallory", "bob")
    for i in range(16):
        assert isinstance(packets_for(host.receive(1, p.Join(i, f"r{i}")))[1][0], p.Users)
    actions = host.receive(1, p.Join(16, "r16"))
    reply_error(actions, 1, 16, "too_many_rooms")
    assert "16 rooms" in error_msg(actions)
    assert host.core.room_count == 16
    # Someone else still creates rooms, and mallory may enter again after parting one.
    assert isinstance(packets_for(host.receive(2, p.Join(1, "mine")))[2][0], p.Users)
    host.receive(1, p.Part(17, "r0"))
    assert isinstance(packets_for(host.receive(1, p.Join(18, "mine")))[1][0], p.Users)


def test_hello_rejoins_no_more_rooms_than_the_cap() -> None:
    host = Host(max_rooms_per_user=3)
    rooms = tuple(f"r{i}" for i in range(10))
    welcome = packets_for(host.join(1, "ana", rooms))[1][0]
    assert isinstance(welcome, p.Welcome) and welcome.rooms == ("r0", "r1", "r2")


def test_the_hosts_own_participant_is_refused_but_never_cut_off() -> None:
    host = Host(request_burst=1, request_per_second=0.001, strike_burst=1, strike_per_second=0.001)
    host.core.accept(1, host.now)
    host.core.authenticated(1, bytes(32), host.now, local=True)
    host.receive(1, p.Hello("ana", "test", ()))
    for i in range(100):
        assert not closes(host.receive(1, p.Names(i, "lobby")))


def test_no_byte_limit_when_messages_are_unlimited() -> None:
    host = Host(rate_burst=1e6, rate_per_second=1e6)
    host.crowd("ana", "bob")
    for i in range(100):
        assert packets_for(host.receive(1, p.Seal(i, "lobby", BIG)))[1] == [p.Ok(i)]


def test_the_client_paces_large_messages_so_the_host_refuses_none() -> None:
    """The reference client keeps under the byte allowance the host does not announce,
    counting the handshakes and keys it sends at once."""
    now = 1000.0
    core = HostCore(HostConfig(), now)
    for conn in (1, 2):
        core.accept(conn, now)
        core.authenticated(conn, bytes([conn]) * 32, now)
        core.receive(conn, p.encode(p.Hello(f"u{conn}", "test", ())), now)
    requests = Requests(p.RateLimits(), now)
    for _ in range(40):  # a key hand-out goes at once, before each large paced message
        requests.ask(p.Relay(requests.new_id(), "u2", "key", BIG[:300]), "key", now)
        requests.ask(p.Seal(requests.new_id(), "lobby", BIG), "seal", now, paced=True)
    sent = 0
    while sent < 80:
        for data in requests.take():
            actions = core.receive(1, data, now)
            assert "rate_limited" not in str(packets_for(actions)), (sent, now)
            sent += 1
        now += 0.05
        requests.release(now)
        assert now < 1000.0 + 120
    # ...and it takes about as long as the allowance says, not much longer.
    byte_limit = HostConfig().byte_limit
    assert byte_limit is not None
    needed = (40 * (MAX_DATA + 300) - byte_limit[0]) / byte_limit[1]
    assert now - 1000.0 < needed / 0.8


def test_the_byte_allowance_follows_the_message_limits() -> None:
    """Derived from what the welcome announces, so a client knows it with no new field;
    a burst always holds one message of the largest size."""
    assert HostConfig().byte_limit == (30 * 8192, 10 * 8192)
    assert HostConfig(rate_burst=3, rate_per_second=1).byte_limit == (MAX_DATA, 8192)
    assert HostConfig(rate_burst=1e6, rate_per_second=1e6).byte_limit is None


def test_a_message_refused_for_its_count_spends_no_bytes() -> None:
    host = Host(rate_burst=2, rate_per_second=0.01)  # bytes: 65,000 at once, 82 a second
    host.crowd("ana", "bob")
    assert packets_for(host.receive(1, p.Seal(1, "lobby", b"x" * 30_000)))[1] == [p.Ok(1)]
    assert packets_for(host.receive(1, p.Seal(2, "lobby", b"x")))[1] == [p.Ok(2)]
    actions = host.receive(1, p.Seal(3, "lobby", b"x" * 30_000))
    reply_error(actions, 1, 3, "rate_limited")
    assert "messages" in error_msg(actions)
    host.now += 100  # one message back, and 8 KiB
    assert packets_for(host.receive(1, p.Seal(4, "lobby", b"x" * 40_000)))[1] == [p.Ok(4)]
