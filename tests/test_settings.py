"""config.toml parsing, edits and precedence: pure functions, no processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from severus_cli.core.store.settings import (
    SavedHost,
    Settings,
    choose,
    parse_settings,
    with_host,
    without_host,
)
from severus_cli.errors import ConfigError
from severus_cli.runtime.sleep_watch import SleepWatch

PATH = Path("/cfg/config.toml")
FP = "SHA256:" + "A" * 43


def test_parse_defaults_and_hosts() -> None:
    text = (
        f'nick = "bob"\nmode = "quic"\n[hosts.work]\naddress = "10.0.0.1"\nfingerprint = "{FP}"\n'
    )
    settings = parse_settings(text, PATH)
    assert (settings.nick, settings.mode) == ("bob", "quic")
    assert settings.hosts["work"] == SavedHost("work", address="10.0.0.1", fingerprint=FP)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('nick = "bob\n', "line 1, column"),
        ('nick = "bad nick!"\n', "line 1:"),
        ('\n\nmode = "udp"\n', "line 3:"),
        ('colour = "red"\n', "line 1:"),
        ('[hosts.w]\naddress = "1.2.3.4"\nticket = "sevx"\n', "line 1:"),
        ("[hosts.w]\n\nport = 3\n", "line 3:"),
        ('[hosts.w]\naddress = "1.2.3.4"\nfingerprint = "SHA1:x"\n', "line 3:"),
        ("[hosts.w]\naddress = 3\n", "line 2:"),
        ("hosts = 3\n", "line 1:"),
    ],
)
def test_errors_name_the_file_and_line(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, PATH)
    assert caught.value.message.startswith(f"{PATH}, {where}"), caught.value.message


def test_add_then_remove_keeps_the_rest_verbatim() -> None:
    text = '# mine\nnick = "bob"   # me\n\n# next: friends\n[hosts.friends]\naddress = "a.b"\n'
    added = with_host(text, PATH, SavedHost("work", address="1.2.3.4:9", nick="w"))
    assert added.startswith(text)
    assert parse_settings(added, PATH).hosts["work"].nick == "w"
    assert without_host(added, PATH, "work") == text + "\n"
    removed = without_host(text, PATH, "friends")
    assert removed == '# mine\nnick = "bob"   # me\n\n# next: friends\n'  # comments stay


def test_edits_refuse_rather_than_damage() -> None:
    inline = 'hosts = { work = { address = "1.2.3.4" } }\n'
    with pytest.raises(ConfigError, match="edit it by hand"):
        with_host(inline, PATH, SavedHost("other", address="5.6.7.8"))
    with pytest.raises(ConfigError, match="edit by hand"):
        without_host(inline, PATH, "work")
    with pytest.raises(ConfigError, match="already has"):
        with_host(inline, PATH, SavedHost("work", address="5.6.7.8"))
    with pytest.raises(ConfigError, match="no host called"):
        without_host("", PATH, "work")


def test_command_line_wins_then_host_then_defaults() -> None:
    ticket_host = SavedHost("club", ticket="sev" + "a" * 60)
    settings = Settings(
        PATH,
        "bob",
        "quic",
        {
            "work": SavedHost("work", address="1.2.3.4", nick="w", fingerprint=FP),
            "club": ticket_host,
        },
    )
    chosen = choose(settings, "work", None, None, None)
    assert (chosen.target, chosen.nick, chosen.mode, chosen.fingerprint) == (
        "1.2.3.4",
        "w",
        "quic",
        FP,
    )
    assert choose(settings, "work", "me", "direct", None).nick == "me"
    assert choose(settings, "work", "me", "direct", None).mode == "direct"
    assert choose(settings, "club", None, None, None).mode is None  # a ticket says its own
    other = choose(settings, "5.6.7.8:1", None, None, None)
    assert (other.target, other.nick, other.mode) == ("5.6.7.8:1", "bob", "quic")
    assert choose(settings, None, None, None, None).target is None
    assert choose(Settings(), "work", None, None, None).target == "work"


def test_sleep_watch_reports_only_long_gaps() -> None:
    watch = SleepWatch(100.0, threshold=5.0)
    assert watch.check(100.5) is None
    assert watch.check(104.0) is None
    assert watch.check(149.0) == 45.0
    assert watch.check(149.5) is None
