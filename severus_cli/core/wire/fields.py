"""Field checks for packets: each Kind validates one decoded msgpack value.

Decoding trusts nothing: a value must have exactly the expected Python type (msgpack
gives bool, int, float, str, bytes, list, dict) and fit its bounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from severus_cli.core.native import mypyc_attr

NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
MAX_ID = 2**32 - 1
MAX_LIST = 4096  # names in one roster or room list


@mypyc_attr(allow_interpreted_subclasses=True)  # other modules add kinds (relay packets)
class Kind:
    """Checks one field's value; raises ValueError with a short reason."""

    def check(self, value: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Kind):
    max_len: int
    min_len: int = 0

    def check(self, value: Any) -> Any:
        if type(value) is not str:
            raise ValueError("must be a string")
        if not self.min_len <= len(value) <= self.max_len:
            raise ValueError(f"length must be {self.min_len}..{self.max_len}")
        return value


@dataclass(frozen=True)
class Name(Kind):
    """A nick or room name: 1-32 of letters, digits, ``_ . -``."""

    def check(self, value: Any) -> Any:
        if type(value) is not str or NAME_RE.fullmatch(value) is None:
            raise ValueError("must be 1-32 of letters, digits, _ . -")
        return value


@dataclass(frozen=True)
class Int(Kind):
    low: int = 0
    high: int = MAX_ID

    def check(self, value: Any) -> Any:
        if type(value) is not int or not self.low <= value <= self.high:
            raise ValueError(f"must be an integer {self.low}..{self.high}")
        return value


@dataclass(frozen=True)
class Float(Kind):
    def check(self, value: Any) -> Any:
        if type(value) is int:
            value = float(value)
        if type(value) is not float or value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return value


@dataclass(frozen=True)
class Bool(Kind):
    def check(self, value: Any) -> Any:
        if type(value) is not bool:
            raise ValueError("must be a boolean")
        return value


@dataclass(frozen=True)
class Blob(Kind):
    size: int

    def check(self, value: Any) -> Any:
        if type(value) is not bytes or len(value) != self.size:
            raise ValueError(f"must be {self.size} bytes")
        return value


@dataclass(frozen=True)
class Optional(Kind):
    inner: Kind

    def check(self, value: Any) -> Any:
        return None if value is None else self.inner.check(value)


@dataclass(frozen=True)
class ListOf(Kind):
    inner: Kind
    max_items: int = MAX_LIST

    def check(self, value: Any) -> Any:
        if type(value) is not list or len(value) > self.max_items:
            raise ValueError(f"must be a list of at most {self.max_items} items")
        return tuple(self.inner.check(item) for item in value)


@dataclass(frozen=True)
class Pair(Kind):
    first: Kind
    second: Kind

    def check(self, value: Any) -> Any:
        if type(value) is not list or len(value) != 2:
            raise ValueError("must be a pair")
        return (self.first.check(value[0]), self.second.check(value[1]))


@dataclass(frozen=True)
class Bin(Kind):
    """Opaque bytes of bounded length (end-to-end ciphertext the host only relays)."""

    max_len: int
    min_len: int = 0

    def check(self, value: Any) -> Any:
        if type(value) is not bytes or not self.min_len <= len(value) <= self.max_len:
            raise ValueError(f"must be {self.min_len}..{self.max_len} bytes")
        return value


WORD_RE = re.compile(r"[a-z]{1,8}")


@dataclass(frozen=True)
class Word(Kind):
    """A short lowercase tag such as a relay kind."""

    def check(self, value: Any) -> Any:
        if type(value) is not str or WORD_RE.fullmatch(value) is None:
            raise ValueError("must be 1-8 lowercase letters")
        return value


@dataclass(frozen=True)
class Absent(Kind):
    """A field added by a later minor revision: a sender leaves it out while it holds
    ``default``, and a packet from an older peer, which never sends it, gets ``default``.
    So older peers (which ignore fields they do not know) and newer ones interoperate."""

    inner: Kind
    default: Any = ()

    def check(self, value: Any) -> Any:
        return self.inner.check(value)
