"""Everyday slips, as a person meets them: each says plainly what happened, once.

A ticket cut short, a URL where an address goes, a taken nick, a multi-line paste
that starts with a command, a host started with stdin at its end, and `trust list`
whose fingerprints must stay whole on one line to be compared.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.runtime.target_checks import SHORTEST_TICKET
from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

FP = r"SHA256:[A-Za-z0-9+/]{43}"


def test_a_ticket_cut_short_is_called_that(lab: Lab) -> None:
    ana = lab.host("ana")
    ticket = ticket_in(ana.text)
    for cut in (ticket[:12], ticket[:40], ticket[:41], ticket[:-7]):
        done = lab.run("join", cut, "--nick", "bob", "--config-dir", str(lab.config("bob")))
        err = done.stderr.decode()
        assert done.returncode == 2, (cut, err)
        assert "cut short" in err, (cut, err)
        assert "resolve" not in err and "Traceback" not in err, err
    short = lab.run("join", ticket[:20], "--nick", "bob", "--config-dir", str(lab.config("bob")))
    assert f"at least {SHORTEST_TICKET}" in short.stderr.decode()


def test_a_url_is_not_an_address(lab: Lab) -> None:
    done = lab.run("join", "https://chat.example.org/room", "--nick", "bob")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "is a URL" in err and "HOST[:PORT]" in err and "ticket" in err, err
    assert "port" not in err.split("HOST[:PORT]")[0].lower(), err  # not "bad port"


def test_a_taken_nick_is_reported_once(lab: Lab) -> None:
    ana = lab.host("ana")
    lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    for name, term in (("terminal", True), ("pipe", False)):
        args = ["join", ana.address, "--nick", "BOB", "--accept-new"]
        args += ["--config-dir", str(lab.config(f"other-{name}"))]
        if term:
            other = lab.spawn(*args, name="join BOB")
            assert other.wait_exit() == 6
            shown = other.text
        else:
            done = lab.run(*args)
            assert done.returncode == 6
            shown = done.stdout.decode() + done.stderr.decode()
        assert shown.count("is taken") == 1, shown
        assert "Disconnected" not in shown, shown


def test_a_pasted_block_that_starts_with_a_command_says_why(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    # A bracketed paste of two lines, as a terminal sends it, then Enter.
    bob.child.send("\x1b[200~/join rust\rpasted below\x1b[201~\r")
    bob.expect(r"starts with /join, which takes one line: nothing was sent")
    bob.expect(r"start the paste with //")
    bob.say("sentinel", "bob")
    ana.expect(r"bob: sentinel")
    assert "pasted below" not in ana.text
    assert "Usage:" not in bob.text
    # A block for /msg is one private message over several lines: it is sent.
    bob.child.send("\x1b[200~/msg ana first line\rsecond line\x1b[201~\r")
    ana.expect(r"first line")
    ana.expect(r"second line")


def test_host_with_stdin_at_its_end_hints_at_no_chat(lab: Lab) -> None:
    port = str(lab.free_port())
    done = lab.run("host", "--bind", "127.0.0.1", "--port", port, "--config-dir",
                   str(lab.config("h")), stdin=b"")  # fmt: skip
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "stdin" in err and "severus host --no-chat" in err, err
    # /quit is a choice, not an accident: no hint then.
    quit_ = lab.run("host", "--bind", "127.0.0.1", "--port", port, "--config-dir",
                    str(lab.config("h")), stdin=b"/quit\n")  # fmt: skip
    assert quit_.returncode == 0 and "--no-chat" not in quit_.stderr.decode()


def test_trust_list_never_wraps_hosts_or_fingerprints(lab: Lab) -> None:
    cfg = str(lab.config("pins"))
    long_host = "a-rather-long-host-name.in-a-deep.subdomain.example.org:31337"
    keys = [fingerprint(bytes([i]) * 32) for i in (1, 2)]
    for host, key in ((long_host, keys[0]), ("[2001:db8::1234:5678]:3000", keys[1])):
        assert lab.run("trust", "add", host, key, "--config-dir", cfg).returncode == 0
    piped = lab.run("trust", "list", "--config-dir", cfg).stdout.decode()
    term = lab.spawn("trust", "list", "--config-dir", cfg, name="trust list")  # 120 columns
    assert term.wait_exit() == 0
    for shown in (piped, term.text):
        lines = shown.splitlines()
        for host, key in ((long_host, keys[0]), ("[2001:db8::1234:5678]:3000", keys[1])):
            row = [line for line in lines if host in line]
            assert len(row) == 1 and key in row[0], shown
        assert all(len(re.findall(FP, line)) in (0, 1) for line in lines)
        assert len(re.findall(FP, shown)) == 2, shown  # each whole, on its row
