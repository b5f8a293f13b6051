"""Importing this package registers every actor."""

from app.worker.actors import checkout, collections, fraud, housekeeping, webhooks

__all__ = ["checkout", "collections", "fraud", "housekeeping", "webhooks"]
