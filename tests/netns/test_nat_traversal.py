"""Across NATs, with real processes: relay in public, host behind NAT-A, joiner behind
NAT-B (natlab.py builds the networks). Root only; CI runs as root.

- cone/cone: the joiner punches a direct QUIC path, which outlives the relay;
- symmetric on one or both sides: the chat goes through the relay, and a marker said
  in it never appears in the bytes the relay handles;
- the relay keeps serving while someone floods it and sends it garbage;
- discovery works with a standard STUN server (coturn) instead of the relay's own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.needs import require_tool, unmet
from tests.netns.natlab import PUBLIC, RELAY, NatLab, Process, require_root_and_tools

HOST_PORT = "4000"
FLOODER = "203.0.113.66"  # a second public address, so the flood has its own source
FLOOD = f"""
import os, socket, time
held = []
for i in range(120):
    s = socket.socket()
    s.bind(("{FLOODER}", 0))
    s.settimeout(2)
    try:
        s.connect(("{PUBLIC}", 3340))
        if i % 2:
            s.sendall(os.urandom(3000))  # garbage where a TLS ClientHello should be
    except OSError:
        continue
    held.append(s)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("{FLOODER}", 0))
stun = bytes.fromhex("000100002112a442") + os.urandom(12)
for i in range(3000):
    u.sendto(os.urandom(120) if i % 2 else stun, ("{PUBLIC}", 3340))
print("holding", len(held), flush=True)
time.sleep(300)
"""


@pytest.fixture(scope="module")
def nat_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatLab]:
    require_root_and_tools()
    lab = NatLab(f"sev{os.getpid() % 100000}", tmp_path_factory.mktemp("natlab"))
    try:
        lab.up()
    except subprocess.CalledProcessError as error:
        lab.down()
        unmet(f"cannot build namespaces here: {error.stderr.strip()}")
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def lab(nat_lab: NatLab) -> Iterator[NatLab]:
    yield nat_lab
    nat_lab.stop_all()


def start_relay(lab: NatLab, trace: Path | None = None) -> Process:
    env = {"SEVERUS_RELAY_TRACE": str(trace)} if trace else None
    relay = lab.start("pub", "relay", "--config-dir", str(lab.work / "relay"), env=env)
    relay.until(lambda line: line.startswith("Severus relay on"))
    return relay


def start_host(lab: NatLab, *extra: str) -> tuple[Process, str]:
    host = lab.start(
        "a", "host", "--mode", "quic", "--no-chat", "--relay", RELAY, "--port", HOST_PORT,
        "--config-dir", str(lab.work / "host"), *extra,
    )  # fmt: skip
    ticket = host.until(lambda line: line.startswith("sev"))
    host.until(lambda line: "relay: registered" in line)
    return host, ticket


def join(lab: NatLab, where: str, ticket: str, nick: str, *extra: str) -> tuple[Process, str]:
    """A JSON-mode participant; returns it and the path it says it connected over."""
    started = time.monotonic()
    joiner = lab.start(
        where, "join", ticket, "--nick", nick, "--json", "--config-dir", str(lab.work / nick),
        *extra,
    )  # fmt: skip
    joiner.until(lambda line: '"event":"welcome"' in line, 40)
    seconds = time.monotonic() - started
    notice = joiner.until(lambda line: "connected over" in line)
    path = json.loads(notice)["text"].removeprefix("connected over ")
    print(f"{nick} in {where}: {path.split()[0]} in {seconds:.2f} s (process start to welcome)")
    return joiner, path


def said(line: str, sender: str, text: str) -> bool:
    try:  # stderr is merged in: a line that is not an event is not a message either
        event = json.loads(line)
    except ValueError:
        return False
    return bool(
        event.get("event") == "message" and event.get("sender") == sender
        and event.get("text") == text
    )  # fmt: skip


def exchange(speaker: Process, listener: Process, nick: str, text: str) -> None:
    speaker.write(text)
    listener.until(lambda line: said(line, nick, text))


def chat_pair(lab: NatLab, ticket: str, *extra: str) -> tuple[Process, Process, str]:
    """carol on the host's LAN, bob behind the other NAT; bob's path."""
    carol, _ = join(lab, "a", ticket, "carol")
    bob, path = join(lab, "b", ticket, "bob", *extra)
    return carol, bob, path


def test_cone_nats_punch_a_direct_path_that_outlives_the_relay(lab: NatLab) -> None:
    lab.set_nats("cone", "cone")
    relay = start_relay(lab)
    host, ticket = start_host(lab)
    carol, bob, path = chat_pair(lab, ticket)
    assert path.startswith("punched")
    exchange(bob, carol, "bob", "hello across two NATs")
    relay.stop()
    host.until(lambda line: "relay:" in line and "registered" not in line)  # it noticed
    exchange(bob, carol, "bob", "the relay is gone and we still talk")
    exchange(carol, bob, "carol", "loud and clear")


@pytest.mark.parametrize("nats", [("cone", "symmetric"), ("symmetric", "symmetric")])
def test_symmetric_nat_goes_through_the_relay_which_sees_only_ciphertext(
    lab: NatLab, nats: tuple[str, str]
) -> None:
    lab.set_nats(*nats)
    trace = lab.work / f"relay-trace-{'-'.join(nats)}"
    relay = start_relay(lab, trace)
    _, ticket = start_host(lab)
    carol, bob, path = chat_pair(lab, ticket)
    assert path.startswith("relayed")
    marker = f"marker-{secrets.token_hex(12)}"
    exchange(bob, carol, "bob", marker)
    exchange(carol, bob, "carol", f"{marker}-back")
    bob.write("/msg carol " + marker + "-private")
    carol.until(lambda line: marker + "-private" in line)
    relay.stop()
    handled = trace.read_bytes()
    assert len(handled) > 2000  # the relay did carry the session ...
    assert b"\x17\x03\x03" in handled  # ... as TLS application data records ...
    assert b"dial" in handled  # (the trace does see what the relay reads in the clear)
    assert marker.encode() not in handled  # ... and never saw what was said
    assert marker.encode("utf-16-le") not in handled


def test_the_relay_keeps_serving_through_garbage_and_floods(lab: NatLab) -> None:
    lab.set_nats("cone", "symmetric")
    subprocess.run(
        ["ip", "-n", lab.ns("pub"), "addr", "replace", f"{FLOODER}/24", "dev", "br0"], check=True
    )
    relay = start_relay(lab)
    flood = lab.start("pub", "python3", "-c", FLOOD, cli=False)
    holding = flood.until(lambda line: line.startswith("holding"))
    assert int(holding.split()[1]) > 32  # more than the relay lets one address keep
    _, ticket = start_host(lab)
    carol, bob, path = chat_pair(lab, ticket)
    assert path.startswith("relayed")
    exchange(bob, carol, "bob", "served despite the flood")
    relay.until(lambda line: f"refused {FLOODER}: too many connections" in line)
    assert relay.proc.poll() is None


def test_discovery_with_a_standard_stun_server(lab: NatLab) -> None:
    """coturn answers the STUN requests; the relay's own UDP port is blocked, so
    punching can only work if our requests and its answers interoperate."""
    require_tool("turnserver", "coturn", why="a standard STUN server")
    lab.set_nats("cone", "cone")
    stun = f"{PUBLIC}:3478"
    lab.start(
        "pub", "turnserver", "-n", "--stun-only", "--listening-ip", PUBLIC,
        "--listening-port", "3478", "--no-cli", "--log-file", "stdout", cli=False,
    )  # fmt: skip
    block = """
table ip sev_block {
  chain in { type filter hook input priority 0; policy accept;
    udp dport 3340 drop
  }
}
"""
    subprocess.run(
        ["ip", "netns", "exec", lab.ns("pub"), "nft", "-f", "-"], input=block, text=True,
        check=True,
    )  # fmt: skip
    try:
        relay = start_relay(lab)
        _, ticket = start_host(lab, "--stun", stun)
        relay.until(lambda line: "public UDP 203.0.113.10:4000" in line)
        carol, bob, path = chat_pair(lab, ticket, "--stun", stun)
        assert path.startswith("punched")
        exchange(bob, carol, "bob", "found each other with coturn")
    finally:
        subprocess.run(
            ["ip", "netns", "exec", lab.ns("pub"), "nft", "delete", "table", "ip", "sev_block"],
            check=False,
        )
