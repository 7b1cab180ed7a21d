"""How people read keys: OpenSSH-style ``SHA256:`` + unpadded base64 of SHA-256.

Kept apart from :mod:`identity` so code that only shows fingerprints does not import
the certificate machinery.
"""

from __future__ import annotations

import base64
import hashlib

FINGERPRINT_PREFIX = "SHA256:"


def digest_fingerprint(digest: bytes) -> str:
    """Format an already computed SHA-256 (such as a certificate hash)."""
    return FINGERPRINT_PREFIX + base64.b64encode(digest).decode("ascii").rstrip("=")


def fingerprint(data: bytes) -> str:
    return digest_fingerprint(hashlib.sha256(data).digest())
