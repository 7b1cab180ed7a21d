"""How people read keys: OpenSSH-style ``SHA256:`` + unpadded base64 of SHA-256."""

from __future__ import annotations

import base64
import hashlib


def fingerprint(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
