"""Identity keys, fingerprints, the config dir and atomic file writes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.store.files import atomic_write, locked
from severus_cli.core.trust.identity import (
    IDENTITY_FILES,
    create_identity,
    fingerprint,
    load_identity,
    load_or_create_identity,
    parse_fingerprint,
    tls_paths,
)
from severus_cli.errors import ConfigError, IdentityExistsError, UsageError

EMPTY_SHA256 = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- fingerprints ---------------------------------------------------------------------


def test_fingerprint_is_openssh_style() -> None:
    assert fingerprint(b"") == EMPTY_SHA256
    assert len(fingerprint(b"x")) == len("SHA256:") + 43


@pytest.mark.parametrize(
    "text",
    [
        EMPTY_SHA256,
        "  " + EMPTY_SHA256 + "\n",
        "sha256:" + EMPTY_SHA256[7:],
        EMPTY_SHA256 + "=",
    ],
)
def test_parse_fingerprint_normalises(text: str) -> None:
    assert parse_fingerprint(text) == EMPTY_SHA256


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SHA256:",
        EMPTY_SHA256[7:],  # no prefix
        "MD5:" + EMPTY_SHA256[7:],
        EMPTY_SHA256[:-1],  # too short
        EMPTY_SHA256 + "A",  # too long
        EMPTY_SHA256[:-1] + "V",  # non-canonical last character
        EMPTY_SHA256[:-1] + "-",  # URL-safe alphabet
        "SHA256:" + "\x1b[2J" * 11,
    ],
)
def test_parse_fingerprint_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_fingerprint(text)
    assert "fingerprint" in info.value.message
    assert "\x1b" not in info.value.message


@given(st.binary())
def test_fingerprint_round_trips(data: bytes) -> None:
    fp = fingerprint(data)
    assert parse_fingerprint(fp) == fp
    assert base64.b64decode(fp[7:] + "=") == hashlib.sha256(data).digest()


@given(st.text())
def test_parse_fingerprint_only_raises_usage_error(text: str) -> None:
    try:
        result = parse_fingerprint(text)
    except UsageError:
        return
    assert parse_fingerprint(result) == result
    assert len(base64.b64decode(result[7:] + "=")) == 32


# -- create / load ----------------------------------------------------------------------


def test_create_and_load_round_trip(tmp_path: Path) -> None:
    created = create_identity(tmp_path)
    loaded = load_identity(tmp_path)
    assert loaded == created
    assert len(created.static_private) == len(created.static_public) == 32
    derived = x25519.X25519PrivateKey.from_private_bytes(created.static_private).public_key()
    assert derived.public_bytes_raw() == created.static_public
    assert created.fingerprint == fingerprint(created.static_public)
    assert created.cert_fingerprint == fingerprint(created.tls_cert_der)
    assert created.cert_hash == hashlib.sha256(created.tls_cert_der).digest()
    assert "PRIVATE" not in repr(created) and created.fingerprint in repr(created)


def test_file_modes(tmp_path: Path) -> None:
    create_identity(tmp_path)
    assert mode_of(tmp_path / "identity.key") == 0o600
    assert mode_of(tmp_path / "tls.key") == 0o600
    assert mode_of(tmp_path / "tls.crt") == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_certificate_properties(tmp_path: Path) -> None:
    identity = create_identity(tmp_path)
    cert = x509.load_der_x509_certificate(identity.tls_cert_der)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "severus"
    assert cert.issuer == cert.subject
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["severus"]
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=9 * 365) < lifetime < dt.timedelta(days=11 * 365)
    assert cert.not_valid_before_utc < dt.datetime.now(dt.UTC)
    cert_path, key_path = tls_paths(tmp_path)
    assert cert_path.read_bytes() == identity.tls_cert_pem
    tls_key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(tls_key, ec.EllipticCurvePrivateKey)
    assert tls_key.public_key() == key


def test_create_refuses_to_replace(tmp_path: Path) -> None:
    first = create_identity(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in IDENTITY_FILES}
    with pytest.raises(IdentityExistsError) as info:
        create_identity(tmp_path)
    assert str(tmp_path) in info.value.message and "--force" in info.value.message
    assert {name: (tmp_path / name).read_bytes() for name in IDENTITY_FILES} == before
    second = create_identity(tmp_path, force=True)
    assert second.fingerprint != first.fingerprint
    assert load_identity(tmp_path) == second


def test_create_refuses_when_any_file_exists(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_bytes(b"leftover")
    with pytest.raises(IdentityExistsError):
        create_identity(tmp_path)
    assert (tmp_path / "tls.crt").read_bytes() == b"leftover"


def test_load_or_create(tmp_path: Path) -> None:
    created, was_created = load_or_create_identity(tmp_path)
    assert was_created
    loaded, was_created = load_or_create_identity(tmp_path)
    assert not was_created and loaded == created


@pytest.mark.parametrize("name", IDENTITY_FILES)
def test_missing_file_is_config_error(tmp_path: Path, name: str) -> None:
    create_identity(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(ConfigError) as info:
        load_identity(tmp_path)
    assert name in info.value.message and str(tmp_path) in info.value.message
    with pytest.raises(ConfigError):  # a partial identity is not silently replaced
        load_or_create_identity(tmp_path)


@pytest.mark.parametrize("name", IDENTITY_FILES)
@pytest.mark.parametrize("content", [b"", b"garbage\n", b"\xff" * 100])
def test_garbage_is_config_error(tmp_path: Path, name: str, content: bytes) -> None:
    create_identity(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_identity(tmp_path)
    assert name in info.value.message and "keygen --force" in info.value.message


def test_wrong_key_types(tmp_path: Path) -> None:
    create_identity(tmp_path)
    tls_pem = (tmp_path / "tls.key").read_bytes()
    identity_pem = (tmp_path / "identity.key").read_bytes()
    (tmp_path / "identity.key").write_bytes(tls_pem)
    with pytest.raises(ConfigError, match=r"identity\.key .* not a valid X25519 private key"):
        load_identity(tmp_path)
    (tmp_path / "identity.key").write_bytes(identity_pem)
    (tmp_path / "tls.key").write_bytes(identity_pem)
    with pytest.raises(ConfigError, match=r"tls\.key .* not a valid ECDSA P-256"):
        load_identity(tmp_path)
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "tls.key").write_bytes(p384)
    with pytest.raises(ConfigError, match=r"tls\.key"):
        load_identity(tmp_path)


def test_encrypted_key_is_config_error(tmp_path: Path) -> None:
    create_identity(tmp_path)
    key = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (tmp_path / "identity.key").write_bytes(key)
    with pytest.raises(ConfigError, match=r"identity\.key"):
        load_identity(tmp_path)


def test_certificate_must_match_key(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    create_identity(tmp_path / "a")
    create_identity(tmp_path / "b")
    (tmp_path / "a" / "tls.crt").write_bytes((tmp_path / "b" / "tls.crt").read_bytes())
    with pytest.raises(ConfigError, match="does not match"):
        load_identity(tmp_path / "a")


@pytest.mark.parametrize("name", ["identity.key", "tls.key"])
def test_private_key_readable_by_others_is_refused(tmp_path: Path, name: str) -> None:
    create_identity(tmp_path)
    os.chmod(tmp_path / name, 0o640)
    with pytest.raises(ConfigError, match="too open") as info:
        load_identity(tmp_path)
    assert name in info.value.message and "chmod 600" in info.value.message


def test_load_from_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keygen") as info:
        load_identity(tmp_path / "nope")
    assert str(tmp_path / "nope") in info.value.message


def test_directory_in_place_of_file(tmp_path: Path) -> None:
    create_identity(tmp_path)
    (tmp_path / "tls.crt").unlink()
    (tmp_path / "tls.crt").mkdir()
    with pytest.raises(ConfigError, match=r"tls\.crt"):
        load_identity(tmp_path)


# -- config dir -------------------------------------------------------------------------


def test_config_dir_option_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVERUS_CONFIG_DIR", str(tmp_path / "env"))
    target = tmp_path / "opt" / "nested"
    assert resolve_config_dir(target) == target
    assert target.is_dir() and mode_of(target) == 0o700
    assert not (tmp_path / "env").exists()


def test_config_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVERUS_CONFIG_DIR", str(tmp_path / "env"))
    assert resolve_config_dir(None) == tmp_path / "env"
    assert mode_of(tmp_path / "env") == 0o700


def test_config_dir_from_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEVERUS_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert resolve_config_dir(None) == tmp_path / "xdg" / "severus"


def test_config_dir_existing_mode_untouched(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    resolve_config_dir(target)
    assert mode_of(target) == 0o755


def test_config_dir_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "file", tmp_path / "file" / "sub"):
        with pytest.raises(ConfigError) as info:
            resolve_config_dir(bad)
        assert str(bad) in info.value.message


# -- atomic writes and locks ------------------------------------------------------------


def test_atomic_write_modes_and_replace(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write(target, b"one")
    assert target.read_bytes() == b"one" and mode_of(target) == 0o600
    atomic_write(target, b"two", 0o644)
    assert target.read_bytes() == b"two" and mode_of(target) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_atomic_write_failure_leaves_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    atomic_write(target, b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="No space left") as info:
        atomic_write(target, b"new")
    assert str(target) in info.value.message
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_atomic_write_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        atomic_write(tmp_path / "nope" / "f", b"x")


def test_locked_uses_sibling_lock_file(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    with locked(target):
        assert (tmp_path / "data.json.lock").exists()
        atomic_write(target, b"{}")
    with locked(target):  # reentrant across sequential uses
        pass
    assert mode_of(tmp_path / "data.json.lock") == 0o600


def test_locked_unusable_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lock"), locked(tmp_path / "missing" / "x"):
        pass
