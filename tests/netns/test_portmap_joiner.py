"""A joiner behind a home router that maps ports, a host behind a symmetric NAT
(natlab.py: NAT-A symmetric, NAT-B a cone NAT running miniupnpd). Root and miniupnpd
only; CI has both.

The host's NAT sends its punches from a new port for each destination, which the
joiner's NAT drops. With ``join --map`` (the default) the joiner's router forwards the
punching port, the host's punches get in, the joiner answers the port they came from,
and the session is punched, not relayed; with ``--no-map`` it is relayed. The
joiner's mapping is gone once the path is chosen, and the punched chat goes on
without it. A router that stays silent costs the join nothing.

``SEVERUS_JOIN_MAP_TRIALS=N`` repeats each join N times and prints the numbers
(bench/README.md, "Joiner port mapping").
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.needs import unmet
from tests.netns.natlab import RELAY, NatLab, Process, require_root_and_tools
from tests.netns.test_nat_traversal import exchange, start_relay

EXTERNAL_B = "192.0.3.20"  # what miniupnpd on NAT-B reports, and NAT-B's source address
TRIALS = int(os.environ.get("SEVERUS_JOIN_MAP_TRIALS", "1"))
SILENT_ROUTER = """
table ip sev_silent {
  chain in { type filter hook input priority -10; policy accept;
    iifname "lan" udp dport { 1900, 5351 } drop
    iifname "lan" tcp dport 5000 drop
  }
}
"""


@pytest.fixture(scope="module")
def joiner_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatLab]:
    require_root_and_tools("miniupnpd")
    lab = NatLab(f"sevjm{os.getpid() % 100000}", tmp_path_factory.mktemp("joinmap"))
    try:
        lab.up()
        lab.set_nats("symmetric", "cone")
        lab.upnp("b")
        # A home router maps on the address it masquerades to: NAT-B's traffic leaves
        # from the address miniupnpd reports, as the relay only punches towards the
        # address a joiner connects from.
        nat_b = ["ip", "netns", "exec", lab.ns("natb"), "nft"]
        subprocess.run([*nat_b, "flush", "chain", "ip", "sev_nat", "post"], check=True)
        subprocess.run([*nat_b, "add", "rule", "ip", "sev_nat", "post", "oifname", "wan",
                        "snat", "to", EXTERNAL_B], check=True)  # fmt: skip
        # The public side routes between its two subnets, as the internet would.
        subprocess.run(["ip", "netns", "exec", lab.ns("pub"), "sysctl", "-qw",
                        "net.ipv4.ip_forward=1"], check=True)  # fmt: skip
    except subprocess.CalledProcessError as error:
        lab.down()
        unmet(f"cannot build namespaces here: {error.stderr or error}")
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def lab(joiner_lab: NatLab) -> Iterator[NatLab]:
    yield joiner_lab
    joiner_lab.stop_all()


def forget_flows(lab: NatLab) -> None:
    for nat in ("nata", "natb"):
        subprocess.run(["ip", "netns", "exec", lab.ns(nat), "conntrack", "-F"],
                       capture_output=True, check=False)  # fmt: skip


def start_host(lab: NatLab, port: int) -> tuple[Process, str]:
    host = lab.start(
        "a", "host", "--mode", "quic", "--no-chat", "--no-map", "--relay", RELAY,
        "--port", str(port), "--config-dir", str(lab.work / f"host-{port}"),
    )  # fmt: skip
    ticket = host.until(lambda line: line.startswith("sev"))
    host.until(lambda line: "relay: registered" in line)
    return host, ticket


def join(lab: NatLab, ticket: str, nick: str, *extra: str) -> tuple[Process, str, float]:
    """A JSON-mode participant in B; returns it, its path and process start to welcome."""
    started = time.monotonic()
    joiner = lab.start("b", "join", ticket, "--nick", nick, "--json",
                       "--config-dir", str(lab.work / nick), *extra)  # fmt: skip
    joiner.until(lambda line: '"event":"welcome"' in line, 40)
    seconds = time.monotonic() - started
    notice = joiner.until(lambda line: "connected over" in line)
    path = json.loads(notice)["text"].removeprefix("connected over ").split()[0]
    return joiner, path, seconds


def trials(lab: NatLab, port: int, *flags: str) -> dict[str, tuple[list[str], list[float]]]:
    """TRIALS joins with each of ``flags``, taking turns (so a busy machine slows all
    alike), each to a host of its own: a host punches towards one address only three
    times at once (core/nat/punch.py), which back-to-back joins would use up."""
    found: dict[str, tuple[list[str], list[float]]] = {flag: ([], []) for flag in flags}
    for trial in range(TRIALS):
        for flag in flags:
            host, ticket = start_host(lab, port)
            port += 1
            joiner, path, seconds = join(lab, ticket, f"bob{trial}", flag)
            found[flag][0].append(path)
            found[flag][1].append(seconds)
            joiner.stop()
            host.stop()
    for flag, (paths, times) in found.items():
        print(f"join {flag}: {paths.count('punched')}/{len(paths)} punched, process start to "
              f"welcome median {statistics.median(times):.2f} s (min {min(times):.2f}, "
              f"max {max(times):.2f})")  # fmt: skip
    return found


def udp_rules(lab: NatLab) -> list[str]:
    return [line for line in lab.mappings("b").splitlines() if "0x11" in line]


def test_a_mapped_joiner_punches_through_a_symmetric_nat_on_the_hosts_side(lab: NatLab) -> None:
    forget_flows(lab)
    start_relay(lab)
    found = trials(lab, 4600, "--no-map", "--map")
    assert set(found["--no-map"][0]) == {"relayed"}
    assert set(found["--map"][0]) == {"punched"}
    _, ticket = start_host(lab, 4599)
    carol, _, _ = join(lab, ticket, "carol", "--no-map")  # in B too: relayed, and chats
    bob, path, _ = join(lab, ticket, "bob", "--map")
    assert path == "punched"
    deadline = time.monotonic() + 10
    while udp_rules(lab) and time.monotonic() < deadline:  # deleted once the path is chosen
        time.sleep(0.05)
    assert not udp_rules(lab), lab.mappings("b")
    exchange(bob, carol, "bob", "punched past a symmetric NAT")  # the flow outlives the rule
    exchange(carol, bob, "carol", "and back")


def test_a_silent_router_costs_the_join_nothing(lab: NatLab) -> None:
    forget_flows(lab)
    start_relay(lab)
    subprocess.run(["ip", "netns", "exec", lab.ns("natb"), "nft", "-f", "-"],
                   input=SILENT_ROUTER, text=True, check=True)  # fmt: skip
    try:
        found = trials(lab, 4700, "--no-map", "--map")
    finally:
        subprocess.run(["ip", "netns", "exec", lab.ns("natb"), "nft", "delete", "table", "ip",
                        "sev_silent"], check=False)  # fmt: skip
    (paths, mapped), (_, unmapped) = found["--map"], found["--no-map"]
    assert set(paths) == {"relayed"}
    # Same path, same waits: the punch request never waits for the router. The margin
    # covers process start-up noise on a busy machine, not the mapper's 1.5 s budget.
    assert statistics.median(mapped) < statistics.median(unmapped) + 0.5
