"""The collections policy and the pure arithmetic of dunning: ladder dates, holds and the 14.6 % cap.

Nothing here touches the database or the clock: every function takes the JST business date it reasons about
(``as_of``), so the dunning sweep, reports and tests ask the same questions and get the same answers. Dunning is
computed from facts, not stored timers (the Kill Bill overdue pattern, ``bnpl.md`` §B.2): the step an invoice has
reached is a function of its base due date, the bank calendar, the tenant's ladder and its holds.

Dates (``domain.kit.calendar`` is the bank calendar):

* The ladder counts calendar days from the chain's base due date ``D`` (the original invoice's due date; re-bills
  do not restart it). Step ``D+n`` falls on ``D + n days``.
* A step never acts on a bank holiday: its date moves to the next bank business day.
* A due date on a bank holiday lets the consumer pay on the next business day (``last_payment_day(D)``), so an
  invoice is overdue only from the day after that. An overdue step (offset ≥ 1) therefore never falls before
  ``last_payment_day(D) + 1``: with D = 2026-12-31 (closed), the consumer may pay until 2027-01-04 and the D+1
  notice goes out on 2027-01-05, not on 1/4.
* Several steps may fall on the same date (a long holiday); they are still reached in ladder order.

Holds (``Holds``, ``dunning_stopped``): payment, cancellation, a dispute, a convenience-store 速報 not yet confirmed
(for ``preliminary_payment_hold_days``) and a promise to pay on a date not yet passed stop dunning. When a hold
ends, the invoice is wherever the calendar has taken it meanwhile.

Charges (消費者契約法 9条1項2号, ``billing.md`` §3.3): late damages (遅延損害金) and re-bill late fees (延滞事務手数料)
together never exceed ``cap_basis_points_per_year`` of the overdue principal per year, computed per day on a
365-day year and rounded down: ``floor(principal × bp × days / (10000 × 365))``. Damages take the room first,
then the fee. Amounts are int yen, tax included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.invoicing.keys import MAX_REISSUE
from domain.kit.calendar import next_business_day

__all__ = [
    "ACTIONS",
    "CHANNELS",
    "DEFAULT_COLLECTIONS_POLICY",
    "DEFAULT_LADDER",
    "MAX_LADDER_STEPS",
    "MAX_REBILLS",
    "STOP_CANCELLED",
    "STOP_DISPUTE",
    "STOP_PAID",
    "STOP_PAYMENT_PENDING",
    "STOP_PROMISE_TO_PAY",
    "CollectionsPolicy",
    "Holds",
    "LadderStep",
    "RebillCharges",
    "charge_cap",
    "current_stage",
    "damages_due",
    "days_past_due",
    "dunning_stopped",
    "is_overdue",
    "last_payment_day",
    "late_fee_tax",
    "next_step",
    "preliminary_hold_until",
    "rebill_charges",
    "step_date",
    "steps_due",
]

Action = Literal["reminder", "overdue_notice", "rebill", "final_demand", "collection", "charge_off"]
Channel = Literal["email", "sms", "paper", "none"]
ACTIONS: tuple[str, ...] = ("reminder", "overdue_notice", "rebill", "final_demand", "collection", "charge_off")
CHANNELS: tuple[str, ...] = ("email", "sms", "paper", "none")

# A re-bill is a new slip whose convenience-store payment number carries the re-issue count in one digit
# (再発行区分, ``domain.invoicing.keys``), so a chain has at most nine re-bills.
MAX_REBILLS = MAX_REISSUE
MAX_LADDER_STEPS = 32
_MESSAGE_ACTIONS = frozenset({"reminder", "overdue_notice", "rebill", "final_demand"})
_HAND_OFF_ACTIONS = frozenset({"collection", "charge_off"})
_DAYS_PER_YEAR = 365
_BP = 10_000

BasisPoints = Annotated[int, Field(ge=0, le=10_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class LadderStep(_Strict):
    """One rung of the dunning ladder: what happens ``offset_days`` after the base due date, and how it is sent."""

    offset_days: int = Field(
        ge=-30,
        le=3650,
        description="Calendar days after the base due date D (negative: before it). A reminder is at most D+0; "
        "every other action is at least D+1.",
        examples=[14],
    )
    action: Action = Field(
        description="reminder (due soon), overdue_notice, rebill (a new slip with a late fee, due in "
        "rebill_due_days), final_demand (督促状; the consumer is blocked), collection (hand-off to a lawyer or "
        "servicer; letters stop), charge_off (accounting write-off; recoveries are still booked).",
        examples=["rebill"],
    )
    channel: Channel = Field(
        description="How the consumer is told. 'none' sends nothing; reminders, notices, re-bills and final "
        "demands need a channel.",
        examples=["paper"],
    )

    @model_validator(mode="after")
    def _coherent(self) -> LadderStep:
        if self.action == "reminder" and self.offset_days > 0:
            raise ValueError(f"a reminder comes on or before the due date (D{self.offset_days:+d} is after it)")
        if self.action != "reminder" and self.offset_days < 1:
            raise ValueError(f"a {self.action} step needs the invoice overdue: offset_days must be at least 1")
        if self.action in _MESSAGE_ACTIONS and self.channel == "none":
            raise ValueError(f"a {self.action} step must reach the consumer: channel cannot be 'none'")
        return self


DEFAULT_LADDER: tuple[LadderStep, ...] = (
    LadderStep(offset_days=-3, action="reminder", channel="email"),
    LadderStep(offset_days=1, action="overdue_notice", channel="email"),
    LadderStep(offset_days=7, action="overdue_notice", channel="email"),
    LadderStep(offset_days=14, action="rebill", channel="paper"),
    LadderStep(offset_days=28, action="rebill", channel="paper"),
    LadderStep(offset_days=42, action="rebill", channel="paper"),
    LadderStep(offset_days=60, action="final_demand", channel="paper"),
    LadderStep(offset_days=90, action="collection", channel="none"),
    LadderStep(offset_days=120, action="charge_off", channel="none"),
)


class CollectionsPolicy(_Strict):
    """How a tenant chases overdue invoices (``DOMAIN.md`` §5); nested in the credit policy as ``collections``."""

    ladder: tuple[LadderStep, ...] = Field(
        default=DEFAULT_LADDER,
        # A JSON array arrives as a list; the steps themselves stay strict.
        strict=False,
        max_length=MAX_LADDER_STEPS,
        description="The steps in order of strictly increasing offset_days. At most one collection and one "
        f"charge_off (charge_off after collection), at most {MAX_REBILLS} re-bills, and after a hand-off "
        "(collection or charge_off) no more letters.",
    )
    rebill_due_days: int = Field(
        default=10, ge=1, le=60, description="A re-bill slip is due this many days after it is issued."
    )
    late_fee: int = Field(
        default=297,
        ge=0,
        le=100_000,
        description="延滞事務手数料 added by each re-bill, yen, consumption tax included (0: re-bills are free).",
    )
    late_fee_tax_rate_percent: int = Field(default=10, ge=0, le=100, description="Consumption tax in the late fee.")
    max_late_fees: int = Field(
        default=3, ge=0, le=MAX_REBILLS, description="At most this many re-bills of a chain charge a late fee."
    )
    damages_rate_basis_points_per_year: BasisPoints = Field(
        default=0,
        description="遅延損害金 on the overdue principal, basis points per year (1460 = 14.6 %/yr), accruing per "
        "day from the day after the base due date; 0 charges none.",
    )
    cap_basis_points_per_year: BasisPoints = Field(
        default=1460,
        description="Damages plus late fees never exceed this many basis points per year of the overdue "
        "principal (consumer contracts: 14.6 %/yr, 消費者契約法 9条).",
    )
    small_overpayment_max: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description="An overpayment of at most this many yen is booked to miscellaneous income (雑収入) instead "
        "of being refunded.",
    )
    waive_charges_when_original_paid: bool = Field(
        default=True,
        description="A consumer who paid the original invoice amount (principal + fee) is not chased for the "
        "re-bill charges: they are waived.",
    )
    preliminary_payment_hold_days: int = Field(
        default=10,
        ge=0,
        le=60,
        description="A convenience-store 速報 (preliminary payment report) without its 確報 stops dunning for "
        "this many days after the report.",
    )

    @model_validator(mode="after")
    def _ladder_in_order(self) -> CollectionsPolicy:
        steps = self.ladder
        for i in range(1, len(steps)):
            if steps[i].offset_days <= steps[i - 1].offset_days:
                raise ValueError(
                    f"ladder offsets must strictly increase: step {i} ({_label(steps[i])}) comes after "
                    f"step {i - 1} ({_label(steps[i - 1])})"
                )
        actions = [s.action for s in steps]
        for single in ("collection", "charge_off"):
            if actions.count(single) > 1:
                raise ValueError(f"the ladder can have at most one {single} step")
        if "collection" in actions and "charge_off" in actions:
            if actions.index("charge_off") < actions.index("collection"):
                raise ValueError("charge_off must come after collection")
        rebills = actions.count("rebill")
        if rebills > MAX_REBILLS:
            raise ValueError(f"the ladder has {rebills} rebill steps; at most {MAX_REBILLS} are possible")
        hand_off = next((i for i, a in enumerate(actions) if a in _HAND_OFF_ACTIONS), None)
        if hand_off is not None:
            for i in range(hand_off + 1, len(steps)):
                if actions[i] not in _HAND_OFF_ACTIONS:
                    raise ValueError(
                        f"step {i} ({_label(steps[i])}) comes after the {actions[hand_off]} step; letters stop "
                        "once an invoice is handed off"
                    )
        if self.damages_rate_basis_points_per_year > self.cap_basis_points_per_year:
            raise ValueError("damages_rate_basis_points_per_year cannot exceed cap_basis_points_per_year")
        return self


def _label(step: LadderStep) -> str:
    return f"D{step.offset_days:+d} {step.action}"


DEFAULT_COLLECTIONS_POLICY = CollectionsPolicy()


# --- dates --------------------------------------------------------------------------------------------------------


def last_payment_day(base_due: dt.date) -> dt.date:
    """The last day the consumer may pay without being late: the due date, or the next bank business day."""
    return next_business_day(base_due)


def is_overdue(base_due: dt.date, as_of: dt.date) -> bool:
    """Whether an unpaid invoice due ``base_due`` is overdue on ``as_of`` (``as_of > last_payment_day``)."""
    return as_of > last_payment_day(base_due)


def days_past_due(base_due: dt.date, as_of: dt.date) -> int:
    """Calendar days since the base due date, for damages, the cap and DPD buckets; 0 while not overdue.

    A consumer who pays on the business day after a due date that fell on a holiday is not late (0), but one who
    pays later is late from the due date itself: due Saturday, unpaid on Tuesday → 3.
    """
    return (as_of - base_due).days if is_overdue(base_due, as_of) else 0


def step_date(base_due: dt.date, step: LadderStep) -> dt.date:
    """The bank business day on which ``step`` acts for a chain whose base due date is ``base_due``.

    ``base_due + offset_days``, moved to the next bank business day; an overdue step (offset ≥ 1) is also never
    before the first overdue day, ``last_payment_day(base_due) + 1``.
    """
    day = base_due + dt.timedelta(days=step.offset_days)
    if step.offset_days > 0:
        day = max(day, last_payment_day(base_due) + dt.timedelta(days=1))
    return next_business_day(day)


def steps_due(policy: CollectionsPolicy, base_due: dt.date, as_of: dt.date) -> list[tuple[int, LadderStep]]:
    """Every step ``(index in policy.ladder, step)`` whose date is on or before ``as_of``, in ladder order.

    Holds are not applied here (see ``dunning_stopped``): the caller decides which of these it has already done.
    """
    reached: list[tuple[int, LadderStep]] = []
    for index, step in enumerate(policy.ladder):
        # Step dates never decrease along a valid ladder, so the first one in the future ends the walk.
        if step_date(base_due, step) > as_of:
            break
        reached.append((index, step))
    return reached


def next_step(policy: CollectionsPolicy, base_due: dt.date, as_of: dt.date) -> tuple[int, LadderStep, dt.date] | None:
    """The first step not yet reached on ``as_of``, with its date; None when the ladder is done."""
    for index, step in enumerate(policy.ladder):
        day = step_date(base_due, step)
        if day > as_of:
            return index, step, day
    return None


# --- holds --------------------------------------------------------------------------------------------------------

STOP_PAID = "paid"
STOP_CANCELLED = "cancelled"
STOP_DISPUTE = "dispute"
STOP_PAYMENT_PENDING = "payment_pending"
STOP_PROMISE_TO_PAY = "promise_to_pay"


@dataclass(frozen=True, slots=True)
class Holds:
    """The facts of an invoice that stop dunning. The default is none of them.

    Attributes:
        paid: the chain has nothing left to collect.
        payment_pending_until: a convenience-store 速報 without 確報 holds dunning through this day (inclusive);
            see ``preliminary_hold_until``.
        dispute_hold: a dispute or claim-stop (請求ストップ) is open.
        promise_to_pay_date: the consumer promised to pay by this day; dunning waits through it (inclusive).
        cancelled: the order was cancelled or the invoice voided.
    """

    paid: bool = False
    payment_pending_until: dt.date | None = None
    dispute_hold: bool = False
    promise_to_pay_date: dt.date | None = None
    cancelled: bool = False


def preliminary_hold_until(policy: CollectionsPolicy, reported_on: dt.date) -> dt.date:
    """The last day a 速報 received on ``reported_on`` (JST) holds dunning: ``reported_on + hold days``."""
    return reported_on + dt.timedelta(days=policy.preliminary_payment_hold_days)


def dunning_stopped(holds: Holds, as_of: dt.date) -> str | None:
    """Why dunning is stopped on ``as_of``, or None when it runs.

    One of ``paid``, ``cancelled``, ``dispute``, ``payment_pending`` (``as_of <= payment_pending_until``) and
    ``promise_to_pay`` (``as_of <= promise_to_pay_date``), checked in that order. A lapsed 速報 hold or a broken
    promise no longer stops anything.
    """
    if holds.paid:
        return STOP_PAID
    if holds.cancelled:
        return STOP_CANCELLED
    if holds.dispute_hold:
        return STOP_DISPUTE
    if holds.payment_pending_until is not None and as_of <= holds.payment_pending_until:
        return STOP_PAYMENT_PENDING
    if holds.promise_to_pay_date is not None and as_of <= holds.promise_to_pay_date:
        return STOP_PROMISE_TO_PAY
    return None


def current_stage(
    policy: CollectionsPolicy, base_due: dt.date, as_of: dt.date, *, holds: Holds
) -> tuple[int, LadderStep] | None:
    """The last step reached on ``as_of`` as ``(index, step)``; None before the first step or while a hold stops
    dunning (ask ``dunning_stopped`` for the reason).
    """
    if dunning_stopped(holds, as_of) is not None:
        return None
    reached = steps_due(policy, base_due, as_of)
    return reached[-1] if reached else None


# --- charges ------------------------------------------------------------------------------------------------------


class RebillCharges(NamedTuple):
    """What one re-bill adds, yen: the late fee (tax included) and the damages accrued since the last billing."""

    late_fee: int
    damages: int


def _non_negative(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} cannot be negative (got {value})")


def _per_day(principal: int, days: int, basis_points_per_year: int) -> int:
    _non_negative(principal_overdue=principal, basis_points=basis_points_per_year)
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days_overdue must be an int, got {type(days).__name__}")
    # Not yet overdue: nothing accrues.
    days = max(days, 0)
    return principal * basis_points_per_year * days // (_BP * _DAYS_PER_YEAR)


def charge_cap(principal_overdue: int, days_overdue: int, cap_bp: int) -> int:
    """The most damages plus late fees may total after ``days_overdue`` days (0 before the due date).

    ``floor(principal × bp × days / (10000 × 365))``: ¥55,000 at D+14 under 14.6 %/yr → 308.
    """
    return _per_day(principal_overdue, days_overdue, cap_bp)


def damages_due(principal_overdue: int, days_overdue: int, rate_bp: int) -> int:
    """遅延損害金 accrued on ``principal_overdue`` after ``days_overdue`` days, rounded down (not taxable)."""
    return _per_day(principal_overdue, days_overdue, rate_bp)


def rebill_charges(
    policy: CollectionsPolicy,
    *,
    principal_overdue: int,
    days_overdue: int,
    late_fees_so_far: int,
    fees_count: int,
    damages_so_far: int,
) -> RebillCharges:
    """What a re-bill issued ``days_overdue`` days after the base due date adds to the chain.

    Damages accrued to date minus those already billed come first, then the late fee (while fewer than
    ``max_late_fees`` re-bills charged one); both are cut so that damages + late fees billed on the chain never
    exceed ``charge_cap``. Neither is ever negative.

    Args:
        policy: the tenant's collections policy.
        principal_overdue: the unpaid principal the cap and damages are computed on.
        days_overdue: calendar days since the base due date (``days_past_due``).
        late_fees_so_far: late fees already billed on the chain, yen.
        fees_count: re-bills of the chain that billed a non-zero late fee.
        damages_so_far: damages already billed on the chain, yen.
    """
    _non_negative(late_fees_so_far=late_fees_so_far, fees_count=fees_count, damages_so_far=damages_so_far)
    cap = charge_cap(principal_overdue, days_overdue, policy.cap_basis_points_per_year)
    room = max(cap - damages_so_far - late_fees_so_far, 0)
    accrued = damages_due(principal_overdue, days_overdue, policy.damages_rate_basis_points_per_year)
    damages = min(max(accrued - damages_so_far, 0), room)
    room -= damages
    fee = policy.late_fee if fees_count < policy.max_late_fees else 0
    return RebillCharges(late_fee=min(fee, room), damages=damages)


def late_fee_tax(fee: int, rate: int) -> int:
    """The consumption tax included in a tax-included ``fee`` at ``rate`` percent, rounded down: 297 at 10 % → 27."""
    _non_negative(fee=fee, rate=rate)
    return fee * rate // (100 + rate)
