"""config.toml: a default nick, hosts saved by name, and clear errors for a broken file."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_saved_hosts_join_and_send_by_name(lab: Lab) -> None:
    ana = lab.host("ana")
    config = lab.config("bob")
    config.mkdir(mode=0o700)
    settings = config / "config.toml"
    original = f'# bob\'s settings\nnick = "bob"\n\n[hosts.work]\naddress = "{ana.address}"\n'
    original += f'fingerprint = "{ana.fingerprint}"\n'
    settings.write_text(original)
    ticket = ticket_in(ana.text)
    added = lab.run("hosts", "add", "club", ticket, "--nick", "bobby", "--config-dir", str(config))
    assert added.returncode == 0, added.stderr
    assert settings.read_text().startswith(original)  # the user's text is kept as it was
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    listed = lab.run("hosts", "--config-dir", str(config))
    assert b"work" in listed.stdout and b"club" in listed.stdout, listed.stdout
    assert ticket.encode() not in listed.stdout  # it carries the join secret

    # By name, with the default nick and the saved fingerprint: no --accept-new needed.
    bot = lab.piped("join", "work", "--json", "--config-dir", str(config), name="join work")
    assert bot.wait_json(event="welcome")["nick"] == "bob"
    ana.expect(r" \* bob joined\.")
    # By name again, a ticket this time, with that host's own nick.
    sent = lab.run("send", "club", "--config-dir", str(config), stdin=b"hello from a ticket\n")
    assert sent.returncode == 0, sent.stderr
    ana.expect(r"bobby: hello from a ticket")
    bot.close_stdin()
    assert bot.wait_exit() == 0

    removed = lab.run("hosts", "remove", "club", "--config-dir", str(config))
    assert removed.returncode == 0, removed.stderr
    assert settings.read_text() == original + "\n"


def test_broken_config_file_names_the_file_and_line(lab: Lab) -> None:
    config = lab.config("bob")
    config.mkdir(mode=0o700)
    settings = config / "config.toml"
    settings.write_text('nick = "bob"\n\n[hosts.work]\naddress = "127.0.0.1:1\n')
    broken = lab.run("join", "work", "--config-dir", str(config))
    assert broken.returncode == 3, broken.stderr
    assert f"{settings}, line 4".encode() in broken.stderr, broken.stderr
    assert b"Traceback" not in broken.stderr

    settings.write_text('nick = "bob"\n[hosts.work]\nadress = "127.0.0.1:1"\n')
    typo = lab.run("send", "work", "--config-dir", str(config))
    assert typo.returncode == 3, typo.stderr
    assert f"{settings}, line 3".encode() in typo.stderr, typo.stderr
    assert b"adress" in typo.stderr
    # A failed edit leaves the file as it was.
    kept = settings.read_bytes()
    again = lab.run("hosts", "add", "more", "127.0.0.1:2", "--config-dir", str(config))
    assert again.returncode == 3, again.stderr
    assert settings.read_bytes() == kept
