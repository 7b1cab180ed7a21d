"""Severus: a self-hosted, private, peer-to-peer messenger for the terminal."""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("SEVERUS_COMPILED"):  # opt-in mypyc build: severus_cli/_compiled.py
    from severus_cli._compiled import activate as _activate

    _activate(_os.environ["SEVERUS_COMPILED"])
