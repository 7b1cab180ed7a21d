"""Who a punch may be aimed at, and how often, without sockets: the relay's check of
``punch`` against the requester's own address, its per-address caps by IPv6 /64,
and the host's own allowance per target."""

from __future__ import annotations

from severus_cli.core.limits.sources import source_key
from severus_cli.core.nat.punch import TARGET_BURST, TOTAL_BURST, PunchPolicy, punchable
from severus_cli.core.nat.relay import Close, RelayAction, RelayConfig, RelayCore, SendTo
from severus_cli.core.nat.relay_packets import (
    Peer,
    PunchRequest,
    PunchTo,
    Register,
    RelayError,
    decode_from_relay,
)
from severus_cli.core.wire.packets import Packet, encode

HOST = bytes(range(32))
HOST_UDP = ("203.0.113.10", 4000)


def sent(actions: list[RelayAction], conn: int) -> list[Packet]:
    return [decode_from_relay(a.data) for a in actions if isinstance(a, SendTo) and a.conn == conn]


def relay_with_host(**options: object) -> RelayCore:
    core = RelayCore(RelayConfig(**options))  # type: ignore[arg-type]
    assert core.open(1, HOST_UDP[0], 0.0) == []
    core.authenticated(1, HOST, 0.0)
    core.receive(1, encode(Register(HOST_UDP)), 0.0)
    return core


def joiner(core: RelayCore, conn: int, ip: str) -> None:
    assert core.open(conn, ip, 0.0) == []
    core.authenticated(conn, conn.to_bytes(32, "big"), 0.0)


def punch(core: RelayCore, conn: int, udp: tuple[str, int], now: float = 1.0) -> list[Packet]:
    """What the joiner gets back, then what the host gets."""
    actions = core.receive(conn, encode(PunchRequest(HOST, udp)), now)
    assert not any(isinstance(a, Close) for a in actions)  # never fatal
    return [*sent(actions, conn), *sent(actions, 1)]


def test_a_punch_at_someone_elses_address_is_refused_and_the_host_hears_nothing() -> None:
    core = relay_with_host()
    joiner(core, 2, "198.51.100.7")
    answers = punch(core, 2, ("192.0.2.99", 53))
    assert len(answers) == 1
    assert isinstance(answers[0], RelayError) and answers[0].code == "bad_address"
    assert not answers[0].fatal  # the participant may still dial


def test_a_punch_at_the_requesters_own_address_goes_through() -> None:
    core = relay_with_host()
    joiner(core, 2, "198.51.100.7")
    answers = punch(core, 2, ("198.51.100.7", 40000))
    assert answers[0] == Peer(HOST_UDP)
    assert answers[1] == PunchTo((2).to_bytes(32, "big"), ("198.51.100.7", 40000))  # to the host


def test_ipv6_punches_may_use_another_address_of_the_same_slash_64() -> None:
    core = relay_with_host()
    joiner(core, 2, "2001:db8:1:2::10")
    assert isinstance(punch(core, 2, ("2001:db8:1:2:abcd::1", 5000))[0], Peer)  # privacy addr
    refused = punch(core, 2, ("2001:db8:1:3::10", 5000))[0]
    assert isinstance(refused, RelayError) and refused.code == "bad_address"


def test_ipv4_mapped_addresses_match_their_ipv4_address() -> None:
    core = relay_with_host()
    joiner(core, 2, "198.51.100.7")
    assert isinstance(punch(core, 2, ("::ffff:198.51.100.7", 5000))[0], Peer)


def test_punches_are_limited_per_source_across_connections_and_keys() -> None:
    core = relay_with_host(punch_burst=4.0, punch_source_burst=6.0, punch_source_rate=1.0)
    for conn in range(2, 6):
        joiner(core, conn, "198.51.100.7")
    answers = [punch(core, conn, ("198.51.100.7", 4000))[0] for conn in range(2, 6) for _ in "ab"]
    assert sum(isinstance(a, Peer) for a in answers) == 6  # the source's burst, not 4 x 4
    assert isinstance(answers[-1], RelayError) and answers[-1].code == "rate_limited"
    joiner(core, 6, "198.51.100.8")  # another address has its own allowance
    assert isinstance(punch(core, 6, ("198.51.100.8", 4000))[0], Peer)
    assert isinstance(punch(core, 5, ("198.51.100.7", 4000), now=3.0)[0], Peer)  # refilled


def test_the_per_address_cap_counts_an_ipv6_slash_64_as_one_address() -> None:
    core = RelayCore(RelayConfig(max_per_ip=2))
    assert core.open(1, "2001:db8:0:1::1", 0.0) == []
    assert core.open(2, "2001:db8:0:1::2", 0.0) == []
    refused = core.open(3, "2001:db8:0:1:ffff::3", 0.0)
    assert any(isinstance(a, Close) for a in refused)
    assert core.open(4, "2001:db8:0:2::1", 0.0) == []  # the next /64 is someone else
    core.closed(1, 1.0)
    assert core.open(5, "2001:db8:0:1::9", 1.0) == []  # a slot came back


def test_source_key() -> None:
    assert source_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert source_key("fe80::1%eth0") == "fe80::/64"
    assert source_key("192.0.2.1") == "192.0.2.1"
    assert source_key("?") == "?"


def test_the_host_never_punches_where_no_participant_can_be() -> None:
    for host in ("224.0.0.1", "255.255.255.255", "0.0.0.0", "::", "ff02::1", "240.0.0.1"):
        assert not punchable(host), host
    for host in ("203.0.113.5", "10.0.0.2", "127.0.0.1", "2001:db8::1", "::ffff:198.51.100.1"):
        assert punchable(host), host
    policy = PunchPolicy()
    assert not policy.allow(("255.255.255.255", 9), 0.0)


def test_the_host_limits_punches_per_target_and_in_total() -> None:
    policy = PunchPolicy()
    target = ("198.51.100.7", 4000)
    allowed = [policy.allow(target, 0.0) for _ in range(10)]
    assert sum(allowed) == TARGET_BURST  # one target cannot spend the host's allowance
    assert policy.allow(("198.51.100.7", 4001), 0.0) is False  # (ports do not help)
    others = [policy.allow((f"198.51.100.{i}", 4000), 0.0) for i in range(20, 40)]
    assert sum(others) == TOTAL_BURST - TARGET_BURST  # the total still holds
    assert policy.allow(target, 20.0)  # later, both have refilled


def test_stun_answers_are_limited_per_slash_64() -> None:
    core = RelayCore(RelayConfig())
    answered = [core.stun_allowed(f"2001:db8:5:6::{i:x}", 0.0) for i in range(1, 41)]
    assert sum(answered) == 20  # one allowance for the whole /64, however many addresses
    assert core.stun_allowed("2001:db8:5:7::1", 0.0)  # the next /64 has its own
