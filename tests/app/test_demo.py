"""``bnpl demo``: created once, keys printed once, orders in every state made through the services, and a ledger
that balances."""

from __future__ import annotations

import asyncio
from collections import Counter

from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import cli
from billing.models import Subscription
from domain.checkout.models import Capture, Consumer, Order, Refund
from domain.collections.models import Payment
from domain.invoicing.models import Invoice
from domain.ledger.models import JournalEntry
from domain.tenancy.models import ApiKey, Merchant, Operator
from tests.fixtures.ledger import assert_ledger_balances


async def invoke(*args: str):
    """Commands call anyio.run, so they run in a thread of their own, as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def _count(db, model) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


class TestDemo:
    async def test_is_created_once_and_prints_keys_once(self, committed_db):
        first = await invoke("demo")
        assert first.exit_code == 0, first.output
        assert all(p in first.output for p in ("sk_plat_", "sk_pfin_", "sk_admin_", "sk_fin_", "sk_mch_"))
        assert first.output.count("sk_mch_") == 2  # the live and the sandbox merchant
        second = await invoke("demo")
        assert second.exit_code == 0, second.output
        assert "sk_" not in second.output.replace("bnpl keys create", "")
        assert await _count(committed_db, Operator) == 1
        assert await _count(committed_db, Merchant) == 2
        assert await _count(committed_db, ApiKey) == 6
        assert await _count(committed_db, Subscription) == 1  # the demo operator on the standard plan, once
        assert "subscribed to the standard plan" in first.output
        # Nothing is made twice, and the second run prints the same summary.
        assert await _count(committed_db, Order) == 17
        assert second.output.split("Orders by status:")[1] == first.output.split("Orders by status:")[1]

    async def test_orders_in_every_state(self, committed_db):
        result = await invoke("demo")
        assert result.exit_code == 0, result.output
        live = "authorized 2 · partially_captured 1 · captured 6 · declined 1 · cancelled 1 · expired 1"
        assert live in result.output
        assert "authorized 2 · in_review 1 · declined 2" in result.output
        async with committed_db.sessionmaker() as s:
            merchants = {m.name: m for m in (await s.scalars(select(Merchant))).all()}
            assert not merchants["Demo Shop"].test_mode and merchants["Demo Shop (test mode)"].test_mode
            assert merchants["Demo Shop"].consumer_fee == 330
            orders = {o.merchant_order_id: o for o in (await s.scalars(select(Order))).all()}
            invoices = Counter((i.order_id, i.status, i.delivery) for i in (await s.scalars(select(Invoice))).all())
            captures = Counter(c.order_id for c in (await s.scalars(select(Capture))).all())
            refunds = (await s.scalars(select(Refund))).all()

        def status(ref: str) -> str:
            return orders[ref].status

        assert {status("DEMO-1001"), status("DEMO-1002"), status("TEST-0001"), status("TEST-0005")} == {"authorized"}
        assert orders["DEMO-1002"].amount == 2750 + 3960 + 880  # decreased before shipment
        assert status("TEST-0002") == "in_review" and orders["TEST-0002"].review_deadline is not None
        assert (status("TEST-0003"), orders["TEST-0003"].decline_reason) == ("declined", "screening")
        assert (orders["TEST-0004"].decline_reason, orders["TEST-0004"].decline_detail) == ("credit", "test_mode")
        assert (orders["DEMO-1004"].decline_reason, orders["DEMO-1004"].decline_detail) == ("credit", "first_order_max")
        assert status("DEMO-1003") == "cancelled" and orders["DEMO-1003"].exposure == 0
        assert status("DEMO-1005") == "partially_captured"
        # Separate (別送): an invoice per shipment; enclosed (同梱): one invoice, issued at authorization.
        two_parcels = orders["DEMO-1006"]
        assert status("DEMO-1006") == "captured" and captures[two_parcels.id] == 2
        # The first parcel's invoice was paid in part (the demo's collections), the second is open.
        assert invoices[(two_parcels.id, "partially_paid", "separate")] == 1
        assert invoices[(two_parcels.id, "issued", "separate")] == 1
        enclosed = orders["DEMO-1007"]
        assert (status("DEMO-1007"), enclosed.invoice_delivery) == ("captured", "enclosed")
        assert invoices[(enclosed.id, "issued", "enclosed")] == 1
        released = orders["DEMO-1008"]
        assert (released.status, released.released_amount > 0, released.captured_amount > 0) == ("captured", True, True)
        refunded = orders["DEMO-1009"]
        assert status("DEMO-1009") == "captured" and 0 < refunded.refunded_amount < refunded.captured_amount
        assert [r.order_id for r in refunds] == [refunded.id]
        assert invoices[(refunded.id, "voided", "separate")] == 1 and invoices[(refunded.id, "issued", "separate")] == 1
        assert orders["DEMO-1010"].guarantee == "guaranteed" and orders["DEMO-1010"].arrival_confirmed_at is not None
        assert status("DEMO-1011") == "expired" and orders["DEMO-1011"].exposure == 0
        assert (status("DEMO-1012"), orders["DEMO-1012"].guarantee) == ("captured", "unguaranteed")
        # Collections: the arrived order's invoice paid; the lapsed parcel's invoice, 21 days past due, re-billed.
        assert invoices[(orders["DEMO-1010"].id, "paid", "separate")] == 1
        lapsed = orders["DEMO-1012"].id
        assert invoices[(lapsed, "rebilled", "separate")] == 1 and invoices[(lapsed, "overdue", "separate")] == 1
        async with committed_db.sessionmaker() as s:
            payments = Counter((p.status, p.outcome) for p in (await s.scalars(select(Payment))).all())
        assert payments == {("applied", "exact"): 1, ("applied", "partial"): 1, ("unmatched", "unidentified"): 1}

    async def test_ledger_balances_and_exposure_matches_the_orders(self, committed_db):
        assert (await invoke("demo")).exit_code == 0
        async with committed_db.sessionmaker() as s:
            tenant_id = (await s.scalars(select(Operator.id))).one()
            totals = await assert_ledger_balances(s, tenant_id)
            assert set(totals) == {"JPY"}
            kinds = Counter((await s.scalars(select(JournalEntry.kind))).all())
            assert kinds["order.captured"] == 8  # one per shipment
            assert kinds["invoice.fee"] == 8  # one per invoice, not per re-issue
            assert kinds["order.refunded"] == 1 and kinds["order.guarantee_lapsed"] == 1
            # Every consumer's outstanding is the sum of its orders' exposure (no merges in the demo).
            exposure = Counter()
            for order in (await s.scalars(select(Order))).all():
                if order.consumer_id is not None:
                    exposure[order.consumer_id] += order.exposure
            consumers = (await s.scalars(select(Consumer))).all()
            assert all(c.merged_into is None for c in consumers)
            assert {c.id: c.outstanding for c in consumers} == {c.id: exposure[c.id] for c in consumers}
