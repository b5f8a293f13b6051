"""The dunning sweep: once a day, every open invoice moves along its tenant's ladder, from facts, never timers.

What an invoice has reached is a function of its chain's base due date, the bank calendar and the ladder
(``ladder.steps_due``); what was already done is in ``dunning_actions``, unique per (chain, base date, step). A
step acts when its row is inserted, so running a day twice, two sweeps at once, or a rerun after a crash acts once.

Grouping: every invoice of a base date has reached the same steps, so the sweep walks (tenant, base date) groups,
only those whose base date has reached something, in chunks of at most ``BATCH`` invoices, one transaction per
chunk (a crash loses at most a chunk; the rerun resumes). The common steps are set-based SQL:

* status → ``overdue`` (one UPDATE per chunk, the consumers' ``overdue_count`` adjusted by one grouped UPDATE),
* reminders, overdue notices and final demands (``INSERT … SELECT … ON CONFLICT DO NOTHING`` into
  ``notifications`` and ``dunning_actions``), and steps skipped (recorded, not acted),
* the hand-off to collection (one UPDATE).

Re-bills (a new invoice version each, a paper letter each) and charge-offs are batched per chunk: the invoices are
locked and built in Python, written with one statement per kind, and booked as one ledger entry per chunk.

Decisions (docs/collections-dunning.md "Dunning"):

* Holds (dispute, promise to pay, a convenience-store 速報 within its hold days, a cancelled order): letters and
  fees reached while held are recorded as skipped and never sent later; the overdue status still follows the
  facts (an unpaid invoice past its due date is overdue, and the consumer is declined), except that an invoice in
  ``payment_pending`` becomes overdue only once its 速報 hold lapsed without a 確報. The hand-off to collection and
  the charge-off wait while held and happen once the hold ends.
* Catch-up (the sweep did not run for days): of the letters reached and not yet sent, only the latest acts (the
  earlier ones are recorded ``superseded``: the latest says all they would have said, on the current slip); a
  reminder reached when the invoice is already overdue is skipped; once a hand-off (collection or charge-off) is
  reached, letters not yet sent are skipped.
* A re-bill issues the successor first, then marks the old version ``rebilled``, so the chain never leaves the
  overdue statuses (the consumer stays declined); charges come from ``ladder.rebill_charges`` (the 14.6 % cap).
* Locks: an invoice is changed only under its order's lock, taken ``SKIP LOCKED`` (a request holding the order
  wins; the next run catches up), then the consumers, then the invoices (the order every path takes).
* Sandbox (``test_mode``) orders and charged-off invoices are not swept (nothing is left to do for the latter).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout.models import Consumer, Order
from domain.checkout.policy import CreditPolicy
from domain.checkout.service import active_policy
from domain.collections import effects, ladder
from domain.collections.ladder import CollectionsPolicy, Holds, LadderStep
from domain.collections.models import DunningAction, Notification
from domain.collections.reconcile import pending_until
from domain.invoicing import keys
from domain.invoicing import service as invoicing
from domain.invoicing.models import OVERDUE_STATUSES, Invoice
from domain.kit import audit, clock, counters
from domain.kit.db import UTCDateTime
from domain.kit.dialect import insert_ignore_into, is_postgres, json_object
from domain.kit.ids import new_id
from domain.ledger import post_entry
from domain.tenancy.models import Operator
from fraud import service as fraud_service
from fraud.models import Screening
from fraud.types import Verdict

__all__ = [
    "BATCH",
    "SWEPT_STATUSES",
    "Cursor",
    "Summary",
    "action_id",
    "notification_data",
    "notification_id",
    "run_dunning",
    "sweep_chunk",
]

BATCH = 10_000
# Open invoices the sweep looks at. A charged-off invoice has passed the last hand-off: nothing is left to do.
SWEPT_STATUSES = ("issued", "payment_pending", "partially_paid", "overdue", "in_collection")
_BECOME_OVERDUE = ("issued", "partially_paid")
_MESSAGES = ("reminder", "overdue_notice", "final_demand")
_LETTERS = (*_MESSAGES, "rebill")
_HAND_OFFS = ("collection", "charge_off")
_ACTOR = "system"

Progress = Callable[["Summary", "Cursor | None"], None]


@dataclass
class Summary:
    """What a sweep (or one chunk of it) did."""

    chunks: int = 0
    invoices: int = 0  # invoices in the chunks visited
    overdue: int = 0  # moved to overdue
    notifications: int = 0  # reminders, notices, final demands and re-bill letters created
    skipped: int = 0  # steps recorded as skipped (held, superseded, overdue reminder, handed off)
    rebills: int = 0
    collections: int = 0
    charge_offs: int = 0
    locked: int = 0  # invoices left for the next run because a request held their order
    negative_reports: int = 0  # fraud-flagged orders unpaid at the final demand, reported to the negative database

    def add(self, other: Summary) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the sweep resumes: a tenant, a base date group and the last invoice id done in it."""

    tenant_id: str
    base_date: dt.date
    after: str = ""

    def as_payload(self) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "base_date": self.base_date.isoformat(), "after": self.after}

    @classmethod
    def from_payload(cls, tenant_id: str, base_date: str, after: str = "") -> Cursor:
        return cls(tenant_id, dt.date.fromisoformat(base_date), after)


@dataclass
class _Chunk:
    """One chunk's context: the group's facts and the SQL filter of its invoices."""

    session: AsyncSession
    tenant_id: str
    base: dt.date
    as_of: dt.date
    credit_policy: CreditPolicy
    policy: CollectionsPolicy
    after: str
    upper: str
    summary: Summary = field(default_factory=Summary)

    @property
    def pg(self) -> bool:
        return is_postgres(self.session)

    def where(self) -> list[ColumnElement[bool]]:
        return [
            Invoice.tenant_id == self.tenant_id,
            Invoice.dunning_base_date == self.base,
            Invoice.status.in_(SWEPT_STATUSES),
            Invoice.id > self.after,
            Invoice.id <= self.upper,
            _balance() > 0,
            Order.test_mode.is_(false()),
        ]

    def held(self) -> ColumnElement[bool]:
        return or_(*self._holds().values())

    def hold_reason(self) -> ColumnElement[str]:
        return case(*((cond, literal(reason)) for reason, cond in self._holds().items()), else_=literal("held"))

    def _holds(self) -> dict[str, ColumnElement[bool]]:
        # The order of ``ladder.dunning_stopped``; an unpaid balance is already in ``where``.
        return {
            ladder.STOP_CANCELLED: Order.status == "cancelled",
            ladder.STOP_DISPUTE: Invoice.dispute_hold.is_(true()),
            ladder.STOP_PAYMENT_PENDING: self._pending_held(),
            ladder.STOP_PROMISE_TO_PAY: and_(
                Invoice.promise_to_pay_date.is_not(None), Invoice.promise_to_pay_date >= self.as_of
            ),
        }

    def _pending_held(self) -> ColumnElement[bool]:
        # pending_until = JST date of the 速報 + hold days ≥ as_of  ⇔  reported at or after the JST midnight of
        # as_of − hold days.
        cut = clock.jst_midnight_utc(self.as_of - dt.timedelta(days=self.policy.preliminary_payment_hold_days))
        return and_(Invoice.payment_pending_since.is_not(None), Invoice.payment_pending_since >= _utc(cut))

    def not_acted(self, index: int) -> ColumnElement[bool]:
        return ~exists().where(
            DunningAction.tenant_id == Invoice.tenant_id,
            DunningAction.chain_id == Invoice.chain_id,
            DunningAction.base_date == Invoice.dunning_base_date,
            DunningAction.step == index,
        )


# -- the sweep ---------------------------------------------------------------------------------------------------

SessionScope = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def run_dunning(
    sessions: SessionScope | AsyncSession,
    tenant_id: str | None,
    as_of: dt.date,
    *,
    batch_size: int = BATCH,
    progress: Progress | None = None,
) -> Summary:
    """Run the day's dunning for one tenant (or all), chunk by chunk.

    Args:
        sessions: ``db.transaction`` (a factory of committing sessions): each chunk commits on its own, so a crash
            loses at most one chunk and a rerun resumes. Or a session: every chunk runs in it, flushed, uncommitted.
        tenant_id: only this tenant; ``None`` for every tenant.
        as_of: the JST business date swept for.
        batch_size: invoices per chunk.
        progress: called after each chunk with the running totals and the next cursor.
    """
    scope = _in_session(sessions) if isinstance(sessions, AsyncSession) else sessions
    total = Summary()
    cursor: Cursor | None = None
    started = False
    while not started or cursor is not None:
        async with scope() as session:
            if not started:
                cursor = await first_cursor(session, as_of, tenant_id)
                started = True
                if cursor is None:
                    break
            assert cursor is not None
            done, cursor = await sweep_chunk(session, as_of, cursor, batch_size=batch_size, only_tenant=tenant_id)
        total.add(done)
        if progress is not None:
            progress(total, cursor)
    return total


def _in_session(session: AsyncSession) -> SessionScope:
    @asynccontextmanager
    async def scope() -> AsyncIterator[AsyncSession]:
        yield session
        await session.flush()

    return scope


async def first_cursor(session: AsyncSession, as_of: dt.date, only_tenant: str | None = None) -> Cursor | None:
    """Where a sweep of ``as_of`` starts: the first tenant with a group to visit, or ``None``."""
    return await _next_group(session, as_of, only_tenant, tenant_after=None, base_after=None)


async def sweep_chunk(
    session: AsyncSession,
    as_of: dt.date,
    cursor: Cursor,
    *,
    batch_size: int = BATCH,
    only_tenant: str | None = None,
) -> tuple[Summary, Cursor | None]:
    """Sweep one chunk (at most ``batch_size`` invoices of one base-date group) in ``session``; answers what it
    did and where the next chunk starts (``None``: the sweep is done)."""
    credit_policy = await active_policy(session, cursor.tenant_id)
    base_filter = [
        Invoice.tenant_id == cursor.tenant_id,
        Invoice.status.in_(SWEPT_STATUSES),
        Invoice.dunning_base_date == cursor.base_date,
        Invoice.id > cursor.after,
    ]
    upper = await session.scalar(
        select(Invoice.id).where(*base_filter).order_by(Invoice.id).offset(batch_size - 1).limit(1)
    )
    full = upper is not None
    if upper is None:
        upper = await session.scalar(select(func.max(Invoice.id)).where(*base_filter))
    summary = Summary()
    if upper is not None:
        chunk = _Chunk(
            session,
            cursor.tenant_id,
            cursor.base_date,
            as_of,
            credit_policy,
            credit_policy.collections,
            cursor.after,
            upper,
        )
        await _sweep(chunk)
        summary = chunk.summary
        summary.chunks = 1
    if full:
        assert upper is not None
        return summary, Cursor(cursor.tenant_id, cursor.base_date, upper)
    return summary, await _next_group(
        session, as_of, only_tenant, tenant_after=cursor.tenant_id, base_after=cursor.base_date
    )


async def _next_group(
    session: AsyncSession,
    as_of: dt.date,
    only_tenant: str | None,
    *,
    tenant_after: str | None,
    base_after: dt.date | None,
) -> Cursor | None:
    """The next (tenant, base date) group with something reached on ``as_of``, in (tenant, base date) order."""
    tenant = tenant_after
    while True:
        if tenant is None or base_after is None:
            if only_tenant is not None:
                if tenant is not None:
                    return None
                tenant = only_tenant
            else:
                stmt = select(Operator.id).order_by(Operator.id).limit(1)
                if tenant is not None:
                    stmt = stmt.where(Operator.id > tenant)
                tenant = await session.scalar(stmt)
                if tenant is None:
                    return None
        policy = (await active_policy(session, tenant)).collections
        reach = _latest_base_reached(policy, as_of)
        base = None
        if reach is not None:
            # One index probe per status on (tenant, status, base date): the smallest base date after the last.
            per_status = [
                select(func.min(Invoice.dunning_base_date).label("b")).where(
                    Invoice.tenant_id == tenant,
                    Invoice.status == status,
                    Invoice.dunning_base_date <= reach,
                    *([Invoice.dunning_base_date > base_after] if base_after is not None else []),
                )
                for status in SWEPT_STATUSES
            ]
            sub = union_all(*per_status).subquery()
            base = await session.scalar(select(func.min(sub.c.b)))
        if base is not None:
            return Cursor(tenant, base)
        base_after = None  # this tenant is done: the next one starts from its first group


def _latest_base_reached(policy: CollectionsPolicy, as_of: dt.date) -> dt.date | None:
    """The latest base due date for which anything happens on ``as_of`` (a step reached, or overdue).

    Step dates never decrease as the base date grows, so each step is reached for every base date up to a
    threshold: walk down from ``as_of − offset`` (a step is never before its offset) to the first one reached.
    """
    best: dt.date | None = None
    for step in policy.ladder:
        day = as_of - dt.timedelta(days=step.offset_days)
        for _ in range(40):  # the longest run of bank holidays is far shorter
            if ladder.step_date(day, step) <= as_of:
                best = day if best is None else max(best, day)
                break
            day -= dt.timedelta(days=1)
    day = as_of - dt.timedelta(days=1)
    while not ladder.is_overdue(day, as_of):
        day -= dt.timedelta(days=1)
    return day if best is None else max(best, day)


async def _sweep(c: _Chunk) -> None:
    counted = select(func.count()).select_from(Invoice).join(Order, _order_of_invoice()).where(*c.where())
    c.summary.invoices = (await c.session.scalar(counted)) or 0
    if not c.summary.invoices:
        return
    reached = ladder.steps_due(c.policy, c.base, c.as_of)
    overdue = ladder.is_overdue(c.base, c.as_of)
    handed_off = any(step.action in _HAND_OFFS for _, step in reached)
    if overdue:
        await _to_overdue(c)
    letters = [(i, s) for i, s in reached if s.action in _LETTERS]
    for index, step in letters:
        if handed_off:
            c.summary.skipped += await _skip(c, index, step, literal("handed_off"), held_only=False)
        elif step.action == "reminder" and overdue:
            c.summary.skipped += await _skip(c, index, step, literal("overdue"), held_only=False)
        else:
            c.summary.skipped += await _skip(c, index, step, c.hold_reason(), held_only=True)
            if index != letters[-1][0]:
                # Catch-up: a later letter is due too; it says all this one would have said.
                c.summary.skipped += await _skip(c, index, step, literal("superseded"), held_only=False)
            elif step.action in _MESSAGES:
                await _messages(c, index, step)
            else:
                await _rebills(c, index, step)
    for index, step in reached:
        if step.action == "collection":
            await _collection(c, index)
        elif step.action == "charge_off":
            await _charge_offs(c, index)


# -- set-based steps ------------------------------------------------------------------------------------------------


async def _to_overdue(c: _Chunk) -> None:
    """issued / partially paid (and payment_pending whose 速報 hold lapsed) → overdue, under the orders' locks."""
    candidates = (
        select(Invoice.id, Invoice.consumer_id, Invoice.status)
        .join(Order, _order_of_invoice())
        .where(
            *c.where(),
            or_(
                Invoice.status.in_(_BECOME_OVERDUE),
                and_(Invoice.status == "payment_pending", ~c._pending_held()),
            ),
        )
    )
    rows = await _lock_orders(c, candidates)
    if rows:
        c.summary.overdue += len(await _transition(c, rows, "overdue", reason="overdue"))


async def _collection(c: _Chunk, index: int) -> None:
    """The hand-off to a collection agency or lawyer (it waits while a hold stands)."""
    candidates = (
        select(Invoice.id, Invoice.consumer_id, Invoice.status)
        .join(Order, _order_of_invoice())
        .where(*c.where(), Invoice.status != "in_collection", ~c.held(), c.not_acted(index))
    )
    rows = await _lock_orders(c, candidates)
    if not rows:
        return
    ids = await _transition(c, rows, "in_collection", reason="collection")
    if not ids:
        return
    await c.session.execute(
        _insert(c.session, DunningAction).from_select(
            _ACTION_COLUMNS,
            _action_select(c, index, "collection", _json(c, status=literal("in_collection"))).where(
                Invoice.tenant_id == c.tenant_id, Invoice.id.in_(ids)
            ),
        )
    )
    c.summary.collections += len(ids)


async def _lock_orders(c: _Chunk, candidates: Any) -> list[tuple[str, str | None, str]]:
    """The candidates whose order this sweep could lock now (``SKIP LOCKED``: a request holding one wins)."""
    if c.pg:
        candidates = candidates.with_for_update(of=Order, skip_locked=True)
    return [(r[0], r[1], r[2]) for r in (await c.session.execute(candidates)).all()]


async def _transition(c: _Chunk, rows: Sequence[tuple[str, str | None, str]], status: str, *, reason: str) -> list[str]:
    """Move the locked invoices ``rows`` (id, consumer, old status) to ``status``; consumers' overdue counts follow
    (locked in id order before the invoices, the order → consumers → invoices lock order). Answers the ids moved."""
    entering = status in OVERDUE_STATUSES
    may_change = {consumer_id for _, consumer_id, old in rows if consumer_id and (old in OVERDUE_STATUSES) != entering}
    merged: dict[str, str | None] = {}
    if may_change and c.pg:
        locked = select(Consumer.id, Consumer.merged_into).where(
            Consumer.tenant_id == c.tenant_id, Consumer.id.in_(sorted(may_change))
        )
        merged = dict((await c.session.execute(locked.order_by(Consumer.id).with_for_update())).all())
    # Only invoices still in the status they were read in: a payment may have closed one since the read (the
    # order's lock came after the statement's snapshot).
    expected = {r[0]: r[2] for r in rows}
    changed = (
        (
            await c.session.execute(
                update(Invoice)
                .where(
                    Invoice.tenant_id == c.tenant_id,
                    Invoice.id.in_(list(expected)),
                    Invoice.status.in_(sorted(set(expected.values()))),
                )
                .values(status=status)
                .returning(Invoice.id)
                .execution_options(synchronize_session=False)
            )
        )
        .scalars()
        .all()
    )
    done = set(changed)
    rows = [r for r in rows if r[0] in done]
    delta: dict[str, int] = defaultdict(int)
    for _, consumer_id, old in rows:
        if consumer_id is not None and (old in OVERDUE_STATUSES) != entering:
            delta[consumer_id] += 1 if entering else -1
    changes = [{"t": c.tenant_id, "c": cid, "n": n} for cid, n in delta.items() if n and merged.get(cid) is None]
    if changes:
        consumers = Consumer.__table__  # Core: an executemany of one grouped UPDATE, not the ORM's bulk by key
        await c.session.execute(
            update(consumers)
            .where(
                consumers.c.tenant_id == bindparam("t", type_=String()),
                consumers.c.id == bindparam("c", type_=String()),
                consumers.c.merged_into.is_(None),
            )
            .values(overdue_count=consumers.c.overdue_count + bindparam("n", type_=Integer())),
            changes,
        )
    for cid, n in delta.items():
        if n and merged.get(cid) is not None:  # merged away: follow the merge (rare)
            await invoicing.adjust_overdue_count(c.session, c.tenant_id, cid, n)
    for invoice_id, _, old in rows:
        audit.record(
            c.session,
            tenant_id=c.tenant_id,
            actor=_ACTOR,
            action=f"invoice.{reason}",
            resource_type="invoice",
            resource_id=invoice_id,
            data={"from": old, "to": status, "as_of": c.as_of.isoformat()},
        )
    return [r[0] for r in rows]


async def _skip(c: _Chunk, index: int, step: LadderStep, reason: ColumnElement[str], *, held_only: bool) -> int:
    """Record step ``index`` as skipped for the chunk's invoices that have not acted on it (only the held ones
    when ``held_only``)."""
    stmt = _action_select(c, index, step.action, _json(c, skipped=reason)).where(*c.where(), c.not_acted(index))
    if held_only:
        stmt = stmt.where(c.held())
    result = await c.session.execute(_insert(c.session, DunningAction).from_select(_ACTION_COLUMNS, stmt))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _messages(c: _Chunk, index: int, step: LadderStep) -> None:
    """A reminder, overdue notice or final demand: one notification and one action per invoice not yet told."""
    now = _utc(clock.utc_now())
    chain = Invoice.chain_id
    notify = select(
        Invoice.tenant_id,
        _derived(c, "ntf_", chain, index),
        _dedupe(c, index),
        literal(step.action),
        literal(step.channel),
        Invoice.order_id,
        Invoice.id,
        _json(c, **_data_columns(c, index, step)),
        literal("pending"),
        literal(0),
        now,
    ).where(*c.where(), ~c.held(), c.not_acted(index))
    result = await c.session.execute(
        _insert(c.session, Notification).from_select(
            [
                "tenant_id",
                "id",
                "dedupe_key",
                "template",
                "channel",
                "order_id",
                "invoice_id",
                "data",
                "status",
                "attempts",
                "created_at",
            ],
            notify.join_from(Invoice, Order, _order_of_invoice()),
        )
    )
    c.summary.notifications += int(result.rowcount or 0)  # type: ignore[attr-defined]
    acted = _action_select(c, index, step.action, _json(c, notification_id=_derived(c, "ntf_", chain, index)))
    await c.session.execute(
        _insert(c.session, DunningAction).from_select(
            _ACTION_COLUMNS, acted.where(*c.where(), ~c.held(), c.not_acted(index))
        )
    )
    if step.action == "final_demand":
        await _report_fraud_flagged(c, index)


async def _report_fraud_flagged(c: _Chunk, index: int) -> None:
    """A fraud-flagged order unpaid at the final demand feeds the negative database (``fraud.service``)."""
    acted_today = and_(
        DunningAction.tenant_id == Invoice.tenant_id,
        DunningAction.chain_id == Invoice.chain_id,
        DunningAction.base_date == Invoice.dunning_base_date,
        DunningAction.step == index,
        DunningAction.as_of == c.as_of,
        DunningAction.result["skipped"].as_string().is_(None),
    )
    flagged = (
        select(Order.screening_id)
        .join_from(Invoice, Order, _order_of_invoice())
        .join(DunningAction, acted_today)
        .join(Screening, and_(Screening.tenant_id == Order.tenant_id, Screening.id == Order.screening_id))
        .where(*c.where(), or_(Screening.verdict != Verdict.OK.value, Screening.outcome == "fraud"))
    )
    for screening_id in sorted(set((await c.session.scalars(flagged)).all())):
        if await fraud_service.register_non_payment(c.session, c.tenant_id, screening_id):
            c.summary.negative_reports += 1


_ACTION_COLUMNS = [
    "tenant_id",
    "id",
    "chain_id",
    "invoice_id",
    "base_date",
    "step",
    "action",
    "as_of",
    "result",
    "created_at",
]


def _action_select(c: _Chunk, index: int, action: str, result: ColumnElement[Any]) -> Any:
    return select(
        Invoice.tenant_id,
        _derived(c, "dna_", Invoice.chain_id, index),
        Invoice.chain_id,
        Invoice.id,
        Invoice.dunning_base_date,
        literal(index),
        literal(action),
        literal(c.as_of),
        result,
        _utc(clock.utc_now()),
    ).join_from(Invoice, Order, _order_of_invoice())


def _data_columns(c: _Chunk, index: int, step: LadderStep) -> dict[str, ColumnElement[Any]]:
    """The template's data, built in SQL (``notification_data`` is the same for one invoice in Python)."""
    return {
        "step": literal(index),
        "offset_days": literal(step.offset_days),
        "invoice_number": Invoice.number,
        "amount_due": _balance(),
        "due_date": cast(Invoice.due_date, String),
        "base_due_date": cast(Invoice.dunning_base_date, String),
        "payment_number": Invoice.payment_number,
        "virtual_account": Invoice.virtual_account,
        "transfer_reference": _transfer_reference(c),
        "currency": Invoice.currency,
    }


def notification_data(invoice: Invoice, index: int, step: LadderStep) -> dict[str, Any]:
    """What a dunning letter says about ``invoice`` (the same keys as the set-based path)."""
    assert invoice.dunning_base_date is not None
    return {
        "step": index,
        "offset_days": step.offset_days,
        "invoice_number": invoice.number,
        "amount_due": invoice.balance,
        "due_date": invoice.due_date.isoformat(),
        "base_due_date": invoice.dunning_base_date.isoformat(),
        "payment_number": invoice.payment_number,
        "virtual_account": invoice.virtual_account,
        "transfer_reference": keys.transfer_reference(invoice.number),
        "currency": invoice.currency,
    }


# -- per-invoice steps ----------------------------------------------------------------------------------------------


async def _per_invoice_candidates(c: _Chunk, index: int) -> list[tuple[str, str]]:
    rows = await c.session.execute(
        select(Invoice.id, Invoice.order_id)
        .join(Order, _order_of_invoice())
        .where(*c.where(), ~c.held(), c.not_acted(index))
        .order_by(Invoice.id)
    )
    return [(r[0], r[1]) for r in rows.all()]


async def _lock_heads(c: _Chunk, index: int) -> list[Invoice]:
    """The chunk's invoices due for the per-invoice step ``index``, locked in the fixed order: their orders (all at
    once, in id order, ``SKIP LOCKED``: a request holding one wins and the next run catches up), the consumers (in
    id order), then the invoices; only chain heads still unpaid, unheld and in this group are kept."""
    candidates = await _per_invoice_candidates(c, index)
    if not candidates:
        return []
    order_ids = sorted({order_id for _, order_id in candidates})
    orders: dict[str, Order] = {}
    for start in range(0, len(order_ids), 1_000):
        stmt = select(Order).where(Order.tenant_id == c.tenant_id, Order.id.in_(order_ids[start : start + 1_000]))
        if c.pg:
            stmt = stmt.order_by(Order.id).with_for_update(skip_locked=True)
        orders.update((o.id, o) for o in (await c.session.scalars(stmt)).all())
    c.summary.locked += sum(1 for _, order_id in candidates if order_id not in orders)
    consumer_ids = sorted({o.consumer_id for o in orders.values() if o.consumer_id})
    if c.pg and consumer_ids:
        for start in range(0, len(consumer_ids), 1_000):
            await c.session.execute(
                select(Consumer.id)
                .where(Consumer.tenant_id == c.tenant_id, Consumer.id.in_(consumer_ids[start : start + 1_000]))
                .order_by(Consumer.id)
                .with_for_update()
            )
    invoices: dict[str, Invoice] = {}
    for start in range(0, len(order_ids), 1_000):
        stmt = (
            select(Invoice)
            .where(Invoice.tenant_id == c.tenant_id, Invoice.order_id.in_(order_ids[start : start + 1_000]))
            .order_by(Invoice.id)
            .execution_options(populate_existing=True)
        )
        if c.pg:
            stmt = stmt.with_for_update()
        invoices.update((i.id, i) for i in (await c.session.scalars(stmt)).all() if i.order_id in orders)
    heads: list[Invoice] = []
    for invoice_id, order_id in candidates:
        invoice = invoices.get(invoice_id)
        order = orders.get(order_id)
        if invoice is None or order is None:
            continue
        holds = Holds(
            payment_pending_until=pending_until(invoice, c.policy),
            dispute_hold=invoice.dispute_hold,
            promise_to_pay_date=invoice.promise_to_pay_date,
            cancelled=order.status == "cancelled",
        )
        if (
            invoice.status in SWEPT_STATUSES
            and invoice.balance > 0
            and invoice.dunning_base_date == c.base
            and ladder.dunning_stopped(holds, c.as_of) is None
        ):
            heads.append(invoice)
    return heads


async def _claim_many(c: _Chunk, index: int, action: str, plans: dict[str, tuple[Invoice, dict[str, Any]]]) -> set[str]:
    """Record step ``index`` as acted for each chain of ``plans`` (chain id → (invoice, result)); the chains this
    call claimed (a chain another sweep claimed first is left alone)."""
    if not plans:
        return set()
    now = clock.utc_now()
    rows = [
        {
            "tenant_id": c.tenant_id,
            "id": action_id(chain_id, index),
            "chain_id": chain_id,
            "invoice_id": invoice.id,
            "base_date": invoice.dunning_base_date,
            "step": index,
            "action": action,
            "as_of": c.as_of,
            "result": result,
            "created_at": now,
        }
        for chain_id, (invoice, result) in plans.items()
    ]
    claimed: set[str] = set()
    table = DunningAction.__table__
    for start in range(0, len(rows), 1_000):
        stmt = _insert(c.session, DunningAction).values(rows[start : start + 1_000]).returning(table.c.chain_id)
        claimed.update((await c.session.execute(stmt)).scalars().all())
    return claimed


async def _rebills(c: _Chunk, index: int, step: LadderStep) -> None:
    """Re-bill every due chain of the chunk at once: a new version each (new number and keys, due +N days, the
    capped fee and damages), one ledger entry for the chunk's charges, one paper letter each."""
    heads = await _lock_heads(c, index)
    if not heads:
        return
    fee_counts = dict(
        (
            await c.session.execute(
                select(DunningAction.chain_id, func.count())
                .where(
                    DunningAction.tenant_id == c.tenant_id,
                    DunningAction.chain_id.in_([h.chain_id for h in heads]),
                    DunningAction.base_date == c.base,
                    DunningAction.action == "rebill",
                    DunningAction.step != index,
                    DunningAction.result["late_fee"].as_integer() > 0,
                )
                .group_by(DunningAction.chain_id)
            )
        ).all()
    )
    plans: dict[str, tuple[Invoice, dict[str, Any]]] = {}
    for old in heads:
        assert old.chain_id is not None and old.dunning_base_date is not None
        charges = ladder.rebill_charges(
            c.policy,
            principal_overdue=old.principal - old.paid_principal,
            days_overdue=ladder.days_past_due(old.dunning_base_date, c.as_of),
            late_fees_so_far=old.late_fee,
            fees_count=fee_counts.get(old.chain_id, 0),
            damages_so_far=old.damages,
        )
        plans[old.chain_id] = (
            old,
            {
                "invoice_id": new_id("inv"),
                "previous_invoice_id": old.id,
                "late_fee": charges.late_fee,
                "late_fee_tax": ladder.late_fee_tax(charges.late_fee, c.policy.late_fee_tax_rate_percent),
                "damages": charges.damages,
                "notification_id": notification_id(old.chain_id, index),
            },
        )
    claimed = await _claim_many(c, index, "rebill", plans)
    acting = [plans[chain] for chain in sorted(claimed)]
    if not acting:
        return
    numbers = await counters.next_values(c.session, c.tenant_id, invoicing.INVOICE_COUNTER, len(acting))
    fees = taxes = damages = 0
    letters: list[dict[str, Any]] = []
    now = clock.utc_now()
    for (old, result), number in zip(acting, numbers, strict=True):
        new = invoicing.rebill_successor(
            old,
            number=number,
            invoice_id=result["invoice_id"],
            policy=c.credit_policy,
            due_days=c.policy.rebill_due_days,
            today=c.as_of,
        )
        new.late_fee += result["late_fee"]
        new.late_fee_tax += result["late_fee_tax"]
        new.damages += result["damages"]
        c.session.add(new)
        old.status = "rebilled"  # the successor holds the chain's past-due status: the consumer's count is unchanged
        fees, taxes, damages = fees + result["late_fee"], taxes + result["late_fee_tax"], damages + result["damages"]
        assert new.chain_id is not None
        letters.append(
            {
                "tenant_id": c.tenant_id,
                "id": result["notification_id"],
                "dedupe_key": f"{new.chain_id}:{new.dunning_base_date}:{index}",
                "template": step.action,
                "channel": step.channel,
                "order_id": new.order_id,
                "invoice_id": new.id,
                "data": notification_data(new, index, step),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
        )
        audit.record(
            c.session,
            tenant_id=c.tenant_id,
            actor=_ACTOR,
            action="invoice.rebilled",
            resource_type="invoice",
            resource_id=old.id,
            data={"successor": new.id, "late_fee": result["late_fee"], "damages": result["damages"]},
        )
    await c.session.flush()
    currency = acting[0][0].currency
    if fees + damages:
        lines = effects.rebill_lines(fees, taxes, damages, currency)
        first, last = acting[0][0].chain_id, acting[-1][0].chain_id
        await post_entry(
            c.session,
            c.tenant_id,
            kind="dunning.rebill",
            lines=lines,
            effective_date=c.as_of,
            source_ref=f"rebill:{c.base}:{index}:{first}-{last}:{len(acting)}",
            memo=f"{len(acting)} re-bills for {c.as_of}",
        )
    for start in range(0, len(letters), 1_000):
        result_ = await c.session.execute(_insert(c.session, Notification).values(letters[start : start + 1_000]))
        c.summary.notifications += int(result_.rowcount or 0)  # type: ignore[attr-defined]
    c.summary.rebills += len(acting)


async def _charge_offs(c: _Chunk, index: int) -> None:
    """Write off every due chain of the chunk at once: Dr bad-debt expense / Cr the receivables still holding it,
    one entry for the chunk; the invoices become ``charged_off`` (still collectible: recoveries are booked)."""
    heads = await _lock_heads(c, index)
    plans: dict[str, tuple[Invoice, dict[str, Any]]] = {}
    for invoice in heads:
        assert invoice.chain_id is not None
        balance = invoice.balance
        charges = min((invoice.late_fee - invoice.paid_late_fee) + (invoice.damages - invoice.paid_damages), balance)
        plans[invoice.chain_id] = (invoice, {"amount": balance, "receivable": balance - charges, "charges": charges})
    claimed = await _claim_many(c, index, "charge_off", plans)
    acting = [plans[chain] for chain in sorted(claimed)]
    if not acting:
        return
    total = receivable = charges_ = 0
    for invoice, result in acting:
        invoice.charged_off_amount = result["amount"]
        if invoice.status in OVERDUE_STATUSES:
            invoice.status = "charged_off"  # from overdue or in collection: the consumer's count is unchanged
        else:  # a request held it when the chunk moved the others to overdue
            await invoicing.set_status(c.session, invoice, "charged_off")
        total, receivable, charges_ = (
            total + result["amount"],
            receivable + result["receivable"],
            charges_ + result["charges"],
        )
        audit.record(
            c.session,
            tenant_id=c.tenant_id,
            actor=_ACTOR,
            action="invoice.charged_off",
            resource_type="invoice",
            resource_id=invoice.id,
            data={"amount": result["amount"]},
        )
    currency = acting[0][0].currency
    lines = effects.charge_off_lines(receivable, charges_, currency)
    first, last = acting[0][0].chain_id, acting[-1][0].chain_id
    await post_entry(
        c.session,
        c.tenant_id,
        kind="dunning.charge_off",
        lines=lines,
        effective_date=c.as_of,
        source_ref=f"charge_off:{c.base}:{index}:{first}-{last}:{len(acting)}",
        memo=f"{len(acting)} charge-offs for {c.as_of}",
    )
    await c.session.flush()
    c.summary.charge_offs += len(acting)


# -- SQL helpers ---------------------------------------------------------------------------------------------------


def action_id(chain_id: str, index: int) -> str:
    """The id of a chain's dunning action for ladder step ``index`` (derived: the set-based path computes it)."""
    return f"dna_{chain_id.removeprefix('inv_')}_{index}"


def notification_id(chain_id: str, index: int) -> str:
    return f"ntf_{chain_id.removeprefix('inv_')}_{index}"


def _derived(c: _Chunk, prefix: str, chain: Any, index: int) -> ColumnElement[str]:
    # Ids derived from the chain: "inv_01J…" → "ntf_01J…_3" (see ``action_id``); invoice ids start with "inv_".
    return literal(prefix) + func.substr(chain, 5) + literal(f"_{index}")


def _dedupe(c: _Chunk, index: int) -> ColumnElement[str]:
    return Invoice.chain_id + literal(":") + cast(Invoice.dunning_base_date, String) + literal(f":{index}")


def _order_of_invoice() -> ColumnElement[bool]:
    return and_(Order.tenant_id == Invoice.tenant_id, Order.id == Invoice.order_id)


def _balance() -> ColumnElement[int]:
    return Invoice.principal + Invoice.fee + Invoice.late_fee + Invoice.damages - Invoice.paid_amount - Invoice.waived


def _transfer_reference(c: _Chunk) -> ColumnElement[str]:
    """``keys.transfer_reference(number)`` in SQL: 9 digits and a GS1 check digit (weights 3, 1, … from the right)."""
    n = Invoice.number
    total: Any = literal(0)
    for k in range(9):
        digit = (n // (10**k)) % 10
        total = total + digit * (3 if k % 2 == 0 else 1)
    check = (10 - total % 10) % 10
    body = func.lpad(cast(n, String), 9, "0") if c.pg else func.printf("%09d", n)
    return body + cast(check, String)


def _json(c: _Chunk, **pairs: Any) -> ColumnElement[Any]:
    args: list[Any] = []
    for key, value in pairs.items():
        args += [literal(key), value]
    return json_object(c.session, *args)


def _insert(session: AsyncSession, model: Any) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` of the session's dialect, for ``from_select`` and many rows."""
    return insert_ignore_into(session, model.__table__)


def _utc(value: dt.datetime) -> ColumnElement[dt.datetime]:
    return literal(value, UTCDateTime())
