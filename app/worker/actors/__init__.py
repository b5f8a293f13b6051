"""Importing this package registers every actor."""

from app.worker.actors import (
    billing,
    checkout,
    collections,
    collections_dunning,
    fraud,
    housekeeping,
    settlement,
    webhooks,
)

__all__ = [
    "billing",
    "checkout",
    "collections",
    "collections_dunning",
    "fraud",
    "housekeeping",
    "settlement",
    "webhooks",
]
