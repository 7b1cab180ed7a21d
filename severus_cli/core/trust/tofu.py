"""Trust-on-first-use decisions and the words shown for them (pure: no I/O).

Hosts are pinned by their X25519 identity fingerprint. The TLS certificate
fingerprint is recorded too, but a changed certificate under the same key is fine:
the Noise handshake, which the key authenticates, is bound to the certificate.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from severus_cli.errors import UsageError

DEFAULT_PORT = 3000
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_PORT = re.compile(r"[0-9]{1,5}")
_SCOPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class KnownHost:
    """One pinned host; times are ISO 8601 UTC strings."""

    key: str
    cert: str | None
    first_seen: str
    last_seen: str


class TrustVerdict(enum.Enum):
    TRUSTED = "trusted"
    NEW = "new"  # not pinned: ask, or need --accept-new / --fingerprint
    CHANGED = "changed"  # a different key: refuse loudly, change nothing
    CERT_CHANGED = "cert_changed"  # same key, new TLS cert: accept, update pin, notify


def judge(entry: KnownHost | None, key_fp: str, cert_fp: str) -> TrustVerdict:
    """Decide what a presented identity means against the pin for that host.

    A pin without a certificate (made by ``severus trust add``) trusts any
    certificate; the caller records it with ``known_hosts.touch``.
    """
    if entry is None:
        return TrustVerdict.NEW
    if entry.key != key_fp:
        return TrustVerdict.CHANGED
    if entry.cert is not None and entry.cert != cert_fp:
        return TrustVerdict.CERT_CHANGED
    return TrustVerdict.TRUSTED


def changed_identity_banner() -> list[str]:
    """The first lines of every changed-identity warning, as OpenSSH words them."""
    headline = "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@"
    bar = "@" * len(headline)
    return [
        bar,
        headline,
        bar,
        "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
        "Someone could be eavesdropping on you right now (man-in-the-middle attack)!",
        "It is also possible that the host simply made a new identity.",
    ]


def changed_key_message(
    host: str, pinned: KnownHost, presented_key_fp: str, known_hosts_path: Path
) -> str:
    """The loud warning for a changed key, modelled on OpenSSH's."""
    return "\n".join(
        [
            *changed_identity_banner(),
            f"The identity fingerprint pinned for {host} is:",
            f"    {pinned.key}   (first seen {pinned.first_seen}, last seen {pinned.last_seen})",
            "The host presented this identity fingerprint instead:",
            f"    {presented_key_fp}",
            f"The pin is in {known_hosts_path}; nothing was changed and the connection "
            "was refused.",
            "If you are sure the host really changed its key, remove the old entry with:",
            f"    severus trust remove {host}",
        ]
    )


def changed_certificate_message(host: str, pinned_cert_fp: str, presented_cert_fp: str) -> str:
    """Why a host with a join secret and a new TLS certificate is refused before the
    first Noise message, which depends on the secret."""
    headline = "@@@ WARNING: REMOTE HOST CERTIFICATE HAS CHANGED! @@@"
    bar = "@" * len(headline)
    return "\n".join(
        [
            bar,
            headline,
            bar,
            f"{host} has a join secret, and presented TLS certificate {presented_cert_fp}",
            f"instead of the pinned {pinned_cert_fp}.",
            "Nothing that depends on the secret was sent. If the host really made a new",
            "certificate, check its identity fingerprint with its owner, then run:",
            f"    severus trust remove {host}",
        ]
    )


def new_host_message(host: str, key_fp: str, cert_fp: str) -> str:
    """What to show before asking whether to trust a host seen for the first time."""
    return (
        f"The authenticity of host '{host}' can't be established.\n"
        f"Its identity fingerprint is {key_fp} (TLS certificate {cert_fp}).\n"
        "Compare it with what `severus fingerprint` shows on the host, over a channel "
        "you trust."
    )


def normalise_host(text: str, default_port: int = DEFAULT_PORT) -> str:
    """The ``HOST:PORT`` key known_hosts uses, so one host has one spelling.

    Accepts ``host``, ``host:port``, ``[v6]:port``, ``[v6]`` and a bare IPv6 address.
    Host names are lower-cased and IP addresses written in their canonical form.
    """
    raw = text.strip()
    if not raw:
        raise UsageError("the host is empty: expected HOST or HOST:PORT")
    port_text: str | None = None
    if raw.startswith("["):
        inside, bracket, rest = raw[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _bad_host(text)
        host_text = inside
        port_text = rest[1:] if rest else None
        host = _ipv6(host_text, text)
    elif raw.count(":") > 1:
        host = _ipv6(raw, text)
    else:
        host_text, colon, after = raw.partition(":")
        port_text = after if colon else None
        host = _ip_or_name(host_text, text)
    port = default_port if port_text is None else _port(port_text, text)
    return f"{host}:{port}"


def _port(port_text: str, original: str) -> int:
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"bad port in {_quote(original)}: expected a number from 1 to 65535")
    return int(port_text)


def _ipv6(host_text: str, original: str) -> str:
    _, percent, scope = host_text.partition("%")
    try:
        if percent and not _SCOPE.fullmatch(scope):
            raise ValueError(scope)  # an interface name; keep control characters out
        address = ipaddress.IPv6Address(host_text)
    except ValueError:
        raise UsageError(
            f"{_quote(original)} is not a valid IPv6 address (write it as [ADDRESS]:PORT)"
        ) from None
    return f"[{address.compressed}]"


def _ip_or_name(host_text: str, original: str) -> str:
    try:
        return str(ipaddress.IPv4Address(host_text))
    except ValueError:
        pass
    name = host_text.lower().removesuffix(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise _bad_host(original) from None
    labels = name.split(".")
    if (
        len(name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()  # "256.1.1.1" is a mistyped address, not a name
    ):
        raise _bad_host(original)
    return name


def _bad_host(original: str) -> UsageError:
    return UsageError(
        f"{_quote(original)} is not a valid host: expected HOST, HOST:PORT or [IPv6]:PORT"
    )


def _quote(text: str, limit: int = 80) -> str:
    """repr() keeps control characters in user input from reaching the terminal."""
    return repr(text if len(text) <= limit else text[:limit] + "...")
