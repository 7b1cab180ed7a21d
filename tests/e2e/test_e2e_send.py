"""``severus send``: stdin to a host, exit status only once everything was acknowledged."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_send_lines_private_whole_and_failures(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")

    # One message per line, in order, acknowledged before exit 0.
    lines = lab.send(ana, b"one\ntwo\nthree\n", "--accept-new")
    assert lines.returncode == 0, lines.stderr.decode()
    bob.expect(r"cron: one\n(?:.*\n)*?.*cron: two\n(?:.*\n)*?.*cron: three\n")
    ana.expect(r"cron: one\n(?:.*\n)*?.*cron: two\n(?:.*\n)*?.*cron: three\n")

    # --to: privately, to bob only.
    private = lab.send(ana, b"for-bob-only\n", "--to", "bob")
    assert private.returncode == 0, private.stderr.decode()
    bob.expect(r"\[PM from cron\] for-bob-only")

    # --whole: all of stdin as one multi-line message.
    whole = lab.send(ana, b"first-w\nsecond-w\nthird-w\n", "--whole")
    assert whole.returncode == 0, whole.stderr.decode()
    bob.expect(r"cron: first-w\n +second-w\n +third-w\n")
    assert not re.search(r"cron: (second|third)-w", bob.text)

    # Marker: everything above has reached ana; the DM never did.
    marker = lab.send(ana, b"marker-send\n")
    assert marker.returncode == 0, marker.stderr.decode()
    ana.expect(r"cron: marker-send")
    assert "for-bob-only" not in ana.text

    # --to somebody absent: refused, exit 6, says why.
    nobody = lab.send(ana, b"lost words\n", "--to", "nobody")
    assert nobody.returncode == 6, nobody.stderr.decode()
    assert "nobody is called nobody" in nobody.stderr.decode()
    assert "Traceback" not in nobody.stderr.decode()

    # A closed port: exit 5, with a message rather than a traceback.
    closed = lab.send(f"127.0.0.1:{lab.free_port()}", b"into the void\n")
    assert closed.returncode == 5, closed.stderr.decode()
    assert "cannot reach 127.0.0.1" in closed.stderr.decode()
    assert "Traceback" not in closed.stderr.decode()

    bob.type("/users")
    bob.expect(r"-> 2 in lobby: ana, bob\n")
    assert "lost words" not in ana.text + bob.text
    # A send shows its lines and nothing else: no join or leave line on anyone's screen.
    assert "cron joined" not in ana.text + bob.text
    assert "cron left" not in ana.text + bob.text
