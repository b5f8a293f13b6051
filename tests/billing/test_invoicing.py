"""The monthly invoicing run end to end, on hand-computed examples: the reference's ¥4,000 + 350 × ¥4 example,
the JST month edges, the grace window, numbering, idempotent runs, proration of a plan change, graduated tiers
across their boundary, add-ons, late usage as a correction line, credit notes (¥105 × 3 → ¥31), payments, and the
platform ledger balancing after each."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from billing import ledger, service
from billing.errors import CreditExceedsInvoice, InvoiceNotFinalizable, PaymentExceedsBalance
from tests.billing.helpers import (
    PLATFORM,
    assert_platform_ledger_balances,
    invoice_of,
    issuer,
    jst,
    plan,
    run,
    standard_spec,
    subscribe,
    usage,
)

NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


@pytest.fixture
async def standard(db):
    await issuer(db)
    made, _ = await plan(db)
    return made


async def billed_november(db, tenant_id: str, screenings: int) -> service.InvoiceView:
    await usage(db, tenant_id, screenings, jst(2026, 11, 15))
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        await run(db, dt.date(2026, 12, 4))
    return await invoice_of(db, tenant_id, NOV)


class TestMonthClose:
    async def test_the_reference_example_5940_yen(self, db, tenant_a, standard):
        """¥4,000 including 1,000 screenings; 1,350 screenings at ¥4 beyond → 4,000 + 1,400 = 5,400, tax 540."""
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        view = await billed_november(db, tenant_a.id, 1_350)
        inv = view.invoice
        assert (inv.status, inv.number, inv.subtotal, inv.tax_total, inv.total) == (
            "finalized",
            "INV-00000001",
            5_400,
            540,
            5_940,
        )
        assert [(ln.kind, ln.quantity, ln.unit_price, ln.amount) for ln in view.lines] == [
            ("base_fee", 1, "4000", 4_000),
            ("usage", 350, "4", 1_400),
        ]
        assert [(t.tax_rate, t.taxable_base, t.tax) for t in view.taxes] == [(10, 5_400, 540)]
        assert (inv.issue_date, inv.due_date) == (dt.date(2026, 12, 4), dt.date(2026, 12, 31))
        assert inv.issuer["registration_number"] == "T7123456789012"
        assert inv.customer["name"] == "Alpha BNPL"
        balances = await assert_platform_ledger_balances(db)
        assert balances == {
            "accounts_receivable": 5_940,
            "subscription_revenue": 4_000,
            "usage_revenue": 1_400,
            "output_consumption_tax": 540,
        }

    async def test_jst_month_edges(self, db, tenant_a, standard):
        """23:59:59.999999 JST on the 30th is November's; 00:00 JST on December 1st (15:00 UTC on the 30th) is not."""
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        await usage(db, tenant_a.id, 1_000, jst(2026, 11, 1, 0, 0, 0))  # the first instant of November (JST)
        await usage(db, tenant_a.id, 2, jst(2026, 11, 30, 23, 59, 59, 999_999))
        await usage(db, tenant_a.id, 5, jst(2026, 12, 1, 0, 0, 0))
        await usage(db, tenant_a.id, 7, dt.datetime(2026, 10, 31, 14, 59, 59, tzinfo=dt.UTC))  # Oct 31 23:59:59 JST
        with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
            await run(db, dt.date(2026, 12, 4))
        view = await invoice_of(db, tenant_a.id, NOV)
        assert [(ln.kind, ln.quantity) for ln in view.lines] == [("base_fee", 1), ("usage", 2)]
        async with db.transaction() as s:
            assert await service.usage_summary(s, PLATFORM, DEC) == {tenant_a.id: {"screening": 5}}

    async def test_draft_until_the_grace_window_then_one_number_however_often_it_runs(self, db, tenant_a, standard):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        await usage(db, tenant_a.id, 1_001, jst(2026, 11, 20))
        with freeze_time("2026-12-01 00:00:00", real_asyncio=True):
            summary = await run(db, dt.date(2026, 12, 1))
        assert (summary.drafted, summary.finalized) == (1, 0)
        draft = await invoice_of(db, tenant_a.id, NOV)
        assert (draft.invoice.status, draft.invoice.number, draft.invoice.total) == ("draft", None, 4_404)
        # Usage that arrives during the grace window lands on the draft.
        await usage(db, tenant_a.id, 9, jst(2026, 11, 30, 20))
        for day in (2, 3):
            with freeze_time(f"2026-12-0{day} 00:00:00", real_asyncio=True):
                assert (await run(db, dt.date(2026, 12, day))).finalized == 0
        for _ in range(2):
            with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
                await run(db, dt.date(2026, 12, 4))
            with freeze_time("2026-12-05 00:00:00", real_asyncio=True):
                await run(db, dt.date(2026, 12, 5))
        final = await invoice_of(db, tenant_a.id, NOV)
        assert (final.invoice.status, final.invoice.number, final.invoice.subtotal) == (
            "finalized",
            "INV-00000001",
            4_040,
        )
        async with db.transaction() as s:
            entries = (await s.execute(text("SELECT count(*) FROM billing_journal_entries"))).scalar_one()
            seq = (
                await s.execute(text("SELECT value FROM tenant_counters WHERE name = 'billing_invoice'"))
            ).scalar_one()
        assert (entries, seq) == (1, 1)
        await assert_platform_ledger_balances(db)

    async def test_finalized_invoice_never_changes_even_with_more_usage(self, db, tenant_a, standard):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        before = await billed_november(db, tenant_a.id, 1_100)
        await usage(db, tenant_a.id, 50, jst(2026, 11, 29))  # back-dated directly: the run must not touch November
        with freeze_time("2026-12-10 00:00:00", real_asyncio=True):
            await run(db, dt.date(2026, 12, 10))
        after = await invoice_of(db, tenant_a.id, NOV)
        assert (after.invoice.total, [ln.amount for ln in after.lines]) == (
            before.invoice.total,
            [ln.amount for ln in before.lines],
        )

    @pytest.mark.postgres_only
    async def test_the_database_refuses_to_change_a_finalized_invoice(self, db, tenant_a, standard):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        view = await billed_november(db, tenant_a.id, 10)
        for sql in (
            "UPDATE billing_invoices SET total = 0, subtotal = 0, tax_total = 0 WHERE id = :id",
            "DELETE FROM billing_invoices WHERE id = :id",
            "UPDATE billing_invoice_lines SET amount = 1 WHERE invoice_id = :id",
            "DELETE FROM billing_invoice_taxes WHERE invoice_id = :id",
            "UPDATE billing_plan_versions SET monthly_fee = 1",
            "DELETE FROM billing_postings",
        ):
            with pytest.raises(DBAPIError, match="immutable|never change|finalized"):
                async with db.transaction() as s:
                    await s.execute(text(sql), {"id": view.invoice.id})

    async def test_finalizing_before_the_month_is_over_is_refused(self, db, tenant_a, standard):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        with freeze_time("2026-12-01 00:00:00", real_asyncio=True):
            await run(db, dt.date(2026, 12, 1))
        draft = await invoice_of(db, tenant_a.id, NOV)
        with freeze_time("2026-11-30 14:00:00", real_asyncio=True), pytest.raises(InvoiceNotFinalizable):
            async with db.transaction() as s:
                await service.finalize(s, PLATFORM, draft.invoice.id)


class TestPricing:
    @pytest.mark.parametrize(
        ("screenings", "expected_usage_lines"),
        [
            (0, []),
            (1_000, []),  # exactly the included units
            (1_001, [(1, "4", 4)]),
            (10_000, [(9_000, "4", 36_000)]),  # the first tier's last unit
            (10_001, [(9_000, "4", 36_000), (1, "3", 3)]),  # the second tier's first unit
        ],
    )
    async def test_graduated_tier_boundaries(self, db, tenant_a, standard, screenings, expected_usage_lines):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        view = await billed_november(db, tenant_a.id, screenings)
        usage_lines = [(ln.quantity, ln.unit_price, ln.amount) for ln in view.lines if ln.kind == "usage"]
        assert usage_lines == expected_usage_lines
        assert view.invoice.subtotal == 4_000 + sum(a for _, _, a in expected_usage_lines)

    async def test_fractional_unit_price_rounded_once_per_line(self, db, tenant_a):
        await issuer(db)
        spec = standard_spec(
            charges=[{"metric": "screening", "included": 0, "tiers": [{"up_to": None, "unit_price": "2.5"}]}]
        )
        made, _ = await plan(db, "cheap", spec=spec)
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, made.id, NOV)
        view = await billed_november(db, tenant_a.id, 3)
        assert [(ln.quantity, ln.unit_price, ln.amount) for ln in view.lines if ln.kind == "usage"] == [(3, "2.5", 7)]

    async def test_plan_change_mid_month_is_prorated_by_days(self, db, tenant_a, standard):
        """Standard (¥4,000, 1,000 included) Nov 1–15, premium (¥100,000, 30,000 included) from Nov 16 (30 days):
        ¥2,000 + ¥50,000; included units 500 and 15,000; usage priced by the plan of the day it happened."""
        premium, _ = await plan(
            db,
            "premium",
            spec=standard_spec(
                monthly_fee=100_000,
                charges=[{"metric": "screening", "included": 30_000, "tiers": [{"up_to": None, "unit_price": "3"}]}],
            ),
        )
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            sub = await subscribe(db, tenant_a.id, standard.id, NOV)
        await usage(db, tenant_a.id, 800, jst(2026, 11, 10))  # 300 beyond the prorated 500 → ¥1,200
        with freeze_time("2026-11-16 00:00:00", real_asyncio=True):
            async with db.transaction() as s:
                await service.change_plan(s, PLATFORM, sub.id, plan_id=premium.id)
        await usage(db, tenant_a.id, 15_010, jst(2026, 11, 20))  # 10 beyond 15,000 → ¥30
        with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
            await run(db, dt.date(2026, 12, 4))
        view = await invoice_of(db, tenant_a.id, NOV)
        assert [(ln.kind, ln.quantity, ln.amount, ln.period_start.day, ln.period_end.day) for ln in view.lines] == [
            ("base_fee", 1, 2_000, 1, 16),
            ("usage", 300, 1_200, 1, 16),
            ("base_fee", 1, 50_000, 16, 1),
            ("usage", 10, 30, 16, 1),
        ]
        assert (view.invoice.subtotal, view.invoice.tax_total) == (53_230, 5_323)

    async def test_a_start_on_the_tenth_of_a_31_day_month(self, db, tenant_a, standard):
        """22 of 31 days: ¥4,000 × 22 / 31 = 2,838.7 → ¥2,838; included 1,000 × 22 / 31 → 709."""
        with freeze_time("2026-12-10 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, dt.date(2026, 12, 10))
        await usage(db, tenant_a.id, 710, jst(2026, 12, 15))
        with freeze_time("2027-01-04 00:00:00", real_asyncio=True):
            await run(db, dt.date(2027, 1, 4))
        view = await invoice_of(db, tenant_a.id, DEC)
        assert [(ln.kind, ln.quantity, ln.amount) for ln in view.lines] == [("base_fee", 1, 2_838), ("usage", 1, 4)]

    async def test_an_addon_is_billed_beside_the_base_plan(self, db, tenant_a, standard):
        guarantee, _ = await plan(db, "guarantee", kind="addon", spec=standard_spec(monthly_fee=20_000, charges=[]))
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
            await subscribe(db, tenant_a.id, guarantee.id, NOV)
        view = await billed_november(db, tenant_a.id, 0)
        assert [(ln.kind, ln.amount) for ln in view.lines] == [("base_fee", 4_000), ("addon_fee", 20_000)]
        assert view.invoice.total == 26_400


class TestLateUsage:
    async def test_usage_for_a_finalized_month_is_a_correction_line_on_the_next_invoice(self, db, tenant_a):
        await issuer(db)
        both = standard_spec(
            charges=[
                standard_spec().charges[0],
                {"metric": "omotion_check", "included": 0, "tiers": [{"up_to": None, "unit_price": "10"}]},
            ]
        )
        made, _ = await plan(db, "with-omotion", spec=both)
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, made.id, NOV)
        november = await billed_november(db, tenant_a.id, 1_200)  # 200 × ¥4 = 800
        assert november.invoice.subtotal == 4_800
        with freeze_time("2026-12-10 00:00:00", real_asyncio=True):
            async with db.transaction() as s:
                for i in range(3):  # another product's November usage, reported after November was finalized
                    await service.record_event(
                        s,
                        tenant_id=tenant_a.id,
                        metric="omotion_check",
                        key=f"late-{i}",
                        quantity=3,
                        occurred_at=jst(2026, 11, 28),
                    )
        await usage(db, tenant_a.id, 5, jst(2026, 11, 28))  # and 5 screenings of November counted late
        with freeze_time("2027-01-04 00:00:00", real_asyncio=True):
            await run(db, dt.date(2027, 1, 4))
        december = await invoice_of(db, tenant_a.id, DEC)
        corrections = [ln for ln in december.lines if ln.kind == "usage_correction"]
        assert [(ln.service_month, ln.metric, ln.quantity, ln.amount) for ln in corrections] == [
            (NOV, "omotion_check", 9, 90),
            (NOV, "screening", 5, 20),
        ]
        again = await invoice_of(db, tenant_a.id, NOV)
        assert [ln.amount for ln in again.lines] == [ln.amount for ln in november.lines]
        assert again.invoice.total == november.invoice.total == 5_280
        # January's invoice does not bill the same late usage again.
        with freeze_time("2027-02-04 00:00:00", real_asyncio=True):
            await run(db, dt.date(2027, 2, 4))
        january = await invoice_of(db, tenant_a.id, dt.date(2027, 1, 1))
        assert [ln.kind for ln in january.lines] == ["base_fee"]
        await assert_platform_ledger_balances(db)


class TestCreditNotesAndPayments:
    async def test_credit_note_tax_once_per_rate_105_times_3_is_31(self, db, tenant_a, standard):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        view = await billed_november(db, tenant_a.id, 0)
        async with db.transaction() as s:
            note = await service.issue_credit_note(
                s,
                PLATFORM,
                view.invoice.id,
                reason="障害による返金",
                lines=[service.CreditLine("値引き", 105, 10)] * 3,
                issue_date=dt.date(2026, 12, 10),
            )
        assert (note.number, note.subtotal, note.tax_total, note.total) == ("CN-00000001", 315, 31, 346)
        assert note.qualified_required is False  # under ¥10,000 tax included
        assert note.taxes == [{"tax_rate": 10, "taxable_base": 315, "tax": 31}]
        after = await invoice_of(db, tenant_a.id, NOV)
        assert (after.credited, after.outstanding) == (346, 4_400 - 346)
        balances = await assert_platform_ledger_balances(db)
        assert balances["sales_returns"] == 315
        assert balances["output_consumption_tax"] == 400 - 31

    async def test_credit_beyond_the_invoice_is_refused_and_the_rest_credits_all_tax(self, db, tenant_a, standard):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        view = await billed_november(db, tenant_a.id, 0)  # 4,000 + 400
        for lines in ([service.CreditLine("x", 4_001, 10)], [service.CreditLine("x", 10, 8)]):
            with pytest.raises(CreditExceedsInvoice):
                async with db.transaction() as s:
                    await service.issue_credit_note(s, PLATFORM, view.invoice.id, reason="x", lines=lines)
        async with db.transaction() as s:
            first = await service.issue_credit_note(
                s, PLATFORM, view.invoice.id, reason="x", lines=[service.CreditLine("x", 1_234, 10)]
            )
            rest = await service.issue_credit_note(
                s, PLATFORM, view.invoice.id, reason="x", lines=[service.CreditLine("x", 2_766, 10)]
            )
        assert (first.tax_total, rest.tax_total, first.total + rest.total) == (123, 277, 4_400)
        assert [first.number, rest.number] == ["CN-00000001", "CN-00000002"]
        with pytest.raises(CreditExceedsInvoice):
            async with db.transaction() as s:
                await service.issue_credit_note(
                    s, PLATFORM, view.invoice.id, reason="x", lines=[service.CreditLine("x", 1, 10)]
                )
        assert (await invoice_of(db, tenant_a.id, NOV)).payment_status == "credited"
        await assert_platform_ledger_balances(db)

    async def test_payments_reduce_the_balance_never_below_zero(self, db, tenant_a, standard):
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            await subscribe(db, tenant_a.id, standard.id, NOV)
        view = await billed_november(db, tenant_a.id, 0)
        async with db.transaction() as s:
            await service.record_payment(s, PLATFORM, view.invoice.id, amount=4_000, paid_on=dt.date(2026, 12, 20))
        assert (await invoice_of(db, tenant_a.id, NOV)).payment_status == "partially_paid"
        with pytest.raises(PaymentExceedsBalance):
            async with db.transaction() as s:
                await service.record_payment(s, PLATFORM, view.invoice.id, amount=401, paid_on=dt.date(2026, 12, 21))
        async with db.transaction() as s:
            await service.record_payment(s, PLATFORM, view.invoice.id, amount=400, paid_on=dt.date(2026, 12, 21))
        paid = await invoice_of(db, tenant_a.id, NOV)
        assert (paid.paid, paid.outstanding, paid.payment_status) == (4_400, 0, "paid")
        balances = await assert_platform_ledger_balances(db)
        assert (balances["bank"], balances["accounts_receivable"]) == (4_400, 0)


async def test_no_subscription_no_invoice(db, tenant_a):
    await issuer(db)
    await usage(db, tenant_a.id, 10, jst(2026, 11, 10))
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        summary = await run(db, dt.date(2026, 12, 4))
    assert (summary.drafted, summary.finalized) == (0, 0)
    async with db.transaction() as s:
        assert await ledger.balances(s) == {}
