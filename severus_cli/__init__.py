"""Severus: a self-hosted, private, peer-to-peer messenger for the terminal."""

__version__ = "0.1.0"
