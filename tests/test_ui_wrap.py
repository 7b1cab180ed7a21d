"""Lines wider than the terminal wrap under their last column (ui/wrap.py), so /help
stays a table on an 80-column screen, and a ticket is never cut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text

from severus_cli.core.client.events import Notice
from severus_cli.ui.input import help_lines
from severus_cli.ui.render import render
from severus_cli.ui.wrap import hanging


def shown(text: str, width: int) -> list[str]:
    line = render(Notice(0.0, text), own_nick="bob", timestamp=lambda _: "12:00")
    return hanging(line, width).plain.split("\n")


def test_help_wraps_under_its_summary_column_at_80_columns() -> None:
    rows = [row for text in help_lines() for row in shown(text, 80)]
    assert all(cell_len(row) <= 80 for row in rows), rows
    first = shown(next(t for t in help_lines() if t.startswith("  /msg")), 80)
    assert len(first) == 2
    column = first[0].index("private")
    assert first[1].startswith(" " * column) and first[1][column] != " "


def test_a_ticket_is_never_cut_and_starts_a_row_of_its_own() -> None:
    ticket = "sev" + "a" * 120
    for text in ("This host's ticket:\n" + ticket, ticket):
        assert shown(text, 80)[-1] == ticket
    assert shown(ticket, 200) == [f"12:00 -> {ticket}"]  # it fits: nothing changes


def test_styles_survive_the_wrap() -> None:
    line = Text("12:00 -> ") + Text("word " * 30, style="bold")
    wrapped = hanging(line, 40)
    assert [span.style for span in wrapped.spans if span.style] and "\n" in wrapped.plain


@given(st.text(alphabet="ab \u4e00", max_size=300), st.integers(20, 120))
def test_nothing_is_lost_or_moved(text: str, width: int) -> None:
    rows = hanging(Text(text), width).plain.split("\n")
    assert "".join(text.split()) == "".join("".join(rows).split())
    if all(cell_len(word) <= width // 2 for word in text.split()):
        assert all(cell_len(row) <= width for row in rows), rows
