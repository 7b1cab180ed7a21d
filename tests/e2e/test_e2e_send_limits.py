"""``send`` and the message size limit: a line over it is refused by name with a usage
exit code, and every good line around it is still delivered, to a recipient who sees
nothing odd."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

LIMIT = 16_384


def test_a_line_over_the_limit_is_refused_and_the_others_delivered(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.join(host, "bob")
    host.expect(r" \* bob joined\.")
    batch = b"line A\n" + b"x" * (LIMIT + 1) + b"\nline C\n" + b"y" * 300_000 + b"\nline E\n"

    mark = bob.mark()
    private = lab.send(host, batch, "--accept-new", "--to", "bob")
    err = private.stderr.decode()
    assert private.returncode == 2, err
    assert "16,384" in err
    assert "line 2 (16,385 characters)" in err
    assert "line 4 (over" in err
    assert "every other line was delivered" in err
    for text in ("line A", "line C", "line E"):
        bob.expect(rf"\[PM from cron\] {text}")

    to_room = lab.send(host, batch)
    assert to_room.returncode == 2, to_room.stderr.decode()
    for text in ("line A", "line C", "line E"):
        host.expect(rf"cron: {text}")

    # A later message is the sentinel: whatever the refused lines caused came before it.
    sentinel = lab.send(host, b"sentinel\n", "--to", "bob")
    assert sentinel.returncode == 0, sentinel.stderr.decode()
    bob.expect(r"\[PM from cron\] sentinel")
    seen = bob.text_since(mark)
    assert "nobody is called" not in seen
    assert "xxxxxxxx" not in seen and "yyyyyyyy" not in seen
    assert "xxxxxxxx" not in host.text


def test_whole_stdin_over_the_limit_is_refused(lab: Lab) -> None:
    host = lab.host("ana")
    result = lab.send(host, b"z" * (LIMIT + 1), "--accept-new", "--whole")
    assert result.returncode == 2, result.stderr.decode()
    assert "16,384 characters): stdin (16,385 characters)" in result.stderr.decode()
    fits = lab.send(host, b"first\nsecond\n", "--whole")
    assert fits.returncode == 0, fits.stderr.decode()
    host.expect(r"cron: first")
    assert "zzzzzzzz" not in host.text
