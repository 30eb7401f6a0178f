"""Secrets stored as hashes: API keys and calendar feed tokens."""

from __future__ import annotations

import hashlib


def hash_key(raw: str) -> str:
    """The stored form of a key or token: its SHA-256, hex. They are long random strings, so a
    plain hash (no salt, no stretching) is enough, and a look-up by hash stays an index scan."""
    return hashlib.sha256(raw.encode()).hexdigest()
