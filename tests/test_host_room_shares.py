"""HostCore's cap on the rooms one source address holds (room_shares), with a simulated
clock and no network: one address, with every connection it may open, cannot take
every room."""

from __future__ import annotations

from pathlib import Path

from severus_cli.core.host.core import HostConfig
from severus_cli.core.limits.room_shares import (
    ROOMS_PER_SOURCE_SHARE,
    rooms_per_source,
    too_many_from_source,
)
from severus_cli.core.wire import packets as p
from tests.test_host_core import Host, error_msg, key_for, packets_for, reply_error

ATTACKER = "203.0.113.7"
OTHER = "198.51.100.9"


def arrive(host: Host, conn: int, nick: str, source: str) -> None:
    host.core.accept(conn, host.now, source)
    assert host.core.authenticated(conn, key_for(conn), host.now) == []
    welcome = packets_for(host.receive(conn, p.Hello(nick, "test", ())))[conn][0]
    assert isinstance(welcome, p.Welcome), welcome


def entered(host: Host, conn: int, request: int, room: str) -> bool:
    got = packets_for(host.receive(conn, p.Join(request, room)))[conn][0]
    return isinstance(got, p.Users)


def test_the_default_share_is_an_eighth_of_the_rooms() -> None:
    assert rooms_per_source(HostConfig()) == 32
    assert rooms_per_source(HostConfig(max_rooms=4)) == 1
    assert rooms_per_source(HostConfig(max_rooms_per_ip=5)) == 5
    assert rooms_per_source(HostConfig(max_rooms_per_ip=0)) == 0


def test_one_address_with_many_connections_cannot_take_every_room() -> None:
    host = Host(max_rooms=40, max_rooms_per_user=4, max_rooms_per_ip=5)
    for conn in (1, 2):
        arrive(host, conn, f"sq{conn}", ATTACKER)
    arrive(host, 3, "bob", OTHER)
    assert all(entered(host, 1, i, f"a{i}") for i in range(4))
    assert entered(host, 2, 10, "b0")
    actions = host.receive(2, p.Join(11, "b1"))
    reply_error(actions, 2, 11, "too_many_rooms")
    assert "your address holds 5 rooms" in error_msg(actions)
    assert host.core.rooms_held(ATTACKER) == 5
    # Someone from another address still creates rooms, and the attacker may join
    # rooms others hold.
    assert entered(host, 3, 20, "open")
    assert entered(host, 2, 12, "open")
    # Leaving one of its rooms gives the address its place back.
    host.receive(1, p.Part(5, "a0"))
    assert entered(host, 2, 13, "b1")


def test_a_room_it_created_counts_while_it_is_in_it() -> None:
    host = Host(max_rooms_per_ip=2)
    arrive(host, 1, "sq", ATTACKER)
    arrive(host, 2, "bob", OTHER)
    assert entered(host, 1, 1, "one") and entered(host, 1, 2, "two")
    assert entered(host, 2, 3, "one")  # someone else joining does not free the place
    reply_error(host.receive(1, p.Join(4, "three")), 1, 4, "too_many_rooms")
    # A room someone else created, that it is alone in, counts too.
    assert entered(host, 2, 5, "bobs") and entered(host, 1, 6, "bobs")
    host.receive(2, p.Part(7, "bobs"))
    host.receive(1, p.Part(8, "two"))
    assert host.core.rooms_held(ATTACKER) == 2
    reply_error(host.receive(1, p.Join(9, "two")), 1, 9, "too_many_rooms")


def test_an_ipv6_prefix_counts_as_one_and_hello_rejoins_within_the_share() -> None:
    host = Host(max_rooms_per_ip=2)
    arrive(host, 1, "sq", "2001:db8::/64")
    assert entered(host, 1, 1, "one") and entered(host, 1, 2, "two")
    host.core.accept(2, host.now, "2001:db8::/64")
    host.core.authenticated(2, key_for(2), host.now)
    welcome = packets_for(host.receive(2, p.Hello("sq2", "test", ("three", "one"))))[2][0]
    assert isinstance(welcome, p.Welcome) and welcome.rooms == ("one",)


def test_the_hosts_own_participant_and_unknown_sources_are_not_counted() -> None:
    host = Host(max_rooms_per_ip=1)
    host.core.accept(1, host.now)
    host.core.authenticated(1, key_for(1), host.now, local=True)
    host.receive(1, p.Hello("ana", "test", ()))
    assert all(entered(host, 1, i, f"r{i}") for i in range(5))


def test_no_cap_with_zero() -> None:
    host = Host(max_rooms_per_ip=0, max_rooms_per_user=8)
    arrive(host, 1, "sq", ATTACKER)
    assert all(entered(host, 1, i, f"r{i}") for i in range(8))


def test_the_documents_give_the_codes_numbers() -> None:
    root = Path(__file__).resolve().parent.parent
    share = rooms_per_source(HostConfig())
    protocol = (root / "PROTOCOL.md").read_text(encoding="utf-8")
    assert "| rooms held |" in protocol
    assert f"`msg` `{too_many_from_source(share)}`" in protocol
    readme = (root / "README.md").read_text(encoding="utf-8")
    row = f"| {share} (`--max-rooms` / {ROOMS_PER_SOURCE_SHARE}) | `--max-rooms-per-ip N`"
    assert row in readme
