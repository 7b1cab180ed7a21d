"""Two home networks behind two NAT routers and a public network, in namespaces.

A copy of what tests need from /work/shared/reference/nat2.sh, in Python:

    A 10.0.1.2 --lan-- NAT-A (wan 203.0.113.10) --\\
                                                   br0 in PREFIX-pub, 203.0.113.1 (relay)
    B 10.0.2.2 --lan-- NAT-B (wan 203.0.113.20) --/

A cone NAT is ``masquerade`` (it keeps the source port when it can); a symmetric one
is ``masquerade random`` (a new port for every destination), which defeats hole
punching. Each NAT drops unsolicited packets from the WAN: without that, a punch
that arrives first leaves a conntrack entry and the NAT remaps the port. Only
addresses inside these namespaces are used (203.0.113.0/24 is TEST-NET-3).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.needs import require_root, require_tools

PUBLIC = "203.0.113.1"
RELAY = f"{PUBLIC}:3340"
NATS = ("a", "b")
TOOLS = ("ip", "nft", "conntrack")
DEBIAN_PACKAGE = {
    "ip": "iproute2",
    "nft": "nftables",
    "conntrack": "conntrack",
    "iptables": "iptables",
    "turnserver": "coturn",
    "miniupnpd": "miniupnpd-nftables",
    "tc": "iproute2",
}


def require_root_and_tools(*extra: str) -> None:
    require_root("build NATed networks in namespaces")
    require_tools({tool: DEBIAN_PACKAGE[tool] for tool in (*TOOLS, *extra)})


def _masquerade(mode: str) -> str:
    return "masquerade random" if mode == "symmetric" else "masquerade"


def _rules(mode: str) -> str:
    # Table names are our own: never "filter" or "nat", which other tools may own.
    return f"""
table ip sev_nat {{
  chain post {{ type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" {_masquerade(mode)}
  }}
}}
table ip sev_fw {{
  chain input {{ type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" drop
  }}
  chain fw {{ type filter hook forward priority filter; policy drop;
    iifname "lan" oifname "wan" accept
    iifname "wan" ct state established,related accept
  }}
}}
"""


_MINIUPNPD_CHAINS = """
table inet filter {
  chain miniupnpd {
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    jump miniupnpd
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
  }
}
"""
_MINIUPNPD_CONF = """ext_ifname=wan
listening_ip=lan
port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=yes
{ext}
uuid=3f5c6e2a-1111-4222-8333-44445555666{n}
allow 1024-65535 10.0.{n}.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
"""


class NatLab:
    def __init__(self, prefix: str, work: Path) -> None:
        self.prefix = prefix
        self.work = work
        self.procs: list[subprocess.Popen[str]] = []  # stopped after each test
        self.routers: list[subprocess.Popen[str]] = []  # miniupnpd: lives until down()

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

    def _in(self, name: str, *args: str, stdin: str | None = None) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.ns(name), *args],
            input=stdin,
            check=True,
            capture_output=True,
            text=True,
        )

    def up(self) -> None:
        for name in ("pub", "nata", "natb", "a", "b"):
            self._ip("netns", "add", self.ns(name))
            self._ip("-n", self.ns(name), "link", "set", "lo", "up")
        pub = self.ns("pub")
        self._ip("-n", pub, "link", "add", "br0", "type", "bridge")
        self._ip("-n", pub, "addr", "add", f"{PUBLIC}/24", "dev", "br0")
        self._ip("-n", pub, "link", "set", "br0", "up")
        for index, side in enumerate(NATS, 1):
            nat, lan = self.ns(f"nat{side}"), self.ns(side)
            self._ip("-n", pub, "link", "add", f"w{side}", "type", "veth", "peer", "name", "wan",
                     "netns", nat)  # fmt: skip
            self._ip("-n", pub, "link", "set", f"w{side}", "master", "br0", "up")
            self._ip("-n", nat, "addr", "add", f"203.0.113.{index * 10}/24", "dev", "wan")
            self._ip("-n", nat, "link", "set", "wan", "up")
            self._ip("-n", lan, "link", "add", "eth0", "type", "veth", "peer", "name", "lan",
                     "netns", nat)  # fmt: skip
            self._ip("-n", lan, "addr", "add", f"10.0.{index}.2/24", "dev", "eth0")
            self._ip("-n", lan, "link", "set", "eth0", "up")
            self._ip("-n", lan, "route", "add", "default", "via", f"10.0.{index}.1")
            self._ip("-n", nat, "addr", "add", f"10.0.{index}.1/24", "dev", "lan")
            self._ip("-n", nat, "link", "set", "lan", "up")
            self._ip("-n", nat, "route", "add", "default", "via", PUBLIC)
            self._in(f"nat{side}", "sysctl", "-qw", "net.ipv4.ip_forward=1")
            self._in(f"nat{side}", "nft", "-f", "-", stdin=_rules("cone"))

    def set_nats(self, mode_a: str, mode_b: str) -> None:
        """Switch both NATs' behaviour and forget every mapping they made."""
        for side, mode in zip(NATS, (mode_a, mode_b), strict=True):
            nat = f"nat{side}"
            self._in(nat, "nft", "flush", "chain", "ip", "sev_nat", "post")
            self._in(nat, "nft", "add", "rule", "ip", "sev_nat", "post", "oifname", "wan",
                     *_masquerade(mode).split())  # fmt: skip
            subprocess.run(["ip", "netns", "exec", self.ns(nat), "conntrack", "-F"],
                           capture_output=True, check=False)  # fmt: skip

    def upnp(self, side: str, external: str | None = None) -> Path:
        """NAT-``side`` also answers UPnP-IGD (port 5000) and NAT-PMP/PCP (5351) with
        miniupnpd, as a home router does; returns its log. ``external`` is the address
        it reports (default 192.0.3.10/.20, added to the WAN: miniupnpd refuses the
        documentation ranges). A private or shared one (100.64.0.0/10) plays a router
        behind carrier-grade NAT: miniupnpd then finds it on the WAN and refuses to map.
        """
        index = NATS.index(side) + 1
        nat, wan = f"nat{side}", external or f"192.0.3.{index * 10}"
        self._ip("-n", self.ns(nat), "addr", "add", f"{wan}/24", "dev", "wan")
        if external is None:
            subprocess.run(["ip", "-n", self.ns("pub"), "addr", "add", "192.0.3.1/24", "dev",
                            "br0"], capture_output=True, check=False)  # fmt: skip
        # Debian's nft_init.sh is broken (its functions file is missing): make the
        # chains miniupnpd fills here, in the table it expects.
        self._in(nat, "nft", "-f", "-", stdin=_MINIUPNPD_CHAINS)
        self._in(nat, "nft", "insert", "rule", "ip", "sev_fw", "fw", "iifname", "wan",
                 "ct", "status", "dnat", "accept")  # fmt: skip
        run = self.work / f"upnp-{side}"
        run.mkdir(exist_ok=True)
        config = run / "miniupnpd.conf"
        config.write_text(
            _MINIUPNPD_CONF.format(n=index, ext=f"ext_ip={wan}" if external is None else "")
        )
        log = run / "miniupnpd.log"
        # -P: not /run/miniupnpd.pid, which would keep a second lab's miniupnpd from starting
        command = ["ip", "netns", "exec", self.ns(nat), "miniupnpd", "-f", str(config), "-d",
                   "-P", str(run / "pid")]  # fmt: skip
        with log.open("w") as out:
            self.routers.append(
                subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
            )
        self.wait_for_port(nat, 5351, "udp")
        return log

    def wait_for_port(self, where: str, port: int, kind: str, timeout: float = 10.0) -> None:
        """Until something listens on ``port`` in namespace ``where`` (``ss``, polled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = subprocess.run(
                ["ip", "netns", "exec", self.ns(where), "ss", "-lnu" if kind == "udp" else "-lnt"],
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            if f":{port} " in listed:
                return
            time.sleep(0.05)
        raise AssertionError(f"nothing listens on {kind} port {port} in {where}")

    def mappings(self, side: str) -> str:
        """miniupnpd's DNAT rules on NAT-``side``: what the router forwards right now."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(f"nat{side}"), "nft", "list", "chain", "inet",
             "filter", "prerouting_miniupnpd"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip

    def down(self) -> None:
        self.stop_all()
        self.procs, self.routers = self.routers, []
        self.stop_all()
        for name in ("a", "b", "nata", "natb", "pub"):
            pids = subprocess.run(
                ["ip", "netns", "pids", self.ns(name)], capture_output=True, text=True, check=False
            ).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], check=False)
        for name in ("a", "b", "nata", "natb", "pub"):
            subprocess.run(["ip", "netns", "del", self.ns(name)], capture_output=True, check=False)

    def start(
        self, where: str, *args: str, env: dict[str, str] | None = None, cli: bool = True
    ) -> Process:
        """A process in namespace ``where``: ``severus ARGS`` or, with cli=False, ARGS."""
        command = [sys.executable, "-m", "severus_cli", *args] if cli else list(args)
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SEVERUS_") or k == "SEVERUS_LOOP"  # the event loop to run on
        }
        environment["NO_COLOR"] = "1"
        environment.update(env or {})
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(where), *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        self.procs.append(proc)
        return Process(proc, " ".join(args[:2]))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)
        self.procs.clear()


class Process:
    """A started process whose output lines are collected by a thread."""

    def __init__(self, proc: subprocess.Popen[str], label: str) -> None:
        self.proc = proc
        self.label = label
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The first new line for which ``predicate`` holds. It returns as soon as that
        line comes; ``timeout`` only bounds a failure, so it is generous."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if predicate(line):
                return line
        tail = "\n".join(self.lines[-15:])
        raise AssertionError(f"{self.label}: timed out or ended; last lines:\n{tail}")

    def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=5)
