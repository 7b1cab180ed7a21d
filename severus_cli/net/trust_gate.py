"""Trust on first use, applied while connecting: pin, refuse, or ask.

:func:`make_verifier` returns what :meth:`ClientLink.handshake` consults: the TLS
certificate before any Noise message (the first depends on the join secret), then the
host's static key, before the client reveals its own identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from severus_cli.core.trust import known_hosts
from severus_cli.core.trust.identity_format import digest_fingerprint, fingerprint
from severus_cli.core.trust.tofu import (
    TrustVerdict,
    changed_certificate_message,
    changed_identity_banner,
    changed_key_message,
    judge,
    new_host_message,
)
from severus_cli.errors import ChangedHostKeyError, TrustError, UnknownHostError
from severus_cli.net.client_link import Verify


class WrongCertificate(TrustError):
    """The server at one address is not the host the ticket names (another certificate):
    that address failed, before any Noise message; another listed address may still be
    the host."""


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
    expected: str | None = (
        None  # --fingerprint: the identity key fingerprint (never the certificate)
    )
    remember: bool = True  # False for tickets: the ticket itself is the pin
    notices: list[str] = field(default_factory=list)
    secret: bytes | None = None  # the host's join secret (from its ticket or --secret)
    cert: str | None = None  # the certificate fingerprint a ticket names
    ticket: str | None = None  # the ticket joined with, for /ticket to show again
    verified: str | None = None  # the identity key the handshake authenticated

    @property
    def label(self) -> str:
        """How known_peers names this host: ``key SHA256:...``, its identity key, however
        it was joined (by ticket, by address, or its own chat), so one host has one set of
        peer pins. An address is pinned by key once the handshake has authenticated it;
        before that (nothing is checked yet) the address stands in."""
        key = self.verified if self.remember else self.expected
        return f"key {key}" if key else self.host


@dataclass
class PolicyVerifier:
    """A :class:`HostPolicy` applied at the two points of the handshake."""

    policy: HostPolicy

    @property
    def secret(self) -> bytes | None:
        return self.policy.secret

    def certificate(self, cert_hash: bytes) -> None:
        check_certificate(self.policy, digest_fingerprint(cert_hash))

    def identity(self, key: bytes, cert_hash: bytes) -> None:
        check_host(self.policy, fingerprint(key), digest_fingerprint(cert_hash))


def changed_ticket_key_message(named_fp: str, presented_fp: str) -> str:
    """The loud warning for a host whose identity is not the one its ticket names: a
    ticket is its own pin, so there is no pin to remove; only a new ticket helps."""
    return "\n".join(
        [
            *changed_identity_banner(),
            "The ticket names the identity fingerprint:",
            f"    {named_fp}",
            "The host presented this identity fingerprint instead:",
            f"    {presented_fp}",
            "Nothing about you was sent and the connection was refused.",
            "Ask the host for a new ticket (`severus fingerprint` on the host shows its key).",
        ]
    )


def make_verifier(policy: HostPolicy) -> Verify:
    return PolicyVerifier(policy)


def check_certificate(policy: HostPolicy, cert_fp: str) -> None:
    """Refuse a certificate that cannot be the host's, before any Noise message.

    A ticket names the certificate, so any other one is refused. For a pinned host with
    a join secret, the first Noise message depends on the secret, so it goes only to the
    pinned certificate. Without a secret that message is an ephemeral key alone, and a
    host that made itself a new certificate is recognised by its identity key instead
    (``check_host``). A pin with no certificate (``trust add`` without ``--cert``) checks
    nothing here: the user is told, and ``check_host`` pins the certificate met.
    """
    if policy.cert is not None and policy.cert != cert_fp:
        raise WrongCertificate(
            f"the host presented TLS certificate {cert_fp}, not the {policy.cert} its "
            "ticket names; refusing to connect. Ask the host for a new ticket."
        )
    if policy.secret is None or not policy.remember:
        return
    entry = known_hosts.KnownHosts.load(policy.config_dir).get(policy.host)
    if entry is not None and entry.cert is not None and entry.cert != cert_fp:
        raise ChangedHostKeyError(changed_certificate_message(policy.host, entry.cert, cert_fp))
    if entry is not None and entry.cert is None:  # pinned by `trust add` without --cert
        policy.notices.append(
            f"{policy.host} was pinned without its certificate, so the first handshake "
            "message (which depends on the join secret) went out before the host was "
            f"checked; its certificate {cert_fp} is pinned now and checked from now on"
        )


def check_host(policy: HostPolicy, key_fp: str, cert_fp: str) -> None:
    """Accept (and pin) the presented identity, or raise a TrustError."""
    now = known_hosts.utc_now_iso()
    if not policy.remember:
        if policy.expected is None:
            raise TrustError("nothing to check the host against")
        if policy.expected != key_fp:
            raise ChangedHostKeyError(changed_ticket_key_message(policy.expected, key_fp))
        policy.verified = key_fp
        return
    store = known_hosts.KnownHosts.load(policy.config_dir)
    entry = store.get(policy.host)
    verdict = judge(entry, key_fp, cert_fp)
    if verdict is TrustVerdict.CHANGED:  # before --fingerprint: a pin's change is told loudly,
        assert entry is not None  # also to whoever pinned it by answering "yes" this run
        raise ChangedHostKeyError(changed_key_message(policy.host, entry, key_fp, store.path))
    if policy.expected is not None and policy.expected == cert_fp != key_fp:
        # The certificate proves nothing about the identity: whoever holds the host's
        # tls.key presents the same certificate and runs Noise with a key of its own.
        raise TrustError(
            f"--fingerprint {cert_fp} is {policy.host}'s TLS certificate, which anyone "
            "holding its tls.key can present; give its identity fingerprint instead "
            f"(`severus fingerprint` on the host). It presented identity {key_fp}; "
            "refusing to connect"
        )
    if policy.expected is not None and policy.expected != key_fp:
        raise TrustError(
            f"{policy.host} presented identity {key_fp}, not the expected "
            f"{policy.expected}; refusing to connect"
        )
    if verdict is TrustVerdict.NEW:
        if policy.accept_new or policy.expected is not None:
            known_hosts.pin(policy.config_dir, policy.host, key_fp, cert_fp, now)
            policy.notices.append(f"Pinned {policy.host} as {key_fp} in {store.path}")
            policy.verified = key_fp
            return
        raise NewHostPending(policy.host, key_fp, cert_fp)
    if verdict is TrustVerdict.CERT_CHANGED:
        policy.notices.append(
            f"{policy.host} has a new TLS certificate ({cert_fp}); its identity key is "
            "unchanged and verified, so the pin was updated"
        )
    known_hosts.touch(policy.config_dir, policy.host, cert_fp, now, key_fp=key_fp)
    policy.verified = key_fp
