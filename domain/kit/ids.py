"""Prefixed, sortable ids (``opr_01J…``): a ULID in Crockford base32 after a type prefix.

ULIDs sort by creation time, so ``ORDER BY id`` is creation order and cursor pagination needs no second key.
"""

from __future__ import annotations

from ulid import ULID

from domain.kit import clock


def new_id(prefix: str) -> str:
    """A new id such as ``mch_01JD3…`` (prefix, underscore, 26-character ULID)."""
    return f"{prefix}_{ULID.from_datetime(clock.utc_now())}"
