"""The anchor servers: how each is configured, started (pinned to the host CPU) and stopped.

- ``ceiling``: ``bench/ceiling.py``, TLS over memory BIOs like the severus host;
- ``ceiling-sslproto``: the same forwarder on asyncio's stock TLS transport (opt-in);
- ``ngircd``: ngIRCd from Debian (``apt-get install -y ngircd``), TLS, limits lifted;
- ``inspircd``: InspIRCd 3 from Debian (``apt-get install -y inspircd``), TLS through
  its ``ssl_gnutls`` module (the only TLS module Debian ships), limits lifted.

Every server uses the same certificate and key (made by ``severus keygen``), listens on
127.0.0.1 only, runs in the foreground from a temporary directory and needs no root.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import HOST_CPU, can_pin, pin

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
NAMES = ("ceiling", "ceiling-sslproto", "ngircd", "inspircd")
DEFAULT = ("ceiling", "ngircd", "inspircd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Anchor:
    """How to run one anchor: its client protocol ("irc" or "frames") and command line."""

    name: str
    kind: str
    argv: tuple[str, ...]
    port: int
    version: str
    parallel: int = 1  # connects at a time; more for a server that registers once a second
    note: str = ""


def _ngircd_conf(folder: Path, port: int, cert: Path, key: Path) -> Path:
    conf = folder / "ngircd.conf"
    conf.write_text(
        "[Global]\nName = bench.local\nInfo = bench\nListen = 127.0.0.1\n"
        f"Ports = {free_port()}\n"
        "[Limits]\nMaxConnections = 0\nMaxConnectionsIP = 0\nMaxJoins = 0\n"
        "MaxPenaltyTime = 0\nMaxNickLength = 30\nPingTimeout = 600\nPongTimeout = 600\n"
        "[Options]\nIdent = no\nPAM = no\nDNS = no\n"
        f"[SSL]\nCertFile = {cert}\nKeyFile = {key}\nPorts = {port}\n"
    )
    return conf


def _inspircd_conf(folder: Path, port: int, cert: Path, key: Path) -> Path:
    """InspIRCd 3: one TLS listener (ssl_gnutls), one connect class with every limit
    lifted, no DNS or ident lookups, logs and MOTD in ``folder``."""
    (folder / "motd.txt").write_text("bench\n")
    conf = folder / "inspircd.conf"
    conf.write_text(
        f"""<server name="bench.local" description="bench" network="bench">
<admin name="bench" nick="bench" email="bench@bench.local">
<module name="ssl_gnutls">
<sslprofile name="bench" provider="gnutls" certfile="{cert}" keyfile="{key}"
            requestclientcert="no" hash="sha256">
<bind address="127.0.0.1" port="{port}" type="clients" sslprofile="bench">
<connect allow="*" timeout="60" pingfreq="600" threshold="4000000"
         commandrate="4000000000" fakelag="no" softsendq="16777216" hardsendq="67108864"
         recvq="16777216" localmax="100000" globalmax="100000" maxchans="1000"
         resolvehostnames="no" useident="no" maxconnwarn="no">
<channels users="1000" opers="1000">
<performance softlimit="16000" somaxconn="1024" clonesonconnect="no">
<dns server="127.0.0.1" timeout="1">
<files motd="{folder / "motd.txt"}">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default"
     target="{folder / "inspircd.log"}">
"""
    )
    return conf


def _version(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        text = (done.stdout + done.stderr).strip().splitlines()
        if text:
            return text[0].strip()
    return ""


def prepare(names: tuple[str, ...], folder: Path) -> tuple[list[Anchor], dict[str, str]]:
    """The anchors to run, and the reason for each one that cannot be."""
    cert, key = folder / "id" / "tls.crt", folder / "id" / "tls.key"
    if not cert.exists():
        subprocess.run(
            [sys.executable, "-m", "severus_cli", "keygen", "--config-dir", str(folder / "id")],
            check=True,
            capture_output=True,
            timeout=60,
        )
    anchors: list[Anchor] = []
    skipped: dict[str, str] = {}
    python = platform_python()
    for name in names:
        port = free_port()
        if name in ("ceiling", "ceiling-sslproto"):
            argv = [sys.executable, "-m", "bench.ceiling", str(port), str(cert), str(key)]
            if name == "ceiling-sslproto":
                argv.append("--sslproto")
            anchors.append(Anchor(name, "frames", tuple(argv), port, python))
        elif name == "ngircd":
            binary = shutil.which("ngircd") or shutil.which("ngircd", path="/usr/sbin")
            if binary is None:
                skipped[name] = "ngircd is not installed (apt-get install -y ngircd)"
                continue
            conf = _ngircd_conf(folder, port, cert, key)
            version = _version([binary, "--version"])
            anchors.append(Anchor(name, "irc", (binary, "-n", "-f", str(conf)), port, version))
        elif name == "inspircd":
            binary = shutil.which("inspircd") or shutil.which("inspircd", path="/usr/sbin")
            if binary is None:
                skipped[name] = "inspircd is not installed (apt-get install -y inspircd)"
                continue
            if not Path("/usr/lib/inspircd/modules/m_ssl_gnutls.so").exists():
                skipped[name] = "inspircd has no ssl_gnutls module"
                continue
            work = folder / "inspircd"
            work.mkdir(exist_ok=True)
            conf = _inspircd_conf(work, port, cert, key)
            argv = [binary, "--config", str(conf), "--nofork", "--nopid"]
            if os.geteuid() == 0:
                argv.append("--runasroot")  # it refuses root otherwise; no root is needed
            version = _version([binary, "--version"])
            # InspIRCd 3 completes registrations in a once-a-second sweep
            # (UserManager::DoBackgroundUserStuff): connect many at a time.
            note = (
                "registers clients in a once-a-second sweep: its connects run 50 at a time "
                "and its connect p50 is mostly that wait"
            )
            anchors.append(Anchor(name, "irc", tuple(argv), port, version, 50, note))
        else:
            skipped[name] = f"unknown anchor (known: {', '.join(NAMES)})"
    return anchors, skipped


def platform_python() -> str:
    return "Python " + ".".join(str(part) for part in sys.version_info[:3])


def _no_core_dumps() -> None:
    """InspIRCd may crash on SIGTERM; a benchmark should leave no core files behind."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class Server:
    """One running anchor, pinned to the host CPU as soon as it exists; always stopped."""

    def __init__(self, anchor: Anchor, log: Path) -> None:
        self.anchor = anchor
        self._log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(anchor.argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_no_core_dumps,
        )
        if can_pin():
            pin(self.proc.pid, HOST_CPU)
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(anchor.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-1500:]
                self.stop()
                raise RuntimeError(f"{anchor.name} did not start: {tail}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self._log.close()
