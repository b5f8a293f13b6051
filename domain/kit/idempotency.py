"""Storage for ``Idempotency-Key``: claim atomically, complete in the business transaction, replay.

The design follows Stripe's (brandur.org/idempotency-keys): the claim is an ``INSERT … ON CONFLICT DO NOTHING``
committed on its own, so a concurrent duplicate sees the key in flight; the stored response is written in the
*same* transaction as the business effect, so either both exist or neither does. A claim left in flight by a
crashed process therefore never hides a committed effect, and is taken over once it is stale.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import Integer, LargeBinary, String, bindparam, delete, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base
from domain.kit.dialect import insert_ignore_returning
from domain.kit.repository import Repository

RETENTION = dt.timedelta(hours=24)


class IdempotencyRecord(Base):
    """One key of one API key. ``tenant_id`` is the operator id, or ``"platform"`` for platform keys."""

    __tablename__ = "idempotency_keys"

    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_method: Mapped[str] = mapped_column(String(10))
    request_path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_flight | completed
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_content_type: Mapped[str | None] = mapped_column(String(100))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now, index=True)
    locked_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"  # run the request
    REPLAY = "replay"  # return the stored response
    IN_FLIGHT = "in_flight"  # a duplicate is running now: 409
    MISMATCH = "mismatch"  # the key was used for another request: 422


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    record: IdempotencyRecord | None = None


@dataclass(frozen=True, slots=True)
class KeyRef:
    tenant_id: str
    api_key_id: str
    key: str

    def where(self) -> tuple[object, ...]:
        return (
            IdempotencyRecord.tenant_id == self.tenant_id,
            IdempotencyRecord.api_key_id == self.api_key_id,
            IdempotencyRecord.key == self.key,
        )


# Prebuilt: it runs once per idempotent request.
_COMPLETE = text(
    "UPDATE idempotency_keys SET state = 'completed', response_status = :s, response_content_type = :ct,"
    " response_body = :b WHERE tenant_id = :t AND api_key_id = :a AND key = :k"
).bindparams(bindparam("b", type_=LargeBinary()))


class IdempotencyRepository(Repository):
    async def claim(
        self, ref: KeyRef, *, method: str, path: str, request_hash: str, stale_after: dt.timedelta
    ) -> Claim:
        now = clock.utc_now()
        inserted = await insert_ignore_returning(
            self.session,
            IdempotencyRecord,
            "key",
            tenant_id=ref.tenant_id,
            api_key_id=ref.api_key_id,
            key=ref.key,
            request_method=method,
            request_path=path,
            request_hash=request_hash,
            state="in_flight",
            created_at=now,
            locked_at=now,
        )
        if inserted is not None:
            return Claim(ClaimOutcome.CLAIMED)
        record = (await self.session.execute(select(IdempotencyRecord).where(*ref.where()))).scalar_one()
        if (record.request_hash, record.request_method, record.request_path) != (request_hash, method, path):
            return Claim(ClaimOutcome.MISMATCH, record)
        if record.state == "completed":
            return Claim(ClaimOutcome.REPLAY, record)
        if record.locked_at < now - stale_after:
            # The process that claimed it died before committing anything (the response is stored in the
            # business transaction), so it is safe to run again. Compare-and-set so only one taker wins.
            taken = await self.session.execute(
                update(IdempotencyRecord)
                .where(
                    *ref.where(),
                    IdempotencyRecord.state == "in_flight",
                    IdempotencyRecord.locked_at == record.locked_at,
                )
                .values(locked_at=now)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return Claim(ClaimOutcome.CLAIMED)
        return Claim(ClaimOutcome.IN_FLIGHT, record)

    async def complete(self, ref: KeyRef, *, status: int, content_type: str, body: bytes) -> None:
        params = {"t": ref.tenant_id, "a": ref.api_key_id, "k": ref.key, "s": status, "ct": content_type, "b": body}
        await self.session.execute(_COMPLETE, params)

    async def release(self, ref: KeyRef) -> None:
        """Forget an in-flight claim whose request failed unexpectedly, so the client may retry."""
        await self.session.execute(
            delete(IdempotencyRecord).where(*ref.where(), IdempotencyRecord.state == "in_flight")
        )

    async def purge(self, created_before: dt.datetime) -> int:
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < created_before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
