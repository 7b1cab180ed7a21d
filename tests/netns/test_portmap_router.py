"""A host behind a home router that maps ports (miniupnpd on NAT-A, natlab.py), joined
by ticket from the public side with no relay. Root and miniupnpd only; CI has both.

- in direct (TCP) and QUIC (UDP) mode the router's mapping exists while the host runs,
  the ticket and the printed addresses carry the external address, a joiner on the
  public side chats both ways with one on the LAN, and the mapping is gone soon after
  the host stops (SIGTERM, with or without a chat, or /quit in its chat);
- ``--no-map`` maps nothing;
- a router with no public address of its own (NAT-B: miniupnpd on a WAN with only a
  reserved address, as behind carrier-grade NAT) gets the one-line notice and --relay.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.needs import unmet
from tests.netns.natlab import NatLab, Process, require_root_and_tools
from tests.netns.test_nat_traversal import exchange

EXTERNAL = "192.0.3.10"


@pytest.fixture(scope="module")
def router_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatLab]:
    require_root_and_tools("miniupnpd")
    lab = NatLab(f"sevpm{os.getpid() % 100000}", tmp_path_factory.mktemp("portmap"))
    try:
        lab.up()
        lab.upnp("a")
        lab.upnp("b", "100.64.0.20")
    except subprocess.CalledProcessError as error:
        lab.down()
        unmet(f"cannot build namespaces here: {error.stderr.strip()}")
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def lab(router_lab: NatLab) -> Iterator[NatLab]:
    yield router_lab
    router_lab.stop_all()


def start_host(lab: NatLab, where: str, port: int, *extra: str) -> tuple[Process, str, float]:
    started = time.monotonic()
    host = lab.start(
        where, "host", "--port", str(port), "--nick", "ana",
        "--config-dir", str(lab.work / f"host-{port}"), *extra,
    )  # fmt: skip
    ticket = host.until(lambda line: line.startswith("sev"))
    return host, ticket, time.monotonic() - started


def join(lab: NatLab, where: str, ticket: str, nick: str) -> tuple[Process, float]:
    started = time.monotonic()
    joiner = lab.start(where, "join", ticket, "--nick", nick, "--json",
                       "--config-dir", str(lab.work / nick))  # fmt: skip
    joiner.until(lambda line: '"event":"welcome"' in line)
    return joiner, time.monotonic() - started


def rule(port: int, transport: str) -> str:
    number = "0x11" if transport == "udp" else "0x6"
    return f"{number} th dport {port} dnat ip to 10.0.1.2:{port}"


def gone_within(lab: NatLab, text: str, seconds: float) -> float:
    """How long until ``text`` leaves NAT-A's mapping rules (polled; bounded)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if text not in lab.mappings("a"):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"mapping still there after {seconds} s:\n{lab.mappings('a')}")


@pytest.mark.parametrize("mode", ["direct", "quic"])
def test_a_mapped_host_is_joined_from_outside_with_no_relay(lab: NatLab, mode: str) -> None:
    port, transport = (4100, "tcp") if mode == "direct" else (4200, "udp")
    host, ticket, to_ticket = start_host(lab, "a", port, "--mode", mode, "--no-chat")
    listed = "\n".join(host.lines)
    assert f"{EXTERNAL}:{port}  via the router, PCP" in listed
    assert rule(port, transport) in lab.mappings("a")
    carol, _ = join(lab, "a", ticket, "carol")
    bob, to_welcome = join(lab, "pub", ticket, "bob")  # only the mapped address is reachable
    exchange(bob, carol, "bob", "hello through the router's mapping")
    exchange(carol, bob, "carol", "and back")
    host.stop()  # SIGTERM
    removed = gone_within(lab, rule(port, transport), 5)
    print(f"{mode}: host to ticket {to_ticket:.2f} s, join to welcome {to_welcome:.2f} s, "
          f"mapping removed {removed:.2f} s after SIGTERM returned")  # fmt: skip


def test_quit_in_the_hosts_chat_removes_the_mapping(lab: NatLab) -> None:
    host, _, _ = start_host(lab, "a", 4300)
    assert rule(4300, "tcp") in lab.mappings("a")
    host.write("/quit")
    assert host.proc.wait(timeout=10) == 0
    gone_within(lab, rule(4300, "tcp"), 5)


def test_sigterm_to_a_chatting_host_removes_the_mapping(lab: NatLab) -> None:
    host, _, _ = start_host(lab, "a", 4350)
    assert rule(4350, "tcp") in lab.mappings("a")
    host.proc.terminate()
    assert host.proc.wait(timeout=10) == -15  # still ended by the signal, as before
    gone_within(lab, rule(4350, "tcp"), 5)


def test_no_map_maps_nothing(lab: NatLab) -> None:
    host, _, seconds = start_host(lab, "a", 4400, "--no-chat", "--no-map")
    assert not any("via the router" in line or "port mapping" in line for line in host.lines)
    assert "dport 4400" not in lab.mappings("a")
    print(f"--no-map: host to ticket {seconds:.2f} s")


def test_a_router_without_a_public_address_says_so_and_points_to_the_relay(lab: NatLab) -> None:
    host, _, seconds = start_host(lab, "b", 4500, "--no-chat")
    (note,) = [line for line in host.lines if line.startswith("port mapping")]
    assert "said no" in note and "--relay" in note, note
    assert "no public address" in note or "behind another NAT" in note, note
    print(f"refusing router: host to ticket {seconds:.2f} s; {note}")
