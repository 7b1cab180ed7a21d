"""The router's external address changes under a mapped host (miniupnpd on NAT-A is
restarted on another address, as after a reboot or a new address from the provider):
the lease renewal learns it, the host prints the new ticket in one line, and a friend
on the public side joins with that ticket. Root and miniupnpd only; CI has both.

miniupnpd here grants PCP leases of 30 s at most (``max_lifetime``), so the host renews
after 15 s instead of 150 s.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from severus_cli.core.trust.ticket import Endpoint, decode_ticket
from tests.needs import unmet
from tests.netns.natlab import _MINIUPNPD_CONF, NatLab, require_root_and_tools

FIRST, SECOND = "192.0.3.10", "192.0.3.11"
PORT = 4800


def start_router(lab: NatLab, external: str) -> subprocess.Popen[str]:
    """miniupnpd on NAT-A reporting ``external``, with 20-30 s PCP leases."""
    run = lab.work / f"moved-{external}"
    run.mkdir(exist_ok=True)
    config = run / "miniupnpd.conf"
    config.write_text(
        _MINIUPNPD_CONF.format(n=1, ext=f"ext_ip={external}") + "min_lifetime=20\nmax_lifetime=30\n"
    )
    command = ["ip", "netns", "exec", lab.ns("nata"), "miniupnpd", "-f", str(config), "-d",
               "-P", str(run / "pid")]  # fmt: skip
    with (run / "miniupnpd.log").open("w") as out:
        router = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
    lab.routers.append(router)
    lab.wait_for_port("nata", 5351, "udp")
    return router


def stop_router(lab: NatLab, router: subprocess.Popen[str]) -> None:
    router.terminate()
    router.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until its port is free for the next one
        listed = subprocess.run(["ip", "netns", "exec", lab.ns("nata"), "ss", "-lnu"],
                                capture_output=True, text=True, check=False).stdout  # fmt: skip
        if ":5351 " not in listed:
            return
        time.sleep(0.05)
    raise AssertionError("miniupnpd did not stop")


@pytest.fixture
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatLab]:
    require_root_and_tools("miniupnpd")
    lab = NatLab(f"sevmv{os.getpid() % 100000}", Path(tmp_path_factory.mktemp("moved")))
    try:
        lab.up()
        lab.upnp("a")  # chains, addresses and the DNAT accept rule; replaced below
        stop_router(lab, lab.routers.pop())
        wan = ["ip", "-n", lab.ns("nata"), "addr", "add", f"{SECOND}/24", "dev", "wan"]
        subprocess.run(wan, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        lab.down()
        unmet(f"cannot build namespaces here: {error.stderr}")
    try:
        yield lab
    finally:
        lab.down()


def test_a_moved_mapping_reprints_the_ticket_and_the_new_one_works(lab: NatLab) -> None:
    router = start_router(lab, FIRST)
    host = lab.start("a", "host", "--mode", "quic", "--no-chat", "--port", str(PORT),
                     "--nick", "ana", "--config-dir", str(lab.work / "host"))  # fmt: skip
    printed = host.until(lambda line: line.startswith("sev"))
    assert f"{FIRST}:{PORT}  via the router, PCP (lease 30 s, renewed)" in "\n".join(host.lines)
    assert decode_ticket(printed).endpoints[0] == Endpoint("quic", FIRST, PORT)
    host.until(lambda line: "Serving without a chat participant" in line)
    stop_router(lab, router)
    start_router(lab, SECOND)
    started = time.monotonic()
    notice = host.until(lambda line: "the ticket changed" in line, 40)  # renewal after 15 s
    waited = time.monotonic() - started
    changed = notice.split()[-1]
    assert changed != printed
    assert decode_ticket(changed).endpoints[0] == Endpoint("quic", SECOND, PORT)
    assert FIRST not in {e.host for e in decode_ticket(changed).endpoints}
    bob = lab.start("pub", "join", changed, "--nick", "bob", "--json",
                    "--config-dir", str(lab.work / "bob"))  # fmt: skip
    bob.until(lambda line: '"event":"welcome"' in line)
    host.until(lambda line: "bob" in line)  # a later line: the notice came once
    assert [line for line in host.lines if "the ticket changed" in line] == [notice]
    print(f"router restarted on {SECOND}: new ticket printed {waited:.1f} s later")
