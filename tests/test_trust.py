"""Pure trust decisions, their messages, and host normalisation."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from severus_cli.core.trust.identity import fingerprint
from severus_cli.core.trust.tofu import (
    KnownHost,
    TrustVerdict,
    changed_certificate_message,
    changed_key_message,
    judge,
    new_host_message,
    normalise_host,
)
from severus_cli.errors import UsageError

KEY = fingerprint(b"key")
OTHER_KEY = fingerprint(b"other key")
CERT = fingerprint(b"cert")
OTHER_CERT = fingerprint(b"other cert")
T0 = "2026-01-01T00:00:00Z"


def host(key: str = KEY, cert: str | None = CERT) -> KnownHost:
    return KnownHost(key=key, cert=cert, first_seen=T0, last_seen=T0)


@pytest.mark.parametrize(
    ("entry", "key", "cert", "verdict"),
    [
        (None, KEY, CERT, TrustVerdict.NEW),
        (host(), KEY, CERT, TrustVerdict.TRUSTED),
        (host(cert=None), KEY, CERT, TrustVerdict.TRUSTED),
        (host(), KEY, OTHER_CERT, TrustVerdict.CERT_CHANGED),
        (host(), OTHER_KEY, CERT, TrustVerdict.CHANGED),
        (host(), OTHER_KEY, OTHER_CERT, TrustVerdict.CHANGED),
        (host(cert=None), OTHER_KEY, CERT, TrustVerdict.CHANGED),
    ],
)
def test_judge(entry: KnownHost | None, key: str, cert: str, verdict: TrustVerdict) -> None:
    assert judge(entry, key, cert) is verdict


def test_changed_key_message() -> None:
    path = Path("/home/u/.config/severus/known_hosts.json")
    text = changed_key_message("10.0.0.1:3000", host(), OTHER_KEY, path)
    assert "\n@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\n" in text
    assert KEY in text and OTHER_KEY in text and str(path) in text
    assert "severus trust remove 10.0.0.1:3000" in text
    assert "nothing was changed" in text
    assert text.count("\n") >= 5


def test_changed_certificate_message() -> None:
    """The refusal must give the user what to check and how to recover: the host, the
    pinned and the presented certificate, the command that removes the pin, each on a
    line of its own under a banner that cannot be overlooked."""
    text = changed_certificate_message("10.0.0.1:3000", CERT, OTHER_CERT)
    lines = text.split("\n")
    assert lines[1] == "@@@ WARNING: REMOTE HOST CERTIFICATE HAS CHANGED! @@@"
    assert lines[0] == lines[2] == "@" * len(lines[1])
    assert any(OTHER_CERT in line and "10.0.0.1:3000" in line for line in lines)
    assert any(CERT in line and OTHER_CERT not in line for line in lines)
    assert lines[-1] == "    severus trust remove 10.0.0.1:3000"


def test_new_host_message() -> None:
    text = new_host_message("example.com:3000", KEY, CERT)
    assert text.startswith("The authenticity of host 'example.com:3000' can't be established.")
    assert f"Its identity fingerprint is {KEY} (TLS certificate {CERT})." in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "example.com:3000"),
        ("Example.COM:4000", "example.com:4000"),
        ("  localhost.  ", "localhost:3000"),
        ("127.0.0.1", "127.0.0.1:3000"),
        ("127.0.0.1:65535", "127.0.0.1:65535"),
        ("[::1]:80", "[::1]:80"),
        ("[::1]", "[::1]:3000"),
        ("::1", "[::1]:3000"),
        ("[2001:DB8:0:0::1]:1", "[2001:db8::1]:1"),
        ("[fe80::1%eth0]:5", "[fe80::1%eth0]:5"),
        ("my_host-1.lan:3000", "my_host-1.lan:3000"),
        ("bücher.de", "xn--bcher-kva.de:3000"),
    ],
)
def test_normalise_host(text: str, expected: str) -> None:
    assert normalise_host(text) == expected
    assert normalise_host(expected) == expected


def test_normalise_host_default_port() -> None:
    assert normalise_host("a", default_port=9) == "a:9"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "host:",
        "host:0",
        "host:65536",
        "host:99999999",
        "host:-1",
        "host: 80",
        "host:\uff18\uff10",  # full-width digits
        "host:port",
        "-bad.com",
        "bad-.com",
        "a..b",
        ".",
        "a b",
        "a/b",
        "256.1.1.1",
        "1.2.3",
        "[::1",
        "[::1]80",
        "[1.2.3.4]:80",
        "[fe80::1%a b]",
        "[fe80::1%\x1b]",
        "::g",
        "x" * 64 + ".com",
        ".".join(["a" * 60] * 5),
        "host\x1b[31m",
    ],
)
def test_normalise_host_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        normalise_host(text)
    assert "\x1b" not in info.value.message


def _check_normalised(result: str) -> None:
    host_part, _, port = result.rpartition(":")
    assert 1 <= int(port) <= 65535
    assert result.isascii() and result.isprintable()
    if host_part.startswith("["):
        ipaddress.IPv6Address(host_part[1:-1])
    else:
        assert host_part == host_part.lower()


@given(st.text())
@example("[::ffff:1.2.3.4]:1")
@example("\uff21\uff22\uff23.com")  # full-width letters
@example("xn--.com")
def test_normalise_host_property(text: str) -> None:
    try:
        result = normalise_host(text)
    except UsageError:
        return
    _check_normalised(result)
    assert normalise_host(result) == result


hostname = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)


@given(
    st.one_of(
        st.lists(hostname, min_size=1, max_size=4)
        .map(".".join)
        .filter(lambda name: not name.rsplit(".", 1)[-1].isdigit()),
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    ),
    st.integers(1, 65535),
)
def test_normalise_valid_hosts(name: str, port: int) -> None:
    result = normalise_host(f"{name}:{port}")
    _check_normalised(result)
    assert result.endswith(f":{port}")
    assert result.lower() == f"{name}:{port}".lower() or name.startswith("[")


def test_host_names_are_at_most_253_characters() -> None:
    """DNS caps a name at 253 characters: the longest legal name is a pin key like any
    other, one character more is refused (a trailing root dot does not count)."""
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    assert normalise_host(longest) == f"{longest}:3000"
    assert normalise_host(longest + ".") == f"{longest}:3000"
    with pytest.raises(UsageError):
        normalise_host(longest + "d")


def test_bad_hosts_are_quoted_escaped_and_cut_short() -> None:
    """A rejected host reaches the terminal in the error: escaped (no control sequence
    gets through), cut short when huge, and shown whole when short so it can be fixed."""
    with pytest.raises(UsageError) as info:
        normalise_host("\x1b]0;owned\x07" + "x" * 10_000)
    message = info.value.message
    assert "\x1b" not in message and "\x07" not in message
    assert message.startswith("'\\x1b]0;owned\\x07xxx")
    assert len(message) < 300

    with pytest.raises(UsageError) as info:
        normalise_host("ex ample")
    assert info.value.message.startswith("'ex ample' is not a valid host")
