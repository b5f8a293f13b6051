"""The external address data shipped with the engine (``fraud/data/external_addresses.csv``), normalised once."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

CATEGORIES = ("hotel", "weekly_mansion", "vacant", "po_box", "forwarding")


@lru_cache(maxsize=1)
def shipped() -> dict[str, frozenset[str]]:
    """address key → categories."""
    from fraud.normalize import normalize_address

    out: dict[str, set[str]] = {}
    text = files("fraud").joinpath("data/external_addresses.csv").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        category, _, address = line.partition(",")
        if category not in CATEGORIES:
            raise ValueError(f"unknown external address category {category!r}")
        key = normalize_address(address).key
        if key:
            out.setdefault(key, set()).add(category)
    return {k: frozenset(v) for k, v in out.items()}


def shipped_categories(address_key: str) -> frozenset[str]:
    return shipped().get(address_key, frozenset())
