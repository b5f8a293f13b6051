"""Importing this package registers every actor."""

from app.worker.actors import fraud, housekeeping, webhooks

__all__ = ["fraud", "housekeeping", "webhooks"]
