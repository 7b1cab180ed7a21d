"""The README's exit-code table, held by real processes: Ctrl-C (a SIGINT, or the key on
a raw prompt) is 130 wherever it is pressed, ``/quit`` and Ctrl-D are 0, and the trust
question neither hangs on Ctrl-C nor takes a stray answer for one."""

from __future__ import annotations

import json
import signal
import socket
from typing import TYPE_CHECKING

import pytest

from tests.e2e.lab import TIMEOUT

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Term

CTRL_C = "\x03"
CTRL_D = "\x04"
INTERRUPTED = 130


def _pins(lab: Lab, config: str) -> list[dict[str, str]]:
    listed = lab.run("trust", "list", "--json", "--config-dir", str(lab.config(config)))
    assert listed.returncode == 0, listed.stderr.decode()
    rows: list[dict[str, str]] = json.loads(listed.stdout)
    return rows


def _exits_with(term: Term, code: int) -> None:
    status = term.wait_exit()
    assert status == code, term.text
    assert "Traceback" not in term.text


def test_ctrl_c_at_the_trust_question_exits_130_and_pins_nothing(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.join(host, "bob", accept_new=False, welcome=False)
    bob.expect(r"\(yes/no\)\? ")
    bob.child.send(CTRL_C)
    _exits_with(bob, INTERRUPTED)
    assert _pins(lab, "bob") == []
    assert "bob joined" not in host.text


def test_the_trust_question_is_asked_again_until_it_is_answered(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.join(host, "bob", accept_new=False, welcome=False)
    bob.expect(r"\(yes/no\)\? ")
    bob.type("y")  # OpenSSH wants the whole word, and so do we
    bob.expect(r"Please type 'yes', 'no' or the fingerprint: ")
    bob.type("SHA256:" + "A" * 43)  # a fingerprint, but not this host's
    bob.expect(r"Please type 'yes', 'no' or the fingerprint: ")
    assert _pins(lab, "bob") == []
    bob.type(host.fingerprint)  # its very fingerprint is a yes
    bob.expect(r"Welcome, bob!")
    assert [row["key"] for row in _pins(lab, "bob")] == [host.fingerprint]
    bob.type("/quit")
    _exits_with(bob, 0)


def test_ctrl_c_while_join_connects_exits_130(lab: Lab) -> None:
    with socket.socket() as silent:  # takes the connection and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(TIMEOUT)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        bob = lab.join(address, "bob", welcome=False)
        held, _ = silent.accept()  # join is now waiting for TLS
        with held:
            bob.child.send(CTRL_C)  # the terminal is not raw yet: this is a SIGINT
            _exits_with(bob, INTERRUPTED)


def test_ctrl_c_on_an_empty_prompt_exits_130_and_quit_exits_0(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.join(host, "bob")
    host.expect(r" \* bob joined\.")
    bob.child.send("half-typed")
    bob.child.send(CTRL_C)  # the first Ctrl-C drops the half-typed line, as in a shell
    bob.say("still here", "bob")
    bob.child.send(CTRL_C)
    _exits_with(bob, INTERRUPTED)
    host.expect(r" \* bob left\.")
    assert "half-typed" not in host.text

    cy = lab.join(host, "cy")
    cy.type("/quit")
    _exits_with(cy, 0)
    dan = lab.join(host, "dan")
    dan.child.send(CTRL_D)
    _exits_with(dan, 0)

    host.child.send(CTRL_C)
    _exits_with(host, INTERRUPTED)
    quitter = lab.host("ana", port=lab.free_port(), config="other")
    quitter.type("/quit")
    _exits_with(quitter, 0)


def test_sigint_exits_130_on_pipes_and_unattended_servers(lab: Lab) -> None:
    host = lab.host("ana")
    joiner = lab.piped(
        "join", host.address, "--nick", "bob", "--accept-new", "--config-dir", str(lab.config("b"))
    )
    joiner.wait_line(r"Welcome, bob!")
    sender = lab.piped(
        "send", host.address, "--nick", "cron", "--accept-new", "--config-dir", str(lab.config("c"))
    )
    sender.write_line("before the interrupt")
    host.expect(r"cron: before the interrupt")
    for proc in (joiner, sender):
        proc.proc.send_signal(signal.SIGINT)
        assert proc.wait_exit() == INTERRUPTED, proc.stderr.decode()
        assert b"Traceback" not in proc.stderr

    port = lab.free_port()
    common = ("--bind", "127.0.0.1", "--port", str(port), "--config-dir", str(lab.config("srv")))
    served = lab.spawn("host", "--no-chat", *common, name="host --no-chat")
    served.expect(r"Ctrl-C stops it")
    served.child.kill(signal.SIGINT)
    _exits_with(served, INTERRUPTED)
    served = lab.spawn("host", "--no-chat", *common, name="host --no-chat")
    served.expect(r"Ctrl-C stops it")
    served.child.kill(signal.SIGTERM)  # how a service manager stops it: not a failure
    _exits_with(served, 0)

    relay = lab.spawn("relay", *common, name="relay")
    relay.expect(r"Ctrl-C stops the relay")
    relay.child.kill(signal.SIGINT)
    _exits_with(relay, INTERRUPTED)


@pytest.mark.parametrize("answer", ["", "no", "NO"])
def test_no_or_nothing_refuses(answer: str) -> None:
    from severus_cli.commands.join_cmds import trust_answer

    assert trust_answer(answer, "SHA256:x") is False


@pytest.mark.parametrize("answer", ["yes", " YES ", "SHA256:x"])
def test_yes_or_the_fingerprint_trusts(answer: str) -> None:
    from severus_cli.commands.join_cmds import trust_answer

    assert trust_answer(answer, "SHA256:x") is True


@pytest.mark.parametrize("answer", ["y", "n", "yes please", "SHA256:y", "sha256:x"])
def test_anything_else_asks_again(answer: str) -> None:
    from severus_cli.commands.join_cmds import trust_answer

    assert trust_answer(answer, "SHA256:x") is None
