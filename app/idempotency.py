"""``Idempotency-Key`` for every creating or money-moving POST.

Usage in a handler::

    async def create_merchant(data: MerchantCreate, idempotency: Idempotent) -> Response[Any]:
        async def op(session: AsyncSession) -> MerchantOut:
            return MerchantOut.of(await service.create_merchant(session, ...))
        return await idempotency.run(op, status_code=201)

Semantics (Stripe's): the first request's response is stored and replayed (with ``Idempotent-Replayed: true``);
the same key with another body, method or path is 422 ``idempotency_key_reused``; a duplicate while the first is
still running is 409 ``idempotency_key_in_flight``. Keys are scoped to (tenant, API key) and kept 24 h.
A domain error (4xx) is stored and replayed like a success; an unexpected error releases the key so the
client can retry. Without the header the operation simply runs in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, Response
from litestar.params import HeaderParameter
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import PROBLEM_JSON, handle_domain, problem_response
from app.logging import get_logger
from app.uow import Database
from domain.kit.errors import DomainError, FieldIssue
from domain.kit.idempotency import ClaimOutcome, IdempotencyRepository, KeyRef
from domain.kit.tenancy import Principal

log = get_logger(__name__)

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
REPLAY_HEADER = "Idempotent-Replayed"


class IdempotencyError(Exception):
    def __init__(self, response: Response[Any]) -> None:
        self.response = response


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, path and canonical JSON body (key order and whitespace do not matter)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse: hash it as it came
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


class Idempotency:
    def __init__(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        key: str | None,
        stale_after: dt.timedelta,
    ) -> None:
        self.request = request
        self.db = db
        self.principal = principal
        self.key = key
        self.stale_after = stale_after

    def _render(self, result: Any, status_code: int) -> tuple[bytes, str]:
        if isinstance(result, BaseModel):
            return result.model_dump_json().encode(), "application/json"
        return json.dumps(result, ensure_ascii=False).encode(), "application/json"

    async def run(self, op: Callable[[AsyncSession], Awaitable[Any]], *, status_code: int = 200) -> Response[Any]:
        if self.key is None:
            for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
                try:
                    async with self.db.transaction() as session:
                        result = await op(session)
                    break
                except DBAPIError as exc:
                    if not _retry(exc, attempt):
                        raise
            body, media_type = self._render(result, status_code)
            return Response(body, status_code=status_code, media_type=media_type)

        if not KEY_PATTERN.match(self.key):
            return problem_response(
                self.request,
                422,
                code="invalid_idempotency_key",
                detail="Idempotency-Key must be 1-255 printable ASCII characters without spaces.",
                errors=[FieldIssue("header:Idempotency-Key", "1-255 printable ASCII characters", "pattern")],
            )
        ref = KeyRef(self.principal.scope, self.principal.api_key_id, self.key)
        method, path = self.request.method, self.request.url.path
        fingerprint = request_fingerprint(method, path, await self.request.body())

        async with self.db.autocommit() as session:  # each statement of the claim is atomic on its own
            claim = await IdempotencyRepository.from_session(session).claim(
                ref, method=method, path=path, request_hash=fingerprint, stale_after=self.stale_after
            )
        if claim.outcome is ClaimOutcome.REPLAY:
            record = claim.record
            assert record is not None and record.response_status is not None
            return Response(
                record.response_body or b"",
                status_code=record.response_status,
                media_type=record.response_content_type or "application/json",
                headers={REPLAY_HEADER: "true"},
            )
        if claim.outcome is ClaimOutcome.MISMATCH:
            return problem_response(
                self.request,
                422,
                code="idempotency_key_reused",
                detail="This Idempotency-Key was used with a different request; use a new key for a new request.",
            )
        if claim.outcome is ClaimOutcome.IN_FLIGHT:
            return problem_response(
                self.request,
                409,
                code="idempotency_key_in_flight",
                detail="A request with this Idempotency-Key is still being processed; retry later.",
                headers={"Retry-After": "1"},
            )

        try:
            for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
                try:
                    async with self.db.transaction() as session:
                        result = await op(session)
                        body, media_type = self._render(result, status_code)
                        # Stored in the business transaction: the effect and its replayable response commit together.
                        await IdempotencyRepository.from_session(session).complete(
                            ref, status=status_code, content_type=media_type, body=body
                        )
                    return Response(body, status_code=status_code, media_type=media_type)
                except DBAPIError as exc:
                    if not _retry(exc, attempt):
                        raise
            raise AssertionError("unreachable: the last attempt returns or raises")
        except DomainError as exc:
            problem = handle_domain(self.request, exc)
            if problem.status_code < 500:
                async with self.db.transaction() as session:
                    await IdempotencyRepository.from_session(session).complete(
                        ref,
                        status=problem.status_code,
                        content_type=PROBLEM_JSON,
                        body=json.dumps(problem.content, ensure_ascii=False).encode(),
                    )
                return problem
            await self._release(ref)
            raise
        except BaseException:
            await self._release(ref)
            raise

    async def _release(self, ref: KeyRef) -> None:
        try:
            async with self.db.transaction() as session:
                await IdempotencyRepository.from_session(session).release(ref)
        except Exception as exc:  # noqa: BLE001 - the database may be why we are here; the claim goes stale
            log.warning("idempotency_release_failed", error=type(exc).__name__)


# A deadlock (40P01) or serialization failure (40001) rolled the whole transaction back: nothing happened, and
# running it again is safe. Rare by design (locks are taken in a fixed order), but a few paths (a PATCH that
# moves an order to another, older consumer) can still meet; the client should not see a 503 for it.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_ATTEMPTS = 3


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def _retry(exc: DBAPIError, attempt: int) -> bool:
    if is_transient(exc) and attempt < TRANSACTION_ATTEMPTS:
        log.info("transaction_retried", attempt=attempt, sqlstate=getattr(exc.orig, "sqlstate", None))
        return True
    return False


IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        title="Idempotency key",
        description="A unique key (e.g. a UUID) per intended operation. Retrying with the same key returns "
        "the first response and changes nothing; kept 24 hours.",
        examples=[],
    ),
]


def make_idempotency_provider() -> Callable[..., Idempotency]:
    async def provide_idempotency(
        request: Request[Any, Any, Any], idempotency_key: IdempotencyKeyHeader = None
    ) -> Idempotency:
        state = request.app.state
        return Idempotency(
            request,
            state.db,
            request.user,
            idempotency_key,
            dt.timedelta(seconds=state.settings.idempotency_stale_after_seconds),
        )

    return provide_idempotency
