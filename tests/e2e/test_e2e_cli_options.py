"""The command line people type from habit: ``--version``, ``-h``, and options every
command has given before the command, as with ``ssh`` or ``git``."""

from __future__ import annotations

import os
import re
from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_version_and_short_help(lab: Lab) -> None:
    shown = lab.run("--version")
    assert shown.returncode == 0, shown.stderr.decode()
    core = " (compiled core)" if os.environ.get("SEVERUS_COMPILED") else ""  # a mypyc run
    assert shown.stdout.decode().strip() == f"severus {version('severus')}{core}"
    for args in (("-h",), ("join", "-h"), ("trust", "-h"), ("trust", "list", "-h")):
        helped = lab.run(*args)
        assert helped.returncode == 0, (args, helped.stderr.decode())
        assert helped.stdout.decode().startswith("Usage: severus"), args
        assert "--config-dir" in helped.stdout.decode()


def test_config_dir_before_the_command(lab: Lab) -> None:
    before, after = lab.config("before"), lab.config("after")
    first = lab.run("--config-dir", str(before), "fingerprint")
    assert first.returncode == 0, first.stderr.decode()
    assert lab.fingerprint(before) in first.stdout.decode()
    assert (before / "identity.key").exists()

    for args in (
        ("--config-dir", str(before), "trust", "list"),
        ("trust", "--config-dir", str(before), "list"),
        ("trust", "list", "--config-dir", str(before)),
    ):
        listed = lab.run(*args)
        assert listed.returncode == 0, (args, listed.stderr.decode())
        assert str(before / "known_hosts.json") in listed.stdout.decode(), args

    # Given on both sides, the one after the command wins, as the more specific.
    both = lab.run("--config-dir", str(before), "fingerprint", "--config-dir", str(after))
    assert both.returncode == 0, both.stderr.decode()
    assert lab.fingerprint(after) in both.stdout.decode()
    assert lab.fingerprint(before) not in both.stdout.decode()

    unknown = lab.run("--no-such-option", "fingerprint")
    assert unknown.returncode == 2
    assert re.search(r"No such option", unknown.stderr.decode())
