"""Request-scoped context the core may read without knowing HTTP: the correlation (request) id.

The edge sets it per request; :func:`domain.kit.outbox.enqueue` copies it into each message so a job's logs can
be tied to the request that caused it.
"""

from __future__ import annotations

from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
