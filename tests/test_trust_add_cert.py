"""``severus trust add HOST KEY --cert CERT`` pins the certificate too, so a join with a
join secret can check it before its first message; without --cert the user is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from severus_cli.commands.trust_cmds import NO_CERT_NOTE, add_host
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.known_hosts import KnownHosts
from severus_cli.errors import UsageError
from tests.test_client_core import key_of

KEY, CERT = fingerprint(key_of("host key")), fingerprint(key_of("host cert"))
HOST = "127.0.0.1:3000"


def test_add_with_cert_pins_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_host(tmp_path, HOST, KEY, CERT)
    entry = KnownHosts.load(tmp_path).get(HOST)
    assert entry is not None and (entry.key, entry.cert) == (KEY, CERT)
    out = " ".join(capsys.readouterr().out.split())
    assert CERT in out and "No certificate" not in out


def test_add_without_cert_says_what_it_cannot_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_host(tmp_path, HOST, KEY)
    entry = KnownHosts.load(tmp_path).get(HOST)
    assert entry is not None and entry.cert is None
    assert " ".join(NO_CERT_NOTE.split()) in " ".join(capsys.readouterr().out.split())
    add_host(tmp_path, HOST, KEY, CERT)  # the certificate can be added to the pin later
    entry = KnownHosts.load(tmp_path).get(HOST)
    assert entry is not None and entry.cert == CERT
    add_host(tmp_path, HOST, KEY)  # and a later add without --cert keeps it
    entry = KnownHosts.load(tmp_path).get(HOST)
    assert entry is not None and entry.cert == CERT
    assert "No certificate" not in capsys.readouterr().out


def test_the_identity_fingerprint_is_no_certificate(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="certificate fingerprint"):
        add_host(tmp_path, HOST, KEY, KEY)
    assert KnownHosts.load(tmp_path).get(HOST) is None
