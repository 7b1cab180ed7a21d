"""A host run by an attacker still cannot make participants read altered, replayed or
forged room messages, nor let someone who left a room read what follows.

The host is the real severus host with its routing patched the way an attacker who
controls it could (tests/e2e/evil_host/sitecustomize.py); the participants are real,
unmodified ``severus join --json`` processes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.lab import cli_env

if TYPE_CHECKING:
    from tests.e2e.lab import Host, Lab, Piped

EVIL = str(Path(__file__).resolve().parent / "evil_host")
WARNING = "failed end-to-end verification"


def _evil_host(lab: Lab, mode: str, **extra: str) -> Host:
    env = cli_env(PYTHONPATH=EVIL, EVIL_HOST_MODE=mode, **extra)
    return lab.host("ana", env=env)


def _dm(text: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the private message ``text``: the sentinel these tests end on."""
    return lambda event: event["event"] == "dm" and event["text"] == text


def _warning_about(nick: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["event"] == "notice" and f"from {nick} {WARNING}" in event["text"]


def _through_sentinel(sender: Piped, receiver: Piped, to: str) -> list[dict[str, Any]]:
    """What ``receiver`` (nick ``to``) shows up to a private message ``sender`` sends now.

    The host forwards everything ``sender`` sent before it, on the same connection and
    in order, so whatever those earlier messages cause has been shown by then.
    """
    text = f"sentinel for {to}"
    sender.write_line(f"/msg {to} {text}")
    return receiver.json_until(_dm(text))


def _said(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "message" and not e.get("own")]


def _warned(events: list[dict[str, Any]]) -> bool:
    return any(e["event"] == "notice" and WARNING in e["text"] for e in events)


@pytest.mark.parametrize("mode", ["tamper", "forge"])
def test_altered_or_misattributed_room_messages_are_dropped_with_a_warning(
    lab: Lab, mode: str
) -> None:
    host = _evil_host(lab, mode, EVIL_AS="dee")  # forge: everything "from dee"
    bob = lab.bot(host, "bob")
    cy = lab.bot(host, "cy")
    dee = lab.bot(host, "dee")
    bob.wait_json(event="join", nick="dee")  # so bob hands both his key
    dee.write_line("dee speaks")  # the host delivers it; only its label may change
    bob.write_line("bob speaks")  # sealed by bob; the host alters it on the way
    events = _through_sentinel(bob, cy, "cy")
    # The warning names whom the message claimed to be from. It may come only once a
    # late sender key arrives, so it is waited for rather than expected by now.
    claimed = _warning_about("dee" if mode == "forge" else "bob")
    if not any(claimed(event) for event in events):
        events += cy.json_until(claimed)
    assert "bob speaks" not in _said(events)


def test_replayed_room_messages_are_shown_once_and_flagged(lab: Lab) -> None:
    host = _evil_host(lab, "replay")
    bob = lab.bot(host, "bob")
    cy = lab.bot(host, "cy")
    bob.wait_json(event="join", nick="cy")
    bob.write_line("only once")
    events = _through_sentinel(bob, cy, "cy")  # both copies came before it
    if not _warned(events):
        events += cy.json_until(_warning_about("bob"))
    assert _said(events).count("only once") == 1


def test_who_left_a_room_cannot_read_what_follows(lab: Lab) -> None:
    host = _evil_host(lab, "leak")  # the host delivers room traffic to non-members too
    bob = lab.bot(host, "bob")
    cy = lab.bot(host, "cy")
    dee = lab.bot(host, "dee")
    bob.wait_json(event="join", nick="dee")
    for bot in (bob, cy, dee):
        bot.write_line("/join den")
        bot.wait_json(event="room", room="den")
    # bob seals for the members he knows of: he must have heard that dee came in (and cy
    # before her), or dee rightly gets no key for this line.
    bob.wait_json(event="join", nick="dee", room="den")
    bob.write_line("while dee is here")
    dee.wait_json(event="message", text="while dee is here")
    dee.write_line("/leave")
    bob.wait_json(event="leave", nick="dee", room="den")
    bob.write_line("after dee left")
    cy.wait_json(event="message", text="after dee left")  # members read it
    # dee gets the bytes but no key: by bob's next private message, nothing was shown.
    assert "after dee left" not in _said(_through_sentinel(bob, dee, "dee"))
