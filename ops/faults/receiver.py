"""A merchant's webhook endpoint on 127.0.0.1 that records every delivery, as a careful merchant would handle it.

Each POST is recorded with its headers and raw body, its ``Bnpl-Signature`` verified against the endpoint's secret
(the standard-library check of ``docs/webhooks.md``, written out here as a merchant would, not imported), and the
event deduplicated by its id: ``handled`` holds each event once, in the order the receiver *acted* on them;
``deliveries`` holds every POST, duplicates included.

To make the sender's life hard on purpose, ``misbehave`` decides per POST what the endpoint does before answering:
``"ok"`` (200 at once), ``"fail"`` (500: the attempt fails and is retried a minute later), ``"slow"`` (the
handler records the event, then takes longer than the sender's 10 s timeout: the attempt counts as failed although
the event arrived, so the retry is a duplicate the receiver must ignore).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE = 300


def verify(secret: str, header: str, body: bytes, tolerance: int = TOLERANCE) -> None:
    """Raise ``ValueError`` unless ``header`` (Bnpl-Signature) signs ``body``; docs/webhooks.md's snippet."""
    items = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [int(v) for k, v in items if k == "t"]
    signatures = [v for k, v in items if k == "v1"]
    if not timestamps or not signatures:
        raise ValueError("malformed Bnpl-Signature")
    t = timestamps[0]
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise ValueError("signature mismatch")
    if abs(time.time() - t) > tolerance:
        raise ValueError("timestamp outside tolerance")


@dataclass
class Delivery:
    at: float
    event_id: str
    delivery_id: str
    event_type: str
    body: bytes
    signature_ok: bool
    signature_error: str
    answered: str  # ok | fail | slow
    duplicate: bool  # the event had been handled before this POST

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """``with Receiver() as r: r.url`` — a threaded HTTP server recording deliveries; ``r.secret`` must be set to
    the endpoint's secret once it is known (before the first event)."""

    def __init__(self, port: int = 0, misbehave: Callable[[str, int], str] | None = None, slow_seconds: float = 12):
        self.secret = ""
        self.deliveries: list[Delivery] = []
        self.handled: dict[str, Delivery] = {}  # event id -> the first delivery acted on (dedupe by event id)
        self.misbehave = misbehave or (lambda _event_id, _nth: "ok")
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(self, body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the access log
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bnpl/webhooks"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        event_id = handler.headers.get("Bnpl-Event-Id", "")
        error = ""
        try:
            verify(self.secret, handler.headers.get("Bnpl-Signature", ""), body)
        except ValueError as exc:
            error = str(exc)
        with self._lock:
            nth = sum(1 for d in self.deliveries if d.event_id == event_id)
            answer = self.misbehave(event_id, nth) if not error else "reject"
            delivery = Delivery(
                at=time.time(),
                event_id=event_id,
                delivery_id=handler.headers.get("Bnpl-Delivery-Id", ""),
                event_type=handler.headers.get("Bnpl-Event-Type", ""),
                body=body,
                signature_ok=not error,
                signature_error=error,
                answered=answer,
                duplicate=event_id in self.handled,
            )
            self.deliveries.append(delivery)
            # A merchant acts on a verified event once (dedupe by id), then answers; a failing answer (500)
            # means it did not act, so the retry is the first time it is handled.
            if not error and answer != "fail" and event_id not in self.handled:
                self.handled[event_id] = delivery
        if answer == "slow":
            time.sleep(self.slow_seconds)
        status = 200 if answer in ("ok", "slow") else (400 if answer == "reject" else 500)
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the sender gave up (timed out) before the answer: the point of "slow"

    # -- what a scenario asserts -------------------------------------------------------------------------------------

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def stats(self) -> dict[str, Any]:
        deliveries = self.snapshot()
        per_event = Counter(d.event_id for d in deliveries)
        out_of_order = 0
        latest = ""
        for d in deliveries:
            created = d.event.get("created_at", "") if d.signature_ok else ""
            if created and created < latest:
                out_of_order += 1
            latest = max(latest, created)
        return {
            "posts": len(deliveries),
            "events": len(per_event),
            "events_delivered_more_than_once": sum(1 for n in per_event.values() if n > 1),
            "duplicate_posts_ignored": sum(d.duplicate for d in deliveries),
            "posts_out_of_order": out_of_order,
            "bad_signatures": sum(not d.signature_ok for d in deliveries),
            "answers": dict(Counter(d.answered for d in deliveries)),
        }
