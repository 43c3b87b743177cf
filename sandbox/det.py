"""Deterministic pseudo-randomness: the same inputs always give the same 'noise'."""

import hashlib
from datetime import UTC, datetime


def digest(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def unit(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`."""
    return int(digest(*parts)[:13], 16) / float(16**13)


def jitter(spread: float, *parts: object) -> float:
    """A factor in [1 - spread, 1 + spread] fixed by `parts`."""
    return 1.0 + spread * (2.0 * unit(*parts) - 1.0)


def letters(n: int, *parts: object) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    h = int(digest(*parts), 16)
    out = []
    for _ in range(n):
        h, i = divmod(h, 26)
        out.append(alphabet[i])
    return "".join(out)


def numeric_id(*parts: object, digits: int = 19) -> str:
    return str(int(digest(*parts), 16))[:digits]


def rfc3339(epoch: float) -> str:
    """Google's timestamp format with microseconds, e.g. 2026-10-01T07:00:00.000000Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
