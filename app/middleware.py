"""Request context and the abuse guards at the edge.

* :func:`request_context_middleware`: a request id on every request and response, log context, an access log line.
* :func:`rate_limit_middleware`: per API key request rate, and per client address for failed authentications
  (429 problem with ``Retry-After``).
* :func:`body_guard_middleware`: 415 for a non-JSON body, 413 for a declared oversize body (Litestar counts the
  bytes of a chunked body as it reads them), 408 when the body does not arrive in time.
* :class:`GuardedRequest`: a body that is not JSON, not UTF-8 or nested absurdly deep is a 400, never a 500.

What the ASGI server must do (uvicorn's options in ``bnpl serve``) and what only a reverse proxy can do (a
header-read timeout against slowloris, header size limits, per-address connection limits) is in
``app/cli/processes.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    SerializationException,
    TooManyRequestsException,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import get_logger
from domain.kit.context import correlation_id

REQUEST_ID_HEADER = "x-request-id"
_VALID_RID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

access_log = get_logger("bnpl.access")


class UnsupportedMediaType(ClientException):
    status_code = 415


class PayloadTooLarge(ClientException):
    status_code = 413


class RequestTimeout(ClientException):
    status_code = 408


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Wraps the whole Litestar app (outside its exception handling), so every response is covered."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_RID.match(incoming) else f"req_{uuid.uuid4().hex[:16]}"
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = correlation_id.set(request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            correlation_id.reset(token)
            state: dict[str, Any] = scope.get("state", {})
            access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status_holder.get("status", 0),  # 0: the client went away before a response
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                tenant_id=state.get("tenant_id"),
            )

    return middleware


def body_guard_middleware(max_body_bytes: int, body_timeout_seconds: float = 0) -> Any:
    """415 unless a body-carrying request is JSON (routes may allow other types with ``opt["content_types"]``);
    413 when Content-Length already says the body is too large (Litestar enforces the limit on the bytes it reads
    too, which covers chunked bodies; a route may raise it with ``request_max_body_size``); 408 when the body has
    not arrived in time (``body_timeout_seconds``, 0 disables).

    The body timeout is a deadline for the whole body, not an idle timeout per read: a client that dribbles a byte
    a second keeps every read short but still runs into it. Each chunk received moves the deadline on by its size
    at :data:`MIN_BODY_BYTES_PER_SECOND`, so a large payment file on a slow but steady link still gets through
    (Kestrel's "minimum request body data rate"). uvicorn has no body timeout of its own.
    """

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] in BODY_METHODS:
                handler = scope.get("route_handler")
                # A route that takes files (a bank's payment file) declares its own, larger limit.
                route_limit = getattr(handler, "request_max_body_size", None) if handler is not None else None
                limit = route_limit if isinstance(route_limit, int) and route_limit > max_body_bytes else max_body_bytes
                length = _header(scope, b"content-length")
                if length is not None and length.isdigit() and int(length) > limit:
                    raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
                has_body = (length is not None and length != "0") or _header(scope, b"transfer-encoding") is not None
                if has_body:
                    allowed = (handler.opt.get("content_types") if handler is not None else None) or (
                        "application/json",
                    )
                    ctype = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
                    if not (ctype in allowed or (ctype.endswith("+json") and "application/json" in allowed)):
                        raise UnsupportedMediaType(
                            f"Content-Type must be one of {', '.join(allowed)}; got {ctype or 'none'}."
                        )
                    if body_timeout_seconds > 0:
                        receive = _receive_before(receive, body_timeout_seconds)
            await app(scope, receive, send)

        return middleware

    return factory


MIN_BODY_BYTES_PER_SECOND = 64 * 1024  # a 1 MB JSON body may take 16 s more than the timeout, a 64 MB file 17 min


def _receive_before(receive: Receive, timeout: float) -> Receive:
    """``receive`` that raises 408 unless the body has arrived ``timeout`` seconds from now, plus the time its
    bytes so far take at :data:`MIN_BODY_BYTES_PER_SECOND`."""
    deadline = asyncio.get_running_loop().time() + timeout
    body_done = False

    async def timed_receive() -> Message:
        nonlocal body_done, deadline
        if body_done:  # after the body only ``http.disconnect`` is left to wait for: no deadline on that
            return await receive()
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            # Connection: close, because the rest of the body may still be on its way.
            raise RequestTimeout(
                f"The request body did not arrive in time ({timeout:g} s, then at least "
                f"{MIN_BODY_BYTES_PER_SECOND // 1024} KiB/s).",
                headers={"Connection": "close"},
            ) from None
        if message["type"] == "http.request":
            deadline += len(message.get("body", b"")) / MIN_BODY_BYTES_PER_SECOND
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    return timed_receive


# -- rate limits ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until the next request is allowed (0 when allowed)


class RateLimiter:
    """``limit`` requests per ``period`` seconds per identity, in this process: GCRA, a token bucket of ``limit``
    tokens refilled evenly over ``period``, kept as one timestamp per identity (the "theoretical arrival time").

    Compared with a fixed window it allows no double burst at a window edge, and it knows exactly when the next
    request will be allowed, which is the ``Retry-After`` a client needs. No lock: a decision has no ``await``.
    Identities idle for a whole period are forgotten (swept when the table doubles), so memory follows the number
    of identities active in the last period.
    """

    def __init__(self, limit: int, period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.period = float(period)
        self.interval = self.period / limit
        self.clock = clock
        self._tat: dict[str, float] = {}
        self._sweep_at = 1024

    def hit(self, identity: str) -> Decision:
        now = self.clock()
        tat = max(self._tat.get(identity, now), now)
        new_tat = tat + self.interval
        allowed_at = new_tat - self.period
        if allowed_at - now > 1e-9:
            return Decision(False, 0, tat - now, allowed_at - now)
        self._tat[identity] = new_tat
        if len(self._tat) >= self._sweep_at:
            self._sweep(now)
        remaining = math.floor((self.period - (new_tat - now)) / self.interval + 1e-9)
        return Decision(True, remaining, new_tat - now, 0.0)

    def wait_time(self, identity: str) -> float:
        """Seconds until ``identity`` may make another request (0: now), without using up anything."""
        now = self.clock()
        tat = self._tat.get(identity)
        return 0.0 if tat is None else max(0.0, tat + self.interval - self.period - now)

    def forget(self, identity: str) -> None:
        self._tat.pop(identity, None)

    def __len__(self) -> int:
        return len(self._tat)

    def _sweep(self, now: float) -> None:
        self._tat = {k: t for k, t in self._tat.items() if t + self.period > now}
        self._sweep_at = max(1024, 2 * len(self._tat))


class RecentIdentities:
    """Identities seen within the last ``period`` seconds (swept when the table doubles)."""

    def __init__(self, period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._sweep_at = 1024

    def add(self, identity: str) -> None:
        now = self.clock()
        self._seen[identity] = now
        if len(self._seen) >= self._sweep_at:
            self._seen = {k: t for k, t in self._seen.items() if t + self.period > now}
            self._sweep_at = max(1024, 2 * len(self._seen))

    def __contains__(self, identity: object) -> bool:
        seen = self._seen.get(identity) if isinstance(identity, str) else None
        return seen is not None and seen + self.period > self.clock()

    def __len__(self) -> int:
        return len(self._seen)


_IDENTITY_SALT = os.urandom(16)  # the identity is a hash of the key: the secret itself never sits in memory tables


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _key_identity(scope: Scope) -> str | None:
    auth = _header(scope, b"authorization")
    if not auth:
        return None
    return hashlib.blake2b(auth.encode("latin-1"), digest_size=12, key=_IDENTITY_SALT).hexdigest()


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def rate_limit_middleware(
    per_key_per_minute: int, auth_failures_per_minute: int, exclude: Iterable[str] = ()
) -> Callable[[ASGIApp], ASGIApp]:
    """429 problem (with ``Retry-After``, in seconds) beyond ``per_key_per_minute`` requests of one API key, and
    for an address that sent more than ``auth_failures_per_minute`` unknown keys (key guessing).

    * The key's identity is a hash of the ``Authorization`` header, so the limit costs no database read. Each key
      has its own bucket: one key's flood never delays another key.
    * A request that fails authentication (401) uses up a token of its client address and does not keep a bucket
      of its own (random keys cannot fill the table). When the address has no token left, requests from it with
      a key that has not authenticated in the last minute get 429; keys that have go on working.
    * Successful responses carry ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``.

    Limits are per process: with N API processes a key may send up to N times the limit. The reverse proxy (or a
    shared limiter) is where a global limit belongs; see ``docs/operations.md``. 0 disables a limit.
    """
    keys = RateLimiter(per_key_per_minute) if per_key_per_minute > 0 else None
    failures = RateLimiter(auth_failures_per_minute) if auth_failures_per_minute > 0 else None
    authenticated = RecentIdentities()
    excluded = tuple(exclude)

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(excluded):
                await app(scope, receive, send)
                return
            address = client_address(scope)
            identity = _key_identity(scope) or f"addr:{address}"
            if failures is not None and identity not in authenticated:
                wait = failures.wait_time(address)
                if wait > 0:
                    raise TooManyRequestsException(
                        "Too many requests with an unknown API key from this address.",
                        headers={"Retry-After": _retry_after(wait)},
                    )
            if keys is not None:
                decision = keys.hit(identity)
                headers = {
                    "RateLimit-Limit": str(keys.limit),
                    "RateLimit-Remaining": str(decision.remaining),
                    "RateLimit-Reset": str(math.ceil(decision.reset_after)),
                }
                if not decision.allowed:
                    raise TooManyRequestsException(
                        f"More than {keys.limit} requests a minute with this API key.",
                        headers={**headers, "Retry-After": _retry_after(decision.retry_after)},
                    )
                send = _with_headers(send, headers)
            known = True
            try:
                await app(scope, receive, send)
            except NotAuthorizedException:
                known = False
                if keys is not None:
                    keys.forget(identity)
                if failures is not None:
                    failures.hit(address)
                raise
            finally:
                if known and failures is not None:  # authentication passed (whatever came after it)
                    authenticated.add(identity)

        return middleware

    return factory


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            out = MutableScopeHeaders.from_message(message)
            for name, value in headers.items():
                out[name] = value
        await send(message)

    return wrapped


# -- JSON bodies ----------------------------------------------------------------------------------------------

MAX_JSON_DEPTH = 64  # our deepest schema nests 4 levels; a JSON bomb of deep arrays is refused before validation


class GuardedRequest(Request[Any, Any, Any]):
    """The app's request class: a JSON body that cannot be decoded for any reason is a 400 ``malformed_json``.

    msgspec reports bad syntax as a ``DecodeError``, which Litestar maps to 400; but invalid UTF-8 inside a string
    raises ``UnicodeDecodeError`` and very deep nesting ``RecursionError``, which Litestar would let through as
    500s. Nesting deeper than :data:`MAX_JSON_DEPTH` is refused here too, before the validators (which recurse)
    see it.
    """

    async def json(self) -> Any:
        try:
            value = await super().json()
        except (UnicodeDecodeError, RecursionError) as exc:
            reason = "it is not UTF-8" if isinstance(exc, UnicodeDecodeError) else "it is nested too deeply"
            raise SerializationException(reason) from None
        if _depth_exceeds(value, MAX_JSON_DEPTH):
            raise SerializationException(f"it is nested deeper than {MAX_JSON_DEPTH} levels")
        return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Iterative (a recursive walk would itself hit the recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
