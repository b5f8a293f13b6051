"""Importing this package registers every actor."""

from app.worker.actors import checkout, collections, collections_dunning, fraud, housekeeping, settlement, webhooks

__all__ = ["checkout", "collections", "collections_dunning", "fraud", "housekeeping", "settlement", "webhooks"]
