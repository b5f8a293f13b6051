"""The scenarios' API client: idempotent POSTs retried until they get a definite answer, every attempt recorded.

A *definite answer* is what a client can act on: a 2xx, or a 4xx that says what happened to the request (a 409
``merchant_order_id_taken``, a 422). Everything else is *retryable* and retried with the **same**
``Idempotency-Key`` and body, after ``Retry-After`` when the server gave one:

* the connection failed or broke mid-request (refused, reset, timed out): the request may or may not have taken
  effect, so the retry goes to the **other** API process (what a load balancer does), with the same key;
* ``503`` (a backing service is down), ``409 idempotency_key_in_flight`` (the first attempt is still running, or
  its process died before it committed and the claim has not gone stale yet), ``429``;
* ``500``/``502``/``504``: retried too, but counted as *unexpected*: a scenario fails on any.

Each logical request (:class:`Outcome`) keeps all its attempts (:class:`Attempt`), so a scenario can report how
many requests were retried, why, for how long, and whether every one of them ended with a definite answer.
:class:`Traffic` runs a few concurrent clients in a background thread (its own event loop) while the scenario
breaks things in the main thread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE_STATUS = {503, 429}
UNEXPECTED_STATUS = {500, 502, 504}
RETRYABLE_CODES = {"idempotency_key_in_flight"}


@dataclass
class Attempt:
    url: str
    at: float  # seconds since the client's epoch
    elapsed: float
    status: int | None  # None: no HTTP answer (the connection failed or broke)
    error: str | None = None  # the transport error's class, or the problem's code
    replayed: bool = False

    @property
    def reason(self) -> str:
        """Why this attempt was (or would be) retried, or ``"ok"``."""
        if self.status is None:
            return f"connection:{self.error}"
        if self.status in RETRYABLE_STATUS or self.status in UNEXPECTED_STATUS:
            return f"http_{self.status}"
        if self.status == 409 and self.error in RETRYABLE_CODES:
            return f"http_409:{self.error}"
        return "ok"


@dataclass
class Outcome:
    """One logical request: a method, path, body and Idempotency-Key, and every attempt it took."""

    op: str
    path: str
    key: str
    body: Any
    tag: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    status: int | None = None  # the definite answer's status; None: none within the deadline
    response: Any = None
    replayed: bool = False

    @property
    def definite(self) -> bool:
        return self.status is not None

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)

    @property
    def started(self) -> float:
        return self.attempts[0].at if self.attempts else 0.0

    @property
    def finished(self) -> float:
        last = self.attempts[-1] if self.attempts else None
        return last.at + last.elapsed if last else 0.0

    @property
    def duration(self) -> float:
        return self.finished - self.started

    @property
    def unexpected(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status in UNEXPECTED_STATUS]

    def resource_id(self) -> str | None:
        body = self.response
        if isinstance(body, dict):
            if isinstance(body.get("order"), dict):
                return body["order"].get("id")
            return body.get("id")
        return None


class IdempotentClient:
    """POSTs with an Idempotency-Key, retried (same key, same body) until a definite answer or ``deadline``."""

    def __init__(
        self,
        urls: list[str],
        api_key: str,
        *,
        deadline: float = 180.0,
        timeout: float = 15.0,
        epoch: float | None = None,
    ) -> None:
        self.urls = urls
        self.api_key = api_key
        self.deadline = deadline
        self.timeout = timeout
        self.epoch = epoch if epoch is not None else time.monotonic()
        self.outcomes: list[Outcome] = []
        self.inflight: Counter[str] = Counter()  # requests sent and not answered, per base URL
        self._next = itertools.count()
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> IdempotentClient:
        # No connection reuse across a kill: a pooled connection to a dead process fails once more than needed.
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=5)
        self._http = httpx.AsyncClient(timeout=self.timeout, limits=limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()

    def now(self) -> float:
        return time.monotonic() - self.epoch

    async def post(
        self, path: str, body: Any, *, op: str = "", tag: str = "", key: str | None = None, content_type: str = ""
    ) -> Outcome:
        assert self._http is not None, "use the client as an async context manager"
        outcome = Outcome(op or path, path, key or uuid.uuid4().hex, body, tag)
        self.outcomes.append(outcome)
        start = self.now()
        index = next(self._next)  # spread the first attempts over the processes
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": outcome.key}
        if content_type:
            headers["Content-Type"] = content_type
        payload: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        backoff = 0.2
        while True:
            url = self.urls[index % len(self.urls)]
            at = self.now()
            self.inflight[url] += 1
            try:
                response = await self._http.post(url + path, headers=headers, **payload)
            except httpx.TransportError as exc:
                self.inflight[url] -= 1
                outcome.attempts.append(Attempt(url, at, self.now() - at, None, type(exc).__name__))
                index += 1  # the connection broke: the other process (a load balancer's failover)
                wait = backoff
                backoff = min(backoff * 2, 2.0)
            else:
                self.inflight[url] -= 1
                attempt = Attempt(
                    url,
                    at,
                    self.now() - at,
                    response.status_code,
                    _problem_code(response),
                    response.headers.get("Idempotent-Replayed") == "true",
                )
                outcome.attempts.append(attempt)
                if attempt.reason == "ok":
                    outcome.status = response.status_code
                    outcome.replayed = attempt.replayed
                    outcome.response = _json(response)
                    return outcome
                wait = _retry_after(response, backoff)
                backoff = min(backoff * 2, 2.0)
                if response.status_code in UNEXPECTED_STATUS or response.status_code == 503:
                    index += 1
            if self.now() - start + wait > self.deadline:
                return outcome  # no definite answer: the scenario fails on it
            await asyncio.sleep(wait)


def _problem_code(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", default)), 0.05), 2.0)
    except ValueError:
        return default


# -- traffic in the background ---------------------------------------------------------------------------------------

Job = Callable[[IdempotentClient, int], Awaitable[None]]


class Traffic:
    """``clients`` concurrent loops, each running ``job(client, n)`` for n = 0, 1, 2, … until :meth:`stop`.

    A job is one logical piece of work (e.g. authorize an order, then capture it); every request it makes through
    the client is recorded. :meth:`stop` lets each loop finish the job it is in (bounded by the client deadline).
    """

    def __init__(self, client: IdempotentClient, job: Job, *, clients: int = 3, pause: float = 0.05) -> None:
        self.client = client
        self.job = job
        self.clients = clients
        self.pause = pause
        self.jobs_done = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._counter = itertools.count()

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="traffic", daemon=True)
        self._thread.start()
        return self

    async def _main(self) -> None:
        async with self.client:
            await asyncio.gather(*(self._loop() for _ in range(self.clients)))

    async def _loop(self) -> None:
        while not self._stop.is_set():
            n = next(self._counter)
            try:
                await self.job(self.client, n)
            except Exception as exc:  # noqa: BLE001 - a bug in a job must not stop the others; reported
                self.errors.append(f"job {n}: {type(exc).__name__}: {exc}")
            self.jobs_done += 1
            await asyncio.sleep(self.pause)

    def stop(self, timeout: float = 300) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def in_window(self, start: float, end: float) -> list[Outcome]:
        return [o for o in list(self.client.outcomes) if o.started < end and o.finished > start]


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts a report needs: requests, attempts, retries by reason, final statuses, slowest answer."""
    reasons: Counter[str] = Counter()
    for outcome in outcomes:
        for attempt in outcome.attempts[:-1] if outcome.definite else outcome.attempts:
            reasons[attempt.reason] += 1
    finals = Counter(str(o.status) if o.definite else "none" for o in outcomes)
    retried = [o for o in outcomes if o.retries]
    return {
        "requests": len(outcomes),
        "attempts": sum(len(o.attempts) for o in outcomes),
        "retried_requests": len(retried),
        "retries_by_reason": dict(reasons.most_common()),
        "final_status": dict(finals.most_common()),
        "replayed_answers": sum(o.replayed for o in outcomes),
        "no_definite_answer": sum(not o.definite for o in outcomes),
        "unexpected_5xx": sum(len(o.unexpected) for o in outcomes),
        "max_seconds_to_answer": round(max((o.duration for o in outcomes), default=0.0), 2),
        "max_seconds_to_answer_retried": round(max((o.duration for o in retried), default=0.0), 2),
    }


def request_failures(outcomes: list[Outcome], expected: set[int]) -> list[str]:
    """The verdict's view of the client side: every request got a definite answer of an expected status, and no
    attempt met an unexpected 5xx."""
    failures = []
    missing = [o for o in outcomes if not o.definite]
    if missing:
        sample = ", ".join(f"{o.op} {o.key} ({[a.reason for a in o.attempts][-3:]})" for o in missing[:5])
        failures.append(f"{len(missing)} request(s) without a definite answer: {sample}")
    wrong = [o for o in outcomes if o.definite and o.status not in expected]
    if wrong:
        sample = ", ".join(f"{o.op} → {o.status} {json.dumps(o.response, ensure_ascii=False)[:160]}" for o in wrong[:5])
        failures.append(f"{len(wrong)} request(s) answered with an unexpected status: {sample}")
    unexpected = [(o, a) for o in outcomes for a in o.unexpected]
    if unexpected:
        sample = ", ".join(f"{o.op} {a.status} at {a.at:.1f}s on {a.url}" for o, a in unexpected[:5])
        failures.append(f"{len(unexpected)} attempt(s) answered 5xx other than 503: {sample}")
    return failures
