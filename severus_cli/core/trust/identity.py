"""This install's long-term identity: an X25519 Noise key and a self-signed TLS cert.

Three files in the config dir, each written atomically:
``identity.key`` (X25519, PKCS8 PEM, 0600), ``tls.key`` (ECDSA P-256, PKCS8 PEM, 0600)
and ``tls.crt`` (self-signed X.509, SHA-256, 0644). Peers pin the X25519 key; the TLS
certificate is bound to the Noise handshake, so it may change without breaking trust.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.x509.oid import NameOID

from severus_cli.core.store.files import atomic_write, locked
from severus_cli.core.trust.identity_format import FINGERPRINT_PREFIX, fingerprint
from severus_cli.errors import ConfigError, IdentityExistsError, UsageError

IDENTITY_KEY_FILE = "identity.key"
TLS_KEY_FILE = "tls.key"
TLS_CERT_FILE = "tls.crt"
IDENTITY_FILES = (IDENTITY_KEY_FILE, TLS_KEY_FILE, TLS_CERT_FILE)
CERT_NAME = "severus"
CERT_VALIDITY = dt.timedelta(days=3652)

_B64_BODY = re.compile(r"[A-Za-z0-9+/]{43}")


def parse_fingerprint(text: str) -> str:
    """Validate a fingerprint a person typed or pasted and return its canonical form.

    Accepts surrounding whitespace, any case of the ``SHA256:`` prefix and a trailing
    ``=`` pad; the base64 body is case-sensitive and must encode exactly 32 bytes.
    """
    candidate = text.strip()
    head, sep, body = candidate.partition(":")
    if not sep or head.upper() != "SHA256":
        raise UsageError(
            f"{_shorten(text)} is not a fingerprint: expected SHA256: followed by "
            "43 base64 characters, as shown by `severus fingerprint`"
        )
    if body.endswith("="):
        body = body[:-1]
    if not _B64_BODY.fullmatch(body):
        raise UsageError(
            f"{_shorten(text)} is not a valid fingerprint: after SHA256: there must be "
            f"exactly 43 base64 characters (A-Z a-z 0-9 + /), got {len(body)}"
        )
    try:
        digest = base64.b64decode(body + "=", validate=True)
    except (binascii.Error, ValueError):  # pragma: no cover - the regex already checked
        digest = b""
    canonical = base64.b64encode(digest).decode("ascii").rstrip("=")
    if len(digest) != 32 or canonical != body:
        raise UsageError(
            f"{_shorten(text)} is not a valid fingerprint: its last character cannot "
            "end a SHA-256 digest (was it mistyped?)"
        )
    return FINGERPRINT_PREFIX + body


def _shorten(text: str, limit: int = 80) -> str:
    """Quote user input for an error message: repr() neutralises control characters."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)


@dataclass(frozen=True)
class Identity:
    """The key material a host or client needs; the PEMs are what ``ssl`` loads."""

    static_private: bytes
    static_public: bytes
    tls_cert_pem: bytes
    tls_key_pem: bytes
    tls_cert_der: bytes

    @property
    def fingerprint(self) -> str:
        """What peers pin: the fingerprint of the X25519 public key."""
        return fingerprint(self.static_public)

    @property
    def cert_fingerprint(self) -> str:
        return fingerprint(self.tls_cert_der)

    @property
    def cert_hash(self) -> bytes:
        """Raw SHA-256 of the certificate, for the Noise prologue (channel binding)."""
        return hashlib.sha256(self.tls_cert_der).digest()

    def __repr__(self) -> str:  # never print private keys by accident
        return f"Identity(fingerprint={self.fingerprint!r})"


def tls_paths(config_dir: Path) -> tuple[Path, Path]:
    """(certificate, key) file paths, for ``ssl.SSLContext.load_cert_chain``."""
    return config_dir / TLS_CERT_FILE, config_dir / TLS_KEY_FILE


def _lock_target(config_dir: Path) -> Path:
    return config_dir / IDENTITY_KEY_FILE


def create_identity(config_dir: Path, force: bool = False) -> Identity:
    """Generate and store a new identity; refuse to replace one unless ``force``.

    Held under a lock so two processes starting at once cannot interleave their
    files (which would pair one process's TLS key with the other's certificate).
    """
    with locked(_lock_target(config_dir)):
        return _create_unlocked(config_dir, force)


def _create_unlocked(config_dir: Path, force: bool) -> Identity:
    existing = [name for name in IDENTITY_FILES if (config_dir / name).exists()]
    if existing and not force:
        raise IdentityExistsError(
            f"an identity already exists in {config_dir} ({', '.join(existing)}); "
            "`severus keygen --force` replaces it, and peers that pinned the old key "
            "will then see a changed-key warning"
        )
    static = x25519.X25519PrivateKey.generate()
    tls_key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed_cert(tls_key)
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    static_pem = static.private_bytes(pem, pkcs8, none)
    tls_key_pem = tls_key.private_bytes(pem, pkcs8, none)
    cert_pem = cert.public_bytes(pem)
    # Certificate last: a crash part-way leaves a missing file, which load reports.
    atomic_write(config_dir / IDENTITY_KEY_FILE, static_pem, 0o600)
    atomic_write(config_dir / TLS_KEY_FILE, tls_key_pem, 0o600)
    atomic_write(config_dir / TLS_CERT_FILE, cert_pem, 0o644)
    return Identity(
        static_private=static.private_bytes_raw(),
        static_public=static.public_key().public_bytes_raw(),
        tls_cert_pem=cert_pem,
        tls_key_pem=tls_key_pem,
        tls_cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


def _self_signed_cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A leaf certificate only used to carry TLS; trust comes from the Noise key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_NAME)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # tolerate peers' clock skew
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CERT_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def load_identity(config_dir: Path) -> Identity:
    """Read and check the three identity files; any problem is a ConfigError naming it."""
    if not config_dir.is_dir():
        raise ConfigError(
            f"there is no identity: {config_dir} does not exist (run `severus keygen`)"
        )
    with locked(_lock_target(config_dir)):
        return _load_unlocked(config_dir)


def load_or_create_identity(config_dir: Path) -> tuple[Identity, bool]:
    """Load the identity, creating it first if there is none; the bool says "created"."""
    with locked(_lock_target(config_dir)):
        if not any((config_dir / name).exists() for name in IDENTITY_FILES):
            return _create_unlocked(config_dir, force=False), True
        return _load_unlocked(config_dir), False


def _load_unlocked(config_dir: Path) -> Identity:
    static_data = _read(config_dir, IDENTITY_KEY_FILE, private=True)
    tls_key_data = _read(config_dir, TLS_KEY_FILE, private=True)
    cert_data = _read(config_dir, TLS_CERT_FILE, private=False)

    static = _load_private_key(config_dir, IDENTITY_KEY_FILE, static_data)
    if not isinstance(static, x25519.X25519PrivateKey):
        raise _invalid(config_dir, IDENTITY_KEY_FILE, "X25519 private key")
    tls_key = _load_private_key(config_dir, TLS_KEY_FILE, tls_key_data)
    if not isinstance(tls_key, ec.EllipticCurvePrivateKey) or not isinstance(
        tls_key.curve, ec.SECP256R1
    ):
        raise _invalid(config_dir, TLS_KEY_FILE, "ECDSA P-256 private key")
    try:
        cert = x509.load_pem_x509_certificate(cert_data)
        cert_key = cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _invalid(config_dir, TLS_CERT_FILE, "PEM X.509 certificate") from None
    if cert_key != tls_key.public_key():
        raise ConfigError(
            f"{TLS_CERT_FILE} in {config_dir} does not match {TLS_KEY_FILE}: "
            "run `severus keygen --force` to make a new identity"
        )
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem = serialization.Encoding.PEM
    return Identity(
        static_private=static.private_bytes_raw(),
        static_public=static.public_key().public_bytes_raw(),
        tls_cert_pem=cert.public_bytes(pem),
        tls_key_pem=tls_key.private_bytes(pem, pkcs8, serialization.NoEncryption()),
        tls_cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


def _read(config_dir: Path, name: str, *, private: bool) -> bytes:
    """Read one file; like ssh, refuse a private key that others can read."""
    path = config_dir / name
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{path} is not a regular file: delete it or move it away")
        if private and mode & 0o077:
            raise ConfigError(
                f"permissions {stat.S_IMODE(mode):04o} for {path} are too open: a private "
                f"key must not be accessible by others; run `chmod 600 {path}`"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{name} is missing from {config_dir}: restore it, or run "
            "`severus keygen --force` to make a new identity"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None


def _load_private_key(config_dir: Path, name: str, data: bytes) -> object:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        what = "X25519 private key" if name == IDENTITY_KEY_FILE else "ECDSA P-256 private key"
        raise _invalid(config_dir, name, what) from None


def _invalid(config_dir: Path, name: str, what: str) -> ConfigError:
    return ConfigError(
        f"{name} in {config_dir} is not a valid {what}: delete it or run `severus keygen --force`"
    )
