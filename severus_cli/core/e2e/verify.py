"""Safety codes: the same digits on both sides, derived from both identity keys."""

from __future__ import annotations

import hashlib

GROUPS = 6


def safety_code(key_a: bytes, key_b: bytes) -> str:
    """Thirty digits in six groups; equal for (a, b) and (b, a), different for any other
    pair of keys, so reading them to each other out of band proves no key was swapped."""
    low, high = sorted((key_a, key_b))
    digest = hashlib.sha512(b"severus-verify/1\x00" + low + high).digest()
    groups = (int.from_bytes(digest[i * 5 : i * 5 + 5], "big") % 100000 for i in range(GROUPS))
    return " ".join(f"{group:05d}" for group in groups)
