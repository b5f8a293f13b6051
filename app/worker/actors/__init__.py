"""Importing this package registers every actor."""

from app.worker.actors import checkout, fraud, housekeeping, webhooks

__all__ = ["checkout", "fraud", "housekeeping", "webhooks"]
