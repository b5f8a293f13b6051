"""Importing this package registers every actor."""

from app.worker.actors import housekeeping

__all__ = ["housekeeping"]
