"""The dunning sweep over a frozen calendar: real orders and captures make the invoices, the sweep walks them up the
default ladder (D−3 reminder, D+1/D+7 notices, D+14/28/42 re-bills, D+60 final demand, D+90 collection, D+120
charge-off), with holds, payments, holidays, catch-up, reruns and an interrupted sweep."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select, update

from domain.checkout.models import Consumer
from domain.collections import dunning
from domain.collections.dunning import Summary, run_dunning
from domain.collections.models import DunningAction, Notification
from domain.invoicing import keys
from domain.invoicing.models import Invoice
from domain.ledger.models import JournalEntry
from tests.checkout.helpers import (
    authorized,
    balances,
    capture_body,
    create_order,
    ledger_ok,
    order_body,
    post,
    simulate_payment,
)

PRINCIPAL = 10_000
ISSUE = "2026-06-01 03:00:00"  # 12:00 JST, Monday: due Monday 2026-06-15
D = dt.date(2026, 6, 15)


def day(offset: int, base: dt.date = D) -> dt.date:
    return base + dt.timedelta(days=offset)


def noon(as_of: dt.date) -> str:
    """12:00 JST of a business date, for freezegun."""
    return dt.datetime.combine(as_of, dt.time(3, 0)).isoformat()


async def invoiced(client, tenant, n: int = 0, *, at: str = ISSUE) -> dict[str, Any]:
    """An order of ¥10,000 captured at ``at``: its invoice is issued that JST day, due 14 days later."""
    with freeze_time(at, real_asyncio=True):
        order = await authorized(client, tenant, n, amount=PRINCIPAL)
        r = await post(client, tenant, f"/v1/orders/{order['id']}/captures", capture_body(n + 1))
        assert r.status_code == 201, r.text
    return order


async def sweep(db, tenant, as_of: dt.date, **kw: Any) -> Summary:
    with freeze_time(noon(as_of), real_asyncio=True):
        return await run_dunning(db.transaction, tenant.id, as_of, **kw)


async def sweep_days(db, tenant, first: dt.date, last: dt.date) -> dict[dt.date, Summary]:
    """Run the sweep every day from ``first`` to ``last`` (holidays included: the cron runs daily)."""
    out = {}
    d = first
    while d <= last:
        out[d] = await sweep(db, tenant, d)
        d += dt.timedelta(days=1)
    return out


async def chain(db, tenant_id: str, order_id: str) -> list[Invoice]:
    async with db.sessionmaker() as s:
        stmt = select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.order_id == order_id)
        return list((await s.scalars(stmt.order_by(Invoice.number))).all())


async def head(db, tenant_id: str, order_id: str) -> Invoice:
    return (await chain(db, tenant_id, order_id))[-1]


async def notifications(db, tenant_id: str) -> list[Notification]:
    async with db.sessionmaker() as s:
        stmt = select(Notification).where(Notification.tenant_id == tenant_id).order_by(Notification.created_at)
        return list((await s.scalars(stmt)).all())


async def actions(db, tenant_id: str) -> list[DunningAction]:
    async with db.sessionmaker() as s:
        stmt = select(DunningAction).where(DunningAction.tenant_id == tenant_id)
        return list((await s.scalars(stmt.order_by(DunningAction.step, DunningAction.invoice_id))).all())


async def overdue_count(db, tenant_id: str) -> int:
    async with db.sessionmaker() as s:
        return sum((await s.scalars(select(Consumer.overdue_count).where(Consumer.tenant_id == tenant_id))).all())


async def set_invoice(db, tenant_id: str, invoice_id: str, **values: Any) -> None:
    async with db.transaction() as s:
        await s.execute(
            update(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id).values(**values)
        )


def templates(rows: list[Notification]) -> list[tuple[str, str]]:
    return [(n.template, n.channel) for n in rows]


class TestLadder:
    async def test_the_default_ladder_day_by_day(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        first = await head(db, tenant_a.id, order["id"])
        assert first.due_date == D and first.dunning_base_date == D and first.principal == PRINCIPAL

        days = await sweep_days(db, tenant_a, day(-5), day(-1))
        assert [d for d, s in days.items() if s.notifications] == [day(-3)]
        reminder = (await notifications(db, tenant_a.id))[0]
        assert (reminder.template, reminder.channel, reminder.status) == ("reminder", "email", "pending")
        assert reminder.invoice_id == first.id and reminder.dedupe_key == f"{first.chain_id}:{D}:0"
        assert reminder.data == {
            "step": 0,
            "offset_days": -3,
            "invoice_number": first.number,
            "amount_due": first.balance,
            "due_date": "2026-06-15",
            "base_due_date": "2026-06-15",
            "payment_number": first.payment_number,
            "virtual_account": first.virtual_account,
            "transfer_reference": keys.transfer_reference(first.number),
            "currency": "JPY",
        }

        # Due day: not overdue yet, the consumer may still buy.
        await sweep(db, tenant_a, D)
        assert (await head(db, tenant_a.id, order["id"])).status == "issued"
        assert await overdue_count(db, tenant_a.id) == 0

        # D+1: overdue, a notice, and the consumer is declined at checkout.
        s = await sweep(db, tenant_a, day(1))
        assert (s.overdue, s.notifications) == (1, 1)
        assert (await head(db, tenant_a.id, order["id"])).status == "overdue"
        assert await overdue_count(db, tenant_a.id) == 1
        with freeze_time(noon(day(1)), real_asyncio=True):
            again = await create_order(client, tenant_a, order_body(0, amount=1_000, merchant_order_id="AGAIN"))
        assert again.status_code == 201 and again.json()["status"] == "declined", again.text

        days = await sweep_days(db, tenant_a, day(2), day(13))
        assert [d for d, s in days.items() if s.notifications] == [day(7)]

        # D+14: re-bill 1, a new slip due in 10 days with the late fee capped at 14.6 %/yr of ¥10,000 (¥56 < ¥297).
        s = await sweep(db, tenant_a, day(14))
        assert (s.rebills, s.notifications) == (1, 1)
        old, new = await chain(db, tenant_a.id, order["id"])
        assert old.status == "rebilled" and new.status == "overdue" and new.supersedes_id == old.id
        assert new.payment_number != old.payment_number and new.virtual_account != old.virtual_account
        assert (new.issue_date, new.due_date) == (day(14), day(24))
        assert (new.chain_id, new.dunning_base_date, new.rebill_count) == (old.chain_id, D, 1)
        assert (new.late_fee, new.late_fee_tax, new.damages) == (56, 5, 0)
        assert new.balance == PRINCIPAL + 56
        assert await overdue_count(db, tenant_a.id) == 1
        letter = (await notifications(db, tenant_a.id))[-1]
        assert (letter.template, letter.channel, letter.invoice_id) == ("rebill", "paper", new.id)
        assert letter.data["amount_due"] == PRINCIPAL + 56 and letter.data["due_date"] == "2026-07-09"
        bal = await balances(client, tenant_a)
        assert (bal["late_fee_receivable"], bal["reissue_fee_income"]) == (56, 51)

        # D+28 and D+42: re-bills 2 and 3, each within the cap's growing room (112 − 56, 168 − 112).
        days = await sweep_days(db, tenant_a, day(15), day(59))
        assert [d for d, s in days.items() if s.rebills] == [day(28), day(42)]
        invs = await chain(db, tenant_a.id, order["id"])
        assert [i.status for i in invs] == ["rebilled", "rebilled", "rebilled", "overdue"]
        assert [i.rebill_count for i in invs] == [0, 1, 2, 3]
        assert (invs[-1].late_fee, invs[-1].late_fee_tax) == (168, 15)
        assert len({i.payment_number for i in invs}) == 4

        # D+60 final demand (paper), D+90 collection, D+120 charge-off.
        days = await sweep_days(db, tenant_a, day(60), day(121))
        assert [d for d, s in days.items() if s.notifications] == [dt.date(2026, 8, 14)]
        assert [d for d, s in days.items() if s.collections] == [dt.date(2026, 9, 14)]
        assert [d for d, s in days.items() if s.charge_offs] == [dt.date(2026, 10, 13)]
        last = await head(db, tenant_a.id, order["id"])
        assert last.status == "charged_off" and last.charged_off_amount == PRINCIPAL + 168
        assert await overdue_count(db, tenant_a.id) == 1
        assert templates(await notifications(db, tenant_a.id)) == [
            ("reminder", "email"),
            ("overdue_notice", "email"),
            ("overdue_notice", "email"),
            ("rebill", "paper"),
            ("rebill", "paper"),
            ("rebill", "paper"),
            ("final_demand", "paper"),
        ]
        assert [(a.step, a.action, a.as_of) for a in await actions(db, tenant_a.id)] == [
            (0, "reminder", day(-3)),
            (1, "overdue_notice", day(1)),
            (2, "overdue_notice", day(7)),
            (3, "rebill", day(14)),
            (4, "rebill", day(28)),
            (5, "rebill", day(42)),
            (6, "final_demand", dt.date(2026, 8, 14)),
            (7, "collection", dt.date(2026, 9, 14)),
            (8, "charge_off", dt.date(2026, 10, 13)),
        ]
        bal = await balances(client, tenant_a)
        assert bal["bad_debt_expense"] == PRINCIPAL + 168
        assert bal["consumer_receivable"] == 0 and bal["late_fee_receivable"] == 0
        assert bal["reissue_fee_income"] == 168 - 15 and bal["output_consumption_tax"] == 15
        await ledger_ok(db, tenant_a.id)

    async def test_a_due_date_in_the_year_end_closure_shifts_every_step(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a, at="2026-12-17 03:00:00")
        assert (await head(db, tenant_a.id, order["id"])).due_date == dt.date(2026, 12, 31)
        days = await sweep_days(db, tenant_a, dt.date(2026, 12, 24), dt.date(2027, 1, 15))
        told = {d: s for d, s in days.items() if s.notifications}
        # Paying on 1/4 (the first business day) is on time: overdue on 1/5, re-bill on 1/14 (D+14).
        assert list(told) == [dt.date(2026, 12, 28), dt.date(2027, 1, 5), dt.date(2027, 1, 7), dt.date(2027, 1, 14)]
        assert [d for d, s in days.items() if s.overdue] == [dt.date(2027, 1, 5)]
        assert [d for d, s in days.items() if s.rebills] == [dt.date(2027, 1, 14)]
        await ledger_ok(db, tenant_a.id)

    async def test_a_step_on_a_weekend_acts_on_the_next_business_day(self, client, db, tenant_a):
        # Issued Tuesday 2026-06-02: due Tuesday 6/16; D−3 is Saturday 6/13 → Monday 6/15; D+60 is Saturday 8/15.
        order = await invoiced(client, tenant_a, at="2026-06-02 03:00:00")
        assert (await head(db, tenant_a.id, order["id"])).due_date == dt.date(2026, 6, 16)
        days = await sweep_days(db, tenant_a, dt.date(2026, 6, 10), dt.date(2026, 6, 16))
        assert [d for d, s in days.items() if s.notifications] == [dt.date(2026, 6, 15)]


@pytest.mark.integrity_exempt(
    "simulate_payment pays the invoice behind reconciliation's back: no payment, no allocation"
)
class TestStops:
    async def test_paid_invoices_are_not_chased(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        inv = await head(db, tenant_a.id, order["id"])
        await simulate_payment(db, tenant_a.id, inv.id, inv.balance)
        await set_invoice(db, tenant_a.id, inv.id, status="paid")
        days = await sweep_days(db, tenant_a, day(-3), day(15))
        assert sum(s.invoices for s in days.values()) == 0
        assert await notifications(db, tenant_a.id) == [] and await actions(db, tenant_a.id) == []
        await ledger_ok(db, tenant_a.id)

    async def test_a_partial_payment_keeps_dunning_on_the_rest(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        inv = await head(db, tenant_a.id, order["id"])
        await simulate_payment(db, tenant_a.id, inv.id, 4_000)
        await set_invoice(db, tenant_a.id, inv.id, status="partially_paid")
        await sweep_days(db, tenant_a, day(1), day(14))
        new = await head(db, tenant_a.id, order["id"])
        # The cap is on the principal still owed: 6,000 × 14.6 % × 14 / 365 = 33.
        assert new.status == "overdue" and new.paid_amount == 4_000 and new.late_fee == 33
        assert new.balance == PRINCIPAL - 4_000 + 33
        await ledger_ok(db, tenant_a.id)

    @pytest.mark.parametrize(
        ("hold", "reason"),
        [
            ({"dispute_hold": True}, "dispute"),
            ({"promise_to_pay_date": dt.date(2026, 7, 10)}, "promise_to_pay"),
            ({"payment_pending_since": dt.datetime(2026, 6, 28, 1, 0, tzinfo=dt.UTC)}, "payment_pending"),
        ],
    )
    async def test_a_hold_stops_letters_and_fees_but_not_the_facts(self, client, db, tenant_a, hold, reason):
        order = await invoiced(client, tenant_a)
        inv = await head(db, tenant_a.id, order["id"])
        await sweep_days(db, tenant_a, day(-3), day(7))
        assert len(await notifications(db, tenant_a.id)) == 3
        await set_invoice(db, tenant_a.id, inv.id, **hold)
        # D+14 (6/29) is reached while held: recorded as skipped, never acted later.
        days = await sweep_days(db, tenant_a, day(8), day(20))
        assert sum(s.rebills + s.notifications for s in days.values()) == 0
        assert (await head(db, tenant_a.id, order["id"])).status == "overdue"  # still a fact
        assert await overdue_count(db, tenant_a.id) == 1
        skipped = [a for a in await actions(db, tenant_a.id) if a.step == 3]
        assert [(a.action, a.result) for a in skipped] == [("rebill", {"skipped": reason})]
        if reason == "dispute":
            return
        # The promise (7/10) or the 速報 hold (6/28 + 10 days = 7/8) lapses: the next step (D+28, 7/13) acts.
        days = await sweep_days(db, tenant_a, day(21), day(28))
        assert [d for d, s in days.items() if s.rebills] == [day(28)]
        new = await head(db, tenant_a.id, order["id"])
        assert new.rebill_count == 1 and new.late_fee == 112  # the only fee so far: all the cap's room at D+28
        await ledger_ok(db, tenant_a.id)

    async def test_collection_and_charge_off_wait_for_a_hold_to_end(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        await sweep_days(db, tenant_a, day(-3), day(1))
        inv = await head(db, tenant_a.id, order["id"])
        await set_invoice(db, tenant_a.id, inv.id, dispute_hold=True)
        days = await sweep_days(db, tenant_a, day(85), day(125))
        assert sum(s.collections + s.charge_offs for s in days.values()) == 0
        await set_invoice(db, tenant_a.id, inv.id, dispute_hold=False)
        s = await sweep(db, tenant_a, day(126))
        assert (s.collections, s.charge_offs, s.notifications, s.rebills) == (1, 1, 0, 0)
        assert (await head(db, tenant_a.id, order["id"])).status == "charged_off"
        await ledger_ok(db, tenant_a.id)

    async def test_a_convenience_store_preliminary_report_keeps_the_invoice_current(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        inv = await head(db, tenant_a.id, order["id"])
        reported = dt.datetime(2026, 6, 14, 3, 0, tzinfo=dt.UTC)
        await set_invoice(db, tenant_a.id, inv.id, status="payment_pending", payment_pending_since=reported)
        # Held through 6/24 (6/14 + 10 days): not overdue; from 6/25 without a 確報, overdue.
        days = await sweep_days(db, tenant_a, day(1), day(9))
        assert sum(s.overdue for s in days.values()) == 0
        assert (await head(db, tenant_a.id, order["id"])).status == "payment_pending"
        s = await sweep(db, tenant_a, day(10))
        assert s.overdue == 1 and await overdue_count(db, tenant_a.id) == 1


class TestReruns:
    async def test_running_the_same_day_twice_acts_once(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        for as_of in (day(-3), day(1), day(7), day(14)):
            first = await sweep(db, tenant_a, as_of)
            second = await sweep(db, tenant_a, as_of)
            assert first.notifications == 1
            assert (second.notifications, second.rebills, second.overdue, second.skipped) == (0, 0, 0, 0)
        assert len(await chain(db, tenant_a.id, order["id"])) == 2
        assert len(await notifications(db, tenant_a.id)) == 4
        assert await overdue_count(db, tenant_a.id) == 1
        await ledger_ok(db, tenant_a.id)

    async def test_catch_up_after_days_without_a_sweep(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        s = await sweep(db, tenant_a, day(30))
        # The reminder is moot once overdue; of the letters missed, only the latest (re-bill 2) goes out.
        assert (s.overdue, s.rebills, s.notifications, s.skipped) == (1, 1, 1, 4)
        by_step = {a.step: a for a in await actions(db, tenant_a.id)}
        assert by_step[0].result == {"skipped": "overdue"}
        assert [by_step[i].result for i in (1, 2, 3)] == [{"skipped": "superseded"}] * 3
        assert by_step[4].action == "rebill" and "invoice_id" in by_step[4].result
        new = await head(db, tenant_a.id, order["id"])
        assert new.rebill_count == 1 and new.late_fee == 120  # 10,000 × 14.6 % × 30 / 365
        assert templates(await notifications(db, tenant_a.id)) == [("rebill", "paper")]
        # Months later: letters past the hand-off are skipped, collection and charge-off act.
        s = await sweep(db, tenant_a, day(130))
        assert (s.collections, s.charge_offs, s.notifications, s.rebills) == (1, 1, 0, 0)
        await ledger_ok(db, tenant_a.id)

    async def test_an_interrupted_sweep_resumes_without_acting_twice(self, client, db, tenant_a, monkeypatch):
        orders = [await invoiced(client, tenant_a, n) for n in range(5)]
        real = dunning.sweep_chunk
        calls = {"n": 0}

        async def crash_after_two(*args: Any, **kw: Any):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("killed")
            return await real(*args, **kw)

        monkeypatch.setattr(dunning, "sweep_chunk", crash_after_two)
        with pytest.raises(RuntimeError, match="killed"):
            await sweep(db, tenant_a, day(14), batch_size=2)
        done = await actions(db, tenant_a.id)
        assert 0 < len({a.chain_id for a in done}) < 5  # the first chunks committed
        monkeypatch.setattr(dunning, "sweep_chunk", real)
        await sweep(db, tenant_a, day(14), batch_size=2)
        for order in orders:
            invs = await chain(db, tenant_a.id, order["id"])
            assert [i.status for i in invs] == ["rebilled", "overdue"]
        acts = await actions(db, tenant_a.id)
        # Per chain: the reminder (skipped: overdue), two notices (skipped: superseded), the re-bill and its letter.
        assert len(acts) == 5 * 4 and sum("invoice_id" in a.result for a in acts) == 5
        assert len(await notifications(db, tenant_a.id)) == 5
        assert await overdue_count(db, tenant_a.id) == 5
        await ledger_ok(db, tenant_a.id)


class TestScope:
    async def test_every_tenant_or_one(self, client, db, tenant_a, tenant_b):
        await invoiced(client, tenant_a)
        await invoiced(client, tenant_b)
        assert (await sweep(db, tenant_b, day(1))).overdue == 1
        assert (await head_status(db, tenant_a.id)) == "issued"
        with freeze_time(noon(day(14)), real_asyncio=True):
            s = await run_dunning(db.transaction, None, day(14))
        assert (s.overdue, s.rebills) == (1, 2)
        async with db.sessionmaker() as session:
            kinds = (
                await session.scalars(select(JournalEntry.kind).where(JournalEntry.kind == "dunning.rebill"))
            ).all()
        assert len(kinds) == 2
        await ledger_ok(db, tenant_a.id)
        await ledger_ok(db, tenant_b.id)


async def head_status(db, tenant_id: str) -> str:
    async with db.sessionmaker() as s:
        return (await s.scalars(select(Invoice.status).where(Invoice.tenant_id == tenant_id))).one()


class TestNegativeDatabase:
    async def test_a_fraud_flagged_order_unpaid_at_the_final_demand_is_reported_and_a_plain_late_payer_is_not(
        self, client, db, tenant_a
    ):
        from domain.checkout.models import Order
        from fraud.models import NegativeReport, Screening

        flagged = await invoiced(client, tenant_a, 0)
        plain = await invoiced(client, tenant_a, 1)
        async with db.transaction() as s:
            screening_id = (await s.get(Order, (tenant_a.id, flagged["id"]))).screening_id
            # The engine said REVIEW and a person let the order through (the approval path is tested in checkout).
            await s.execute(
                update(Screening)
                .where(Screening.tenant_id == tenant_a.id, Screening.id == screening_id)
                .values(verdict="REVIEW")
            )
        await sweep(db, tenant_a, day(59))
        before = await sweep(db, tenant_a, day(59))
        assert before.negative_reports == 0
        days = await sweep_days(db, tenant_a, day(60), dt.date(2026, 8, 14))
        assert sum(s.negative_reports for s in days.values()) == 1
        async with db.sessionmaker() as s:
            reports = (await s.scalars(select(NegativeReport).where(NegativeReport.tenant_id == tenant_a.id))).all()
        assert {(r.screening_id, r.reason) for r in reports} == {(screening_id, "non_payment")}
        assert len(reports) >= 2  # phone, email, name + address: each identifier of the flagged order
        assert plain["id"] != flagged["id"]
        # The next day's sweep reports nothing again.
        assert (await sweep(db, tenant_a, dt.date(2026, 8, 15))).negative_reports == 0


async def _pay(client, tenant, external_id: str, amount: int, invoice: Invoice, as_of: dt.date) -> dict[str, Any]:
    """A bank transfer to the (old) slip's virtual account, reconciled in the request on ``as_of``."""
    from tests.fixtures.factories import bearer

    body = {
        "external_id": external_id,
        "amount": amount,
        "value_date": as_of.isoformat(),
        "account": invoice.virtual_account,
    }
    with freeze_time(noon(as_of), real_asyncio=True):
        r = await client.post("/admin/v1/payments", headers=bearer(tenant.finance_key), json=body)
    assert r.status_code == 201, r.text
    return r.json()


class TestPaymentsAfterDunning:
    async def test_paying_the_original_amount_after_a_rebill_closes_it_and_forgives_the_fee(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        first = await head(db, tenant_a.id, order["id"])
        await sweep_days(db, tenant_a, day(14), day(14))
        rebilled = await head(db, tenant_a.id, order["id"])
        assert rebilled.late_fee == 56 and rebilled.balance == PRINCIPAL + 56
        # The consumer pays the first slip's amount to the first slip's account.
        payment = await _pay(client, tenant_a, "bank:orig", PRINCIPAL, first, day(16))
        assert (payment["outcome"], payment["invoice_id"]) == ("waived", rebilled.id)
        closed = await head(db, tenant_a.id, order["id"])
        assert (closed.status, closed.balance, closed.waived) == ("paid", 0, 56)
        # Waterfall: the fee first, then principal; the ¥56 of principal left unpaid is forgiven as the fee it was.
        assert (closed.paid_late_fee, closed.paid_principal) == (56, PRINCIPAL - 56)
        assert await overdue_count(db, tenant_a.id) == 0
        bal = await balances(client, tenant_a)
        assert bal["consumer_receivable"] == 0 and bal["late_fee_receivable"] == 0
        assert bal["reissue_fee_income"] == 0 and bal["output_consumption_tax"] == 0
        await ledger_ok(db, tenant_a.id)

    async def test_a_payment_after_charge_off_is_a_recovery(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        await sweep_days(db, tenant_a, day(14), day(14))
        await sweep(db, tenant_a, dt.date(2026, 10, 13))  # D+120 (catch-up: the letters in between are superseded)
        charged = await head(db, tenant_a.id, order["id"])
        assert charged.status == "charged_off"
        owed = charged.balance
        payment = await _pay(client, tenant_a, "bank:late", owed, charged, dt.date(2026, 10, 20))
        assert payment["outcome"] == "recovery"
        recovered = await head(db, tenant_a.id, order["id"])
        assert (recovered.status, recovered.balance, recovered.recovered_amount) == ("recovered", 0, owed)
        assert await overdue_count(db, tenant_a.id) == 0
        bal = await balances(client, tenant_a)
        assert (bal["recoveries"], bal["bad_debt_expense"]) == (owed, owed)
        assert bal["consumer_receivable"] == 0 and bal["late_fee_receivable"] == 0
        await ledger_ok(db, tenant_a.id)

    async def test_reversing_a_payment_made_before_the_charge_off_charges_it_off_too(self, client, db, tenant_a):
        order = await invoiced(client, tenant_a)
        first = await head(db, tenant_a.id, order["id"])
        await _pay(client, tenant_a, "bank:part", 4_000, first, day(3))
        await sweep(db, tenant_a, dt.date(2026, 10, 13))  # D+120: charged off (the letters before superseded)
        charged = await head(db, tenant_a.id, order["id"])
        assert charged.status == "charged_off" and charged.charged_off_amount == PRINCIPAL - 4_000
        # The bank takes the ¥4,000 back (a returned transfer): the invoice owes it again, and it is bad debt too.
        from tests.fixtures.factories import bearer

        body = {
            "external_id": "bank:part:return",
            "kind": "reversal",
            "amount": 4_000,
            "value_date": "2026-10-20",
            "reverses_external_id": "bank:part",
        }
        with freeze_time(noon(dt.date(2026, 10, 20)), real_asyncio=True):
            r = await client.post("/admin/v1/payments", headers=bearer(tenant_a.finance_key), json=body)
        assert r.status_code == 201 and r.json()["outcome"] == "reversed", r.text
        after = await head(db, tenant_a.id, order["id"])
        assert (after.status, after.balance, after.charged_off_amount) == ("charged_off", PRINCIPAL, PRINCIPAL)
        bal = await balances(client, tenant_a)
        assert (bal["bank"], bal["bad_debt_expense"], bal["consumer_receivable"]) == (0, PRINCIPAL, 0)
        await ledger_ok(db, tenant_a.id)
