"""The shared kernel: base model, money, time, ids, errors, tenancy, outbox, idempotency.

``fraud`` and ``billing`` may import this package and nothing else from ``domain``.
"""
