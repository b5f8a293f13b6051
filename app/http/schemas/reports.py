"""Schemas of the collections reports (JSON), and their CSV columns (one header row, then the rows in order)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from app.http.schemas.common import ReadModel
from domain.collections.reports import AgingBucket, ArAging, HeldAging, MonthRate, Outcomes, StageTotal, SuspenseAging
from domain.collections.reports import UnpaidRate as UnpaidRateReport

Cell = str | int | None


def _rate(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class AgingBucketOut(ReadModel):
    bucket: str = Field(description="Days past due: current, 1-29, 30-59, 60-89, 90-119, 120+ (or total).")
    min_days: int = Field(examples=[30])
    max_days: int | None = Field(description="Inclusive; null for the open-ended bucket.", examples=[59])
    count: int = Field(description="Open invoices (one per chain).")
    amount: int = Field(description="Their balance, yen (re-bill fees and damages included).")
    charged_off_count: int = Field(description="Of which charged off (still collectible).")
    charged_off_amount: int = Field(description="Balance of the charged-off ones, yen.")

    @classmethod
    def of(cls, b: AgingBucket) -> AgingBucketOut:
        return cls(
            bucket=b.bucket.key,
            min_days=b.bucket.low,
            max_days=b.bucket.high,
            count=b.count,
            amount=b.amount,
            charged_off_count=b.charged_off_count,
            charged_off_amount=b.charged_off_amount,
        )


class ArAgingOut(ReadModel):
    object: Literal["ar_aging"] = "ar_aging"
    as_of: dt.date
    currency: Literal["JPY"] = "JPY"
    buckets: list[AgingBucketOut]
    total: AgingBucketOut

    @classmethod
    def of(cls, r: ArAging) -> ArAgingOut:
        return cls(as_of=r.as_of, buckets=[AgingBucketOut.of(b) for b in r.buckets], total=AgingBucketOut.of(r.total))

    CSV_HEADER: ClassVar[tuple[str, ...]] = (
        "as_of",
        "bucket",
        "min_days",
        "max_days",
        "count",
        "amount",
        "charged_off_count",
        "charged_off_amount",
    )

    def csv_rows(self) -> list[tuple[Cell, ...]]:
        return [
            (
                self.as_of.isoformat(),
                b.bucket,
                b.min_days,
                b.max_days,
                b.count,
                b.amount,
                b.charged_off_count,
                b.charged_off_amount,
            )
            for b in [*self.buckets, self.total]
        ]


class StageOut(ReadModel):
    stage: str = Field(
        description="paid_by_due, paid_after_notices, paid_after_rebill (one row per re-bill), paid_in_collection, "
        "recovered, open, in_collection, charged_off, cancelled (or total)."
    )
    rebill: int | None = Field(description="For paid_after_rebill: the re-bill paid (1 = 再請求1).", examples=[1])
    count: int = Field(description="Chains.")
    amount: int = Field(description="What they billed: principal + consumer fee, yen.")
    paid_amount: int = Field(description="Paid so far, re-bill fees and damages included, yen.")
    balance: int = Field(description="Still owed, yen.")
    charged_off_amount: int
    recovered_amount: int

    @classmethod
    def of(cls, s: StageTotal) -> StageOut:
        return cls(
            stage=s.stage,
            rebill=s.rebill,
            count=s.count,
            amount=s.amount,
            paid_amount=s.paid_amount,
            balance=s.balance,
            charged_off_amount=s.charged_off_amount,
            recovered_amount=s.recovered_amount,
        )


class CollectionOutcomesOut(ReadModel):
    object: Literal["collection_outcomes"] = "collection_outcomes"
    from_date: dt.date = Field(description="First base due date counted.")
    to_date: dt.date = Field(description="Last base due date counted.")
    currency: Literal["JPY"] = "JPY"
    stages: list[StageOut]
    total: StageOut

    @classmethod
    def of(cls, r: Outcomes) -> CollectionOutcomesOut:
        return cls(
            from_date=r.date_from,
            to_date=r.date_to,
            stages=[StageOut.of(s) for s in r.stages],
            total=StageOut.of(r.total),
        )

    CSV_HEADER: ClassVar[tuple[str, ...]] = (
        "from_date",
        "to_date",
        "stage",
        "rebill",
        "count",
        "amount",
        "paid_amount",
        "balance",
        "charged_off_amount",
        "recovered_amount",
    )

    def csv_rows(self) -> list[tuple[Cell, ...]]:
        return [
            (
                self.from_date.isoformat(),
                self.to_date.isoformat(),
                s.stage,
                s.rebill,
                s.count,
                s.amount,
                s.paid_amount,
                s.balance,
                s.charged_off_amount,
                s.recovered_amount,
            )
            for s in [*self.stages, self.total]
        ]


class HeldAgingOut(ReadModel):
    buckets: list[AgingBucketOut]
    total: AgingBucketOut

    @classmethod
    def of(cls, h: HeldAging) -> HeldAgingOut:
        return cls(buckets=[AgingBucketOut.of(b) for b in h.buckets], total=AgingBucketOut.of(h.total))


class SuspenseAgingOut(ReadModel):
    object: Literal["suspense_aging"] = "suspense_aging"
    as_of: dt.date
    currency: Literal["JPY"] = "JPY"
    suspense: HeldAgingOut = Field(description="Unmatched payments in suspense (仮受金), by days since value date.")
    overpayments: HeldAgingOut = Field(description="Overpayments owed back to consumers, by days since value date.")

    @classmethod
    def of(cls, r: SuspenseAging) -> SuspenseAgingOut:
        return cls(as_of=r.as_of, suspense=HeldAgingOut.of(r.suspense), overpayments=HeldAgingOut.of(r.overpayments))

    CSV_HEADER: ClassVar[tuple[str, ...]] = ("as_of", "kind", "bucket", "min_days", "max_days", "count", "amount")

    def csv_rows(self) -> list[tuple[Cell, ...]]:
        return [
            (self.as_of.isoformat(), kind, b.bucket, b.min_days, b.max_days, b.count, b.amount)
            for kind, held in (("suspense", self.suspense), ("overpayment", self.overpayments))
            for b in [*held.buckets, held.total]
        ]


class MonthRateOut(ReadModel):
    month: str = Field(description="Month of issue (JST), YYYY-MM; or total.", examples=["2026-10"])
    issued_count: int = Field(description="Chains whose first invoice was issued in the month.")
    issued_amount: int = Field(description="What they billed: principal + consumer fee, yen.")
    unpaid_count: int = Field(description="Of them, still unpaid today (open, charged-off included).")
    unpaid_amount: int = Field(description="Of issued_amount, still unpaid today, yen.")
    unpaid_balance: int = Field(description="Still owed today, re-bill fees and damages included, yen.")
    unpaid_count_rate: str | None = Field(
        description="unpaid_count / issued_count in percent, 2 decimals (half up); null when nothing was issued.",
        examples=["3.45"],
    )
    unpaid_amount_rate: str | None = Field(
        description="unpaid_amount / issued_amount in percent, 2 decimals (half up).", examples=["2.10"]
    )

    @classmethod
    def of(cls, m: MonthRate) -> MonthRateOut:
        return cls(
            month=m.month,
            issued_count=m.issued_count,
            issued_amount=m.issued_amount,
            unpaid_count=m.unpaid_count,
            unpaid_amount=m.unpaid_amount,
            unpaid_balance=m.unpaid_balance,
            unpaid_count_rate=_rate(m.count_rate),
            unpaid_amount_rate=_rate(m.amount_rate),
        )


class UnpaidRateOut(ReadModel):
    object: Literal["unpaid_rate"] = "unpaid_rate"
    as_of: dt.date = Field(description="Unpaid as of this day (today, JST).")
    currency: Literal["JPY"] = "JPY"
    months: list[MonthRateOut]
    total: MonthRateOut

    @classmethod
    def of(cls, r: UnpaidRateReport) -> UnpaidRateOut:
        return cls(as_of=r.as_of, months=[MonthRateOut.of(m) for m in r.months], total=MonthRateOut.of(r.total))

    CSV_HEADER: ClassVar[tuple[str, ...]] = (
        "as_of",
        "month",
        "issued_count",
        "issued_amount",
        "unpaid_count",
        "unpaid_amount",
        "unpaid_balance",
        "unpaid_count_rate",
        "unpaid_amount_rate",
    )

    def csv_rows(self) -> list[tuple[Cell, ...]]:
        return [
            (
                self.as_of.isoformat(),
                m.month,
                m.issued_count,
                m.issued_amount,
                m.unpaid_count,
                m.unpaid_amount,
                m.unpaid_balance,
                m.unpaid_count_rate,
                m.unpaid_amount_rate,
            )
            for m in [*self.months, self.total]
        ]
