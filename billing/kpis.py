"""KPIs of the platform, recomputed from the subscription change log for any past month (DOMAIN.md §9).

Definitions (decided here, written in ``docs/billing.md``):
* **Stock revenue**: the fixed monthly fees (tax excluded, full, not prorated) of the subscriptions in force.
  Every change takes effect on its effective date and counts in that date's month (as ChartMogul and Baremetrics
  count MRR): ``stock_start`` of a month is the stock as the 1st begins, before the changes effective on the 1st;
  ``stock_end`` is the next month's ``stock_start``. So a subscription that starts on the 1st is new in that
  month, and one cancelled with effect from the 1st (the default cancellation: service to the end of the month
  before) is churn of the month of that 1st; a plan change on the 1st nets to one expansion or contraction.
* Each operator's changes of one day are netted (a plan change ends one subscription and starts another on the
  same day) and classified by the operator's stock before and after: 0 → more is **new**, more → 0 is **churn**,
  up is **expansion**, down is **contraction**. A reactivation is new. A sign-up and a cancellation in the same
  month count as new and churn both (they cancel out in the stock).
* ``stock_end = stock_start + new + expansion − contraction − churn`` holds by construction (tested).
* **Gross churn** = churn / stock_start; **net churn** = (churn − new) / stock_start (DOMAIN.md's definitions:
  contraction and expansion are reported apart, not folded in). ``None`` when stock_start is 0.
* **Screenings**: billable screening events in the month (JST), after deduplication.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.metering import SCREENING, UsageEvent
from billing.pricing import month_bounds_utc, month_start, next_month, previous_month
from billing.repository import BillingRepository


@dataclass(frozen=True, slots=True)
class MonthKpis:
    month: dt.date
    stock_start: int
    new: int
    expansion: int
    contraction: int
    churn: int
    stock_end: int
    customers_start: int
    customers_new: int
    customers_churned: int
    customers_end: int
    screenings: int

    @property
    def gross_churn_rate(self) -> Decimal | None:
        return _rate(self.churn, self.stock_start)

    @property
    def net_churn_rate(self) -> Decimal | None:
        return _rate(self.churn - self.new, self.stock_start)


def _rate(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def months_ending(last: dt.date, count: int) -> list[dt.date]:
    months = [month_start(last)]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return list(reversed(months))


async def screenings_in(session: AsyncSession, month: dt.date) -> int:
    lo, hi = month_bounds_utc(month)
    stmt = select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
        UsageEvent.kind == SCREENING, UsageEvent.occurred_at >= lo, UsageEvent.occurred_at < hi
    )
    return int((await session.execute(stmt)).scalar_one())


async def compute(session: AsyncSession, months: list[dt.date]) -> list[MonthKpis]:
    """The KPIs of each month (JPY), replaying the change log from its start up to the end of the last month."""
    if not months:
        return []
    months = sorted({month_start(m) for m in months})
    end = next_month(months[-1])
    changes = await BillingRepository.from_session(session).changes(until=end)
    # (day, tenant) → net change of stock and of active subscriptions
    by_day: dict[tuple[dt.date, str], list[int]] = defaultdict(lambda: [0, 0])
    for change in changes:
        if change.currency != "JPY":
            continue
        cell = by_day[(change.effective_date, change.tenant_id)]
        cell[0] += change.stock_delta
        cell[1] += 1 if change.action == "start" else -1

    stock: dict[str, int] = defaultdict(int)
    active: dict[str, int] = defaultdict(int)
    moves: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    snapshots: dict[dt.date, tuple[int, int]] = {}
    wanted = set(months) | {next_month(m) for m in months}
    pending = sorted(wanted)
    for (day, tenant), (delta, count) in sorted(by_day.items()):
        while pending and pending[0] <= day:
            snapshots[pending.pop(0)] = (sum(stock.values()), sum(1 for n in active.values() if n > 0))
        before, after = stock[tenant], stock[tenant] + delta
        was, now = active[tenant] > 0, active[tenant] + count > 0
        stock[tenant], active[tenant] = after, active[tenant] + count
        bucket = moves[month_start(day)]
        if before == 0 and after > 0:
            bucket["new"] += after
        elif before > 0 and after == 0:
            bucket["churn"] += before
        elif after > before:
            bucket["expansion"] += after - before
        elif after < before:
            bucket["contraction"] += before - after
        if not was and now:
            bucket["customers_new"] += 1
        elif was and not now:
            bucket["customers_churned"] += 1
    for month in pending:
        snapshots[month] = (sum(stock.values()), sum(1 for n in active.values() if n > 0))

    out = []
    for month in months:
        start_stock, start_customers = snapshots[month]
        end_stock, end_customers = snapshots[next_month(month)]
        m = moves.get(month, {})
        out.append(
            MonthKpis(
                month=month,
                stock_start=start_stock,
                new=m.get("new", 0),
                expansion=m.get("expansion", 0),
                contraction=m.get("contraction", 0),
                churn=m.get("churn", 0),
                stock_end=end_stock,
                customers_start=start_customers,
                customers_new=m.get("customers_new", 0),
                customers_churned=m.get("customers_churned", 0),
                customers_end=end_customers,
                screenings=await screenings_in(session, month),
            )
        )
    return out


def chart_svg(kpis: list[MonthKpis]) -> bytes:
    """Stock revenue and its movements per month as bars, screenings as a line on the second axis (SVG)."""
    import pygal
    from pygal.style import CleanStyle

    chart = pygal.Bar(
        style=CleanStyle,
        width=960,
        height=480,
        x_label_rotation=0,
        legend_at_bottom=True,
        title="ストック収益と審査件数 (stock revenue and screenings, JPY)",
        value_formatter=lambda v: f"¥{v:,.0f}",
    )
    chart.x_labels = [f"{k.month:%Y-%m}" for k in kpis]
    chart.add("ストック収益 (月末)", [k.stock_end for k in kpis])
    chart.add("新規", [k.new for k in kpis])
    chart.add("増額", [k.expansion for k in kpis])
    chart.add("減額", [-k.contraction for k in kpis])
    chart.add("解約", [-k.churn for k in kpis])
    chart.add("審査件数", [k.screenings for k in kpis], secondary=True, formatter=lambda v: f"{v:,.0f} 件")
    return chart.render()  # type: ignore[no-any-return]
