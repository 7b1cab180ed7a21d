"""Network text must never act on the terminal, only be seen."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.ui.sanitize import escape_char, literal, literal_text, nick_safe, nick_text

ALLOWED_FORMAT = {"\u200c", "\u200d"}


def _unsafe(ch: str, *, multiline: bool = False) -> bool:
    if multiline and ch == "\n":
        return False
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return ch not in ALLOWED_FORMAT
    return cat in {"Cc", "Cs", "Zl", "Zp"}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb", "a\\rb"),
        ("a\bb", "a\\x08b"),
        ("ding\a", "ding\\x07"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b31m", "csi\\x9b31m"),
        ("a\tb", "a b"),
        ("one\ntwo", "one\\ntwo"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("lrm\u200erlm\u200falm\u061c", "lrm\\u200erlm\\u200falm\\u061c"),
        ("zw\u200bsp", "zw\\u200bsp"),
        ("bom\ufeff", "bom\\ufeff"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("lone\ud800", "lone\\ud800"),
        ("line\u2028sep", "line\\u2028sep"),
        ("héllo wörld 日本 🙂", "héllo wörld 日本 🙂"),
        ("family 👨\u200d👩\u200d👧", "family 👨\u200d👩\u200d👧"),
        ("", ""),
    ],
)
def test_literal_examples(raw: str, shown: str) -> None:
    assert literal(raw) == shown


def test_multiline_keeps_newlines_and_normalises_crlf() -> None:
    assert literal("a\nb\r\nc\rd", multiline=True) == "a\nb\nc\\rd"


def test_multiline_tabs_keep_code_indentation() -> None:
    assert literal("if x:\n\treturn\nab\tc", multiline=True) == "if x:\n    return\nab  c"


def test_escape_char_forms() -> None:
    assert escape_char("\x00") == "\\x00"
    assert escape_char("\n") == "\\n"
    assert escape_char("\u202e") == "\\u202e"
    assert escape_char("\U000e007f") == "\\U000e007f"


def test_literal_text_styles_escapes_apart() -> None:
    text = literal_text("a\x1bb", style="green")
    assert text.plain == "a\\x1bb"
    assert text.style == "green"
    assert [(s.start, s.end) for s in text.spans] == [(1, 5)]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("ana", "ana"),
        ("ana bob", "ana\\x20bob"),
        ("b\u200dob", "b\\u200dob"),
        ("\u3164", "\\u3164"),
        ("a\u00a0b", "a\\xa0b"),
        ("x\tz", "x\\tz"),
        ("", '""'),
    ],
)
def test_nick_safe_spells_out_lookalikes(raw: str, shown: str) -> None:
    assert nick_safe(raw) == shown
    assert nick_text(raw).plain == shown


@given(st.text())
def test_literal_leaves_nothing_that_acts(raw: str) -> None:
    shown = literal(raw)
    assert not any(_unsafe(ch) for ch in shown)
    assert "\n" not in shown and "\t" not in shown
    shown.encode("utf-8")  # no lone surrogates left


@given(st.text())
def test_multiline_literal_leaves_only_newlines(raw: str) -> None:
    shown = literal(raw, multiline=True)
    assert not any(_unsafe(ch, multiline=True) for ch in shown)
    assert shown.count("\n") == raw.replace("\r\n", "\n").count("\n")


@given(st.text())
def test_literal_text_matches_literal(raw: str) -> None:
    assert literal_text(raw).plain == literal(raw)
    assert literal_text(raw, multiline=True).plain == literal(raw, multiline=True)


@given(st.text())
def test_nick_safe_is_printable_without_spaces(raw: str) -> None:
    shown = nick_safe(raw)
    assert shown.isprintable()
    assert not any(ch.isspace() for ch in shown)


@given(st.text(alphabet=st.characters(categories=("L", "N", "P", "S"))))
def test_printable_text_is_untouched(raw: str) -> None:
    assert literal(raw) == raw
