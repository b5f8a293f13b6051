"""Prometheus metrics beyond Litestar's request histogram (``litestar.plugins.prometheus``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SCREENINGS = Counter("bnpl_screenings_total", "Fraud screenings performed", ["verdict"])
ORDERS = Counter("bnpl_orders_total", "Orders authorized, put in review or declined at checkout", ["status"])
OUTBOX_LAG = Gauge("bnpl_outbox_lag_seconds", "Age of the oldest outbox message not yet relayed")
OUTBOX_PENDING_RELAYED = Counter("bnpl_outbox_relayed_total", "Outbox messages handed to the broker or run")
JOB_FAILURES = Counter("bnpl_job_failures_total", "Background job attempts that failed", ["actor", "final"])
