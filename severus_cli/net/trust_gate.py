"""Trust on first use, applied while connecting: pin, refuse, or ask.

:func:`make_verifier` returns the callback :meth:`ClientLink.handshake` calls with the
host's static key and certificate hash, before the client reveals its own identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from severus_cli.core import known_hosts
from severus_cli.core.identity_format import digest_fingerprint, fingerprint
from severus_cli.core.trust import TrustVerdict, changed_key_message, judge, new_host_message
from severus_cli.errors import ChangedHostKeyError, TrustError, UnknownHostError
from severus_cli.net.client_link import Verify


class NewHostPending(UnknownHostError):
    """The host is new and nobody has said yet whether to trust it."""

    def __init__(self, host: str, key_fp: str, cert_fp: str) -> None:
        super().__init__(new_host_message(host, key_fp, cert_fp))
        self.host = host
        self.key_fp = key_fp
        self.cert_fp = cert_fp


@dataclass
class HostPolicy:
    """How to treat the host at ``host`` ("HOST:PORT" as pinned in known_hosts)."""

    config_dir: Path
    host: str
    accept_new: bool = False
    expected: str | None = None  # --fingerprint: the key (or certificate) fingerprint
    remember: bool = True  # False for tickets: the ticket itself is the pin
    notices: list[str] = field(default_factory=list)
    secret: bytes | None = None  # the host's join secret (from its ticket or --secret)

    @property
    def label(self) -> str:
        """How known_peers names this host: its address, or its key for tickets."""
        return self.host if self.remember else f"key {self.expected}"


def make_verifier(policy: HostPolicy) -> Verify:
    def verify(key: bytes, cert_hash: bytes) -> None:
        check_host(policy, fingerprint(key), digest_fingerprint(cert_hash))

    return verify


def check_host(policy: HostPolicy, key_fp: str, cert_fp: str) -> None:
    """Accept (and pin) the presented identity, or raise a TrustError."""
    now = known_hosts.utc_now_iso()
    if policy.expected is not None and policy.expected not in (key_fp, cert_fp):
        raise TrustError(
            f"{policy.host} presented identity {key_fp}, not the expected "
            f"{policy.expected}; refusing to connect"
        )
    if not policy.remember:
        if policy.expected is None:
            raise TrustError("nothing to check the host against")
        return
    store = known_hosts.KnownHosts.load(policy.config_dir)
    entry = store.get(policy.host)
    verdict = judge(entry, key_fp, cert_fp)
    if verdict is TrustVerdict.CHANGED:
        assert entry is not None
        raise ChangedHostKeyError(changed_key_message(policy.host, entry, key_fp, store.path))
    if verdict is TrustVerdict.NEW:
        if policy.accept_new or policy.expected is not None:
            known_hosts.pin(policy.config_dir, policy.host, key_fp, cert_fp, now)
            policy.notices.append(f"Pinned {policy.host} as {key_fp} in {store.path}")
            return
        raise NewHostPending(policy.host, key_fp, cert_fp)
    if verdict is TrustVerdict.CERT_CHANGED:
        policy.notices.append(
            f"{policy.host} has a new TLS certificate ({cert_fp}); its identity key is "
            "unchanged and verified, so the pin was updated"
        )
    known_hosts.touch(policy.config_dir, policy.host, cert_fp, now, key_fp=key_fp)
