"""Importing this package registers every actor."""

from app.worker.actors import fraud, housekeeping

__all__ = ["fraud", "housekeeping"]
