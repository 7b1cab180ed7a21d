"""``/ban`` durations: a typo or a negative time is an error, never a ban for ever."""

from __future__ import annotations

import pytest

from severus_cli.ui.input import BadCommand, Ban, parse_line


@pytest.mark.parametrize("word", ["5x", "-1m", "+1m", "1.5h", ".5h", "10", "0m", "1m30", "99999y"])
def test_a_bad_duration_bans_nobody(word: str) -> None:
    intent = parse_line(f"/ban bob {word} because")
    assert isinstance(intent, BadCommand), intent
    assert "nobody was banned" in intent.message
    assert "Usage: /ban" in intent.message


@pytest.mark.parametrize(
    ("line", "seconds", "reason"),
    [
        ("/ban bob 5m spam", 300.0, "spam"),
        ("/ban bob 1h30m", 5400.0, ""),
        ("/ban bob permanent 2nd offence", None, "2nd offence"),
        ("/ban bob spamming again", None, "spamming again"),
        ("/ban bob", None, ""),
    ],
)
def test_good_durations_and_reasons(line: str, seconds: float | None, reason: str) -> None:
    assert parse_line(line) == Ban("bob", seconds, reason)
