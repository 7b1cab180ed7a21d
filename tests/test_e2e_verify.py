"""Safety codes: the same thirty digits on both sides, different for any other key pair."""

from __future__ import annotations

import hashlib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.e2e.verify import GROUPS, safety_code

ANA = bytes(range(32))
BOB = bytes(range(100, 132))
FORMAT = re.compile(r"\d{5}( \d{5}){5}")

keys = st.binary(min_size=32, max_size=32)


def test_format_is_six_groups_of_five_digits() -> None:
    code = safety_code(ANA, BOB)
    assert GROUPS == 6
    assert FORMAT.fullmatch(code), code
    assert len(code.replace(" ", "")) == 30


def test_symmetric() -> None:
    assert safety_code(ANA, BOB) == safety_code(BOB, ANA)


def test_differs_for_other_keys() -> None:
    code = safety_code(ANA, BOB)
    mallory = bytearray(BOB)
    mallory[-1] ^= 1
    assert safety_code(ANA, bytes(mallory)) != code
    assert safety_code(bytes(mallory), BOB) != code
    assert safety_code(ANA, ANA) != code


def test_derivation() -> None:
    """SHA-512 over a label and the two keys in byte order; 5-byte groups mod 100,000."""
    digest = hashlib.sha512(b"severus-verify/1\x00" + ANA + BOB).digest()
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100000 for i in range(0, 30, 5)]
    assert safety_code(BOB, ANA) == " ".join(f"{g:05d}" for g in groups)


@settings(max_examples=200, deadline=None)
@given(keys, keys, keys)
def test_any_keys(a: bytes, b: bytes, c: bytes) -> None:
    code = safety_code(a, b)
    assert FORMAT.fullmatch(code)
    assert code == safety_code(b, a)
    if c not in (a, b):
        assert safety_code(a, c) != code  # 100 bits: a collision here would be news
