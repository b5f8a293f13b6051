"""The platform-billing API: catalog, issuer, subscriptions, usage ingestion, runs, invoices, credit notes,
payments and KPIs over HTTP, with the bad input the issue names and the tenancy rules."""

from __future__ import annotations

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from billing.metering import UsageEvent
from billing.models import Subscription
from domain.kit.tenancy import Role
from tests.billing.helpers import issuer, jst, usage
from tests.fixtures.factories import bearer, create_key

STANDARD = {
    "code": "standard",
    "name": "スタンダード",
    "monthly_fee": 4000,
    "charges": [
        {
            "metric": "screening",
            "included": 1000,
            "tiers": [{"up_to": 9000, "unit_price": "4"}, {"up_to": None, "unit_price": "3"}],
        }
    ],
}


@pytest.fixture
async def pfin_key(db) -> str:
    return await create_key(db, Role.PLATFORM_FINANCE)


async def post(client, key: str, path: str, body: dict, idem: str | None = None):
    headers = bearer(key) | ({"Idempotency-Key": idem} if idem else {})
    return await client.post(path, headers=headers, json=body)


async def create_plan(client, key: str, body: dict | None = None) -> dict:
    r = await post(client, key, "/platform/v1/plans", body or STANDARD)
    assert r.status_code == 201, r.text
    return r.json()


class TestCatalog:
    async def test_plan_with_versions_new_price_does_not_move_subscribers(self, client, db, platform_key, tenant_a):
        plan = await create_plan(client, platform_key)
        assert plan["versions"][0]["version"] == 1
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            r = await post(
                client, platform_key, "/platform/v1/subscriptions", {"operator_id": tenant_a.id, "plan_id": plan["id"]}
            )
        assert r.status_code == 201, r.text
        r = await post(
            client, platform_key, f"/platform/v1/plans/{plan['id']}/versions", {"monthly_fee": 5000, "charges": []}
        )
        assert (r.status_code, r.json()["version"]) == (201, 2)
        async with db.transaction() as s:
            sub = (await s.scalars(select(Subscription))).one()
        assert (sub.plan_version_id, sub.monthly_fee) == (plan["versions"][0]["id"], 4000)
        got = await client.get(f"/platform/v1/plans/{plan['id']}", headers=bearer(platform_key))
        assert [v["monthly_fee"] for v in got.json()["versions"]] == [4000, 5000]

    @pytest.mark.parametrize(
        ("patch", "pointer"),
        [
            ({"monthly_fee": "4000"}, "#/monthly_fee"),  # a string is not an amount
            ({"monthly_fee": False}, "#/monthly_fee"),  # nor is false
            ({"monthly_fee": -1}, "#/monthly_fee"),
            ({"unknown": 1}, "#/unknown"),
            ({"tax_rate": 5}, "#/tax_rate"),
            (
                {"charges": [{"metric": "screening", "included": -5, "tiers": [{"up_to": None, "unit_price": "4"}]}]},
                "#/charges/0/included",
            ),
            (
                {"charges": [{"metric": "screening", "included": 0, "tiers": [{"up_to": None, "unit_price": "-4"}]}]},
                "#/charges/0/tiers/0/unit_price",
            ),
            (
                {"charges": [{"metric": "screening", "included": 0, "tiers": [{"up_to": 10, "unit_price": "4"}]}]},
                "#/charges/0/tiers/0/up_to",
            ),  # the last tier must be open
            (
                {
                    "charges": [
                        {
                            "metric": "screening",
                            "included": 0,
                            "tiers": [
                                {"up_to": 10, "unit_price": "4"},
                                {"up_to": 5, "unit_price": "3"},
                                {"up_to": None, "unit_price": "2"},
                            ],
                        }
                    ]
                },
                "#/charges/0/tiers/1/up_to",
            ),
        ],
    )
    async def test_bad_plans_are_422_naming_the_field_and_nothing_is_written(
        self, client, platform_key, patch, pointer
    ):
        r = await post(client, platform_key, "/platform/v1/plans", {**STANDARD, **patch})
        assert r.status_code == 422, r.text
        assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()
        listed = await client.get("/platform/v1/plans", headers=bearer(platform_key))
        assert listed.json()["data"] == []

    async def test_duplicate_code_is_409_and_an_addon_has_no_usage_charges(self, client, platform_key):
        await create_plan(client, platform_key)
        r = await post(client, platform_key, "/platform/v1/plans", STANDARD)
        assert (r.status_code, r.json()["code"]) == (409, "plan_code_taken")
        r = await post(client, platform_key, "/platform/v1/plans", {**STANDARD, "code": "cbg", "kind": "addon"})
        assert (r.status_code, r.json()["errors"][0]["pointer"]) == (422, "#/charges")


class TestIssuer:
    BODY = {"legal_name": "株式会社BNPL", "registration_number": "T7123456789012", "address": "東京都港区赤坂4-3-2"}

    async def test_registration_number_check_digit(self, client, platform_key, pfin_key):
        for bad in ("T8123456789012", "7123456789012", "T712345678901", "T71234567890１２"):
            r = await client.put(
                "/platform/v1/billing/issuer",
                headers=bearer(platform_key),
                json={**self.BODY, "registration_number": bad},
            )
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["errors"][0]["pointer"] == "#/registration_number"
        missing = await client.get("/platform/v1/billing/issuer", headers=bearer(pfin_key))
        assert (missing.status_code, missing.json()["code"]) == (409, "issuer_not_configured")
        r = await client.put("/platform/v1/billing/issuer", headers=bearer(platform_key), json=self.BODY)
        assert r.status_code == 200, r.text
        assert (await client.get("/platform/v1/billing/issuer", headers=bearer(pfin_key))).json()["grace_days"] == 3

    async def test_platform_finance_reads_but_does_not_write(self, client, pfin_key):
        r = await client.put("/platform/v1/billing/issuer", headers=bearer(pfin_key), json=self.BODY)
        assert r.status_code == 403
        r = await post(client, pfin_key, "/platform/v1/plans", STANDARD)
        assert r.status_code == 403
        r = await post(client, pfin_key, "/platform/v1/operators", {"name": "x"})
        assert r.status_code == 403


class TestSubscriptions:
    async def test_one_base_plan_at_a_time_and_each_addon_once(self, client, platform_key, tenant_a):
        base = await create_plan(client, platform_key)
        premium = await create_plan(client, platform_key, {**STANDARD, "code": "premium", "monthly_fee": 100000})
        addon = await create_plan(client, platform_key, {**STANDARD, "code": "cbg", "kind": "addon", "charges": []})
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            body = {"operator_id": tenant_a.id, "plan_id": base["id"]}
            assert (await post(client, platform_key, "/platform/v1/subscriptions", body)).status_code == 201
            r = await post(
                client,
                platform_key,
                "/platform/v1/subscriptions",
                {**body, "plan_id": premium["id"], "start_date": "2027-01-01"},
            )
            assert (r.status_code, r.json()["code"]) == (409, "subscription_overlap")
            add = {"operator_id": tenant_a.id, "plan_id": addon["id"]}
            assert (await post(client, platform_key, "/platform/v1/subscriptions", add)).status_code == 201
            assert (await post(client, platform_key, "/platform/v1/subscriptions", add)).status_code == 409

    async def test_bad_subscription_input(self, client, platform_key, tenant_a):
        plan = await create_plan(client, platform_key)
        with freeze_time("2026-11-10 00:00:00", real_asyncio=True):
            cases = [
                ({"operator_id": tenant_a.id, "plan_id": "pln_nope"}, 404, "plan_not_found"),
                ({"operator_id": "opr_nope", "plan_id": plan["id"]}, 404, "operator_not_found"),
                (
                    {"operator_id": tenant_a.id, "plan_id": plan["id"], "start_date": "2026-11-01"},
                    422,
                    "invalid_effective_date",
                ),
                ({"operator_id": tenant_a.id, "plan_id": plan["id"], "start_date": "2026-13-01"}, 422, None),
            ]
            for body, status, code in cases:
                r = await post(client, platform_key, "/platform/v1/subscriptions", body)
                assert r.status_code == status, (body, r.text)
                if code:
                    assert r.json()["code"] == code

    async def test_cancel_defaults_to_the_end_of_the_month_and_twice_is_409(self, client, platform_key, tenant_a):
        plan = await create_plan(client, platform_key)
        with freeze_time("2026-11-10 00:00:00", real_asyncio=True):
            sub = (
                await post(
                    client,
                    platform_key,
                    "/platform/v1/subscriptions",
                    {"operator_id": tenant_a.id, "plan_id": plan["id"]},
                )
            ).json()
            r = await post(client, platform_key, f"/platform/v1/subscriptions/{sub['id']}/cancel", {}, idem="c1")
            assert (r.status_code, r.json()["end_date"]) == (200, "2026-12-01")
            replay = await post(client, platform_key, f"/platform/v1/subscriptions/{sub['id']}/cancel", {}, idem="c1")
            assert replay.headers.get("Idempotent-Replayed") == "true"
            again = await post(client, platform_key, f"/platform/v1/subscriptions/{sub['id']}/cancel", {})
            assert (again.status_code, again.json()["code"]) == (409, "subscription_ended")


class TestUsageIngestion:
    def body(self, tenant, **kw) -> dict:
        return {
            "operator_id": tenant.id,
            "metric": "omotion_check",
            "key": "evt-1",
            "quantity": 2,
            "occurred_at": "2026-11-20T10:00:00+09:00",
        } | kw

    async def count(self, db, tenant_id: str) -> int:
        async with db.transaction() as s:
            stmt = select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(UsageEvent.tenant_id == tenant_id)
            return int((await s.execute(stmt)).scalar_one())

    async def test_a_key_counts_once_and_a_changed_payload_is_refused(self, client, db, platform_key, tenant_a):
        with freeze_time("2026-11-20 03:00:00", real_asyncio=True):
            first = await post(client, platform_key, "/platform/v1/usage-events", self.body(tenant_a))
            assert (first.status_code, first.json()["duplicate"]) == (201, False)
            again = await post(client, platform_key, "/platform/v1/usage-events", self.body(tenant_a))
            assert (again.status_code, again.json()["duplicate"], again.json()["id"]) == (201, True, first.json()["id"])
            changed = await post(client, platform_key, "/platform/v1/usage-events", self.body(tenant_a, quantity=3))
            assert (changed.status_code, changed.json()["code"]) == (409, "usage_key_reused")
        assert await self.count(db, tenant_a.id) == 2

    async def test_keys_are_scoped_per_operator(self, client, db, platform_key, tenant_a, tenant_b):
        with freeze_time("2026-11-20 03:00:00", real_asyncio=True):
            for tenant in (tenant_a, tenant_b):
                r = await post(client, platform_key, "/platform/v1/usage-events", self.body(tenant))
                assert (r.status_code, r.json()["duplicate"]) == (201, False)
        assert (await self.count(db, tenant_a.id), await self.count(db, tenant_b.id)) == (2, 2)

    @pytest.mark.parametrize(
        ("patch", "pointer"),
        [
            ({"quantity": -1}, "#/quantity"),
            ({"quantity": 0}, "#/quantity"),
            ({"quantity": "12"}, "#/quantity"),
            ({"quantity": True}, "#/quantity"),
            ({"metric": "screening"}, "#/metric"),  # screenings are metered by the engine
            ({"occurred_at": "2026-11-20T10:00:00"}, "#/occurred_at"),  # no offset
            ({"occurred_at": "2026-12-20T10:00:00+09:00"}, "#/occurred_at"),  # the future
            ({"occurred_at": "2026-08-01T10:00:00+09:00"}, "#/occurred_at"),  # older than 60 days
            ({"extra": 1}, "#/extra"),
        ],
    )
    async def test_bad_events_are_422_and_nothing_is_counted(self, client, db, platform_key, tenant_a, patch, pointer):
        with freeze_time("2026-11-20 03:00:00", real_asyncio=True):
            r = await post(client, platform_key, "/platform/v1/usage-events", self.body(tenant_a, **patch))
        assert r.status_code == 422, r.text
        assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()
        assert await self.count(db, tenant_a.id) == 0

    async def test_operators_cannot_report_usage(self, client, tenant_a):
        r = await post(client, tenant_a.admin_key, "/platform/v1/usage-events", self.body(tenant_a))
        assert r.status_code == 403


class TestInvoicesOverHttp:
    async def test_run_finalize_credit_pay_and_what_each_key_sees(
        self, client, db, platform_key, pfin_key, tenant_a, tenant_b
    ):
        await issuer(db)
        plan = await create_plan(client, platform_key)
        with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
            for tenant in (tenant_a, tenant_b):
                r = await post(
                    client,
                    platform_key,
                    "/platform/v1/subscriptions",
                    {"operator_id": tenant.id, "plan_id": plan["id"]},
                )
                assert r.status_code == 201
        await usage(db, tenant_a.id, 1_350, jst(2026, 11, 11))
        with freeze_time("2026-12-01 01:00:00", real_asyncio=True):
            r = await post(client, platform_key, "/platform/v1/billing-runs", {"as_of": "2026-12-01"}, idem="run-1")
            assert r.json() | {} == r.json() and (r.json()["drafted"], r.json()["finalized"]) == (2, 0)
            ahead = await post(client, platform_key, "/platform/v1/billing-runs", {"as_of": "2026-12-20"})
            assert ahead.status_code == 422
            drafts = (await client.get("/platform/v1/invoices?status=draft", headers=bearer(pfin_key))).json()["data"]
            assert {d["operator_id"] for d in drafts} == {tenant_a.id, tenant_b.id}
            mine = next(d for d in drafts if d["operator_id"] == tenant_a.id)
            r = await post(client, platform_key, f"/platform/v1/invoices/{mine['id']}/finalize", {})
            assert (r.status_code, r.json()["number"], r.json()["total"]) == (200, "INV-00000001", 5940)
            assert r.json()["taxes"] == [{"tax_rate": 10, "taxable_base": 5400, "tax": 540}]
        # The operator sees its own invoice, not the other's.
        own = await client.get(f"/admin/v1/billing/invoices/{mine['id']}", headers=bearer(tenant_a.finance_key))
        assert (own.status_code, own.json()["outstanding"]) == (200, 5940)
        other = await client.get(f"/admin/v1/billing/invoices/{mine['id']}", headers=bearer(tenant_b.finance_key))
        assert other.status_code == 404
        listed = await client.get("/admin/v1/billing/invoices", headers=bearer(tenant_b.admin_key))
        assert {i["operator_id"] for i in listed.json()["data"]} == {tenant_b.id}
        for key in (tenant_a.admin_key, tenant_a.finance_key, tenant_a.merchant_key):
            assert (await client.get("/platform/v1/invoices", headers=bearer(key))).status_code == 403
        assert (
            await client.get("/admin/v1/billing/invoices", headers=bearer(tenant_a.merchant_key))
        ).status_code == 403
        # A credit note and a payment, each idempotent.
        cn = {"reason": "障害", "lines": [{"description": "値引き", "amount": 105, "tax_rate": 10}] * 3}
        r1 = await post(client, platform_key, f"/platform/v1/invoices/{mine['id']}/credit-notes", cn, idem="cn-1")
        r2 = await post(client, platform_key, f"/platform/v1/invoices/{mine['id']}/credit-notes", cn, idem="cn-1")
        assert (r1.status_code, r1.json()["total"], r2.json()["id"]) == (201, 346, r1.json()["id"])
        bad = await post(
            client,
            platform_key,
            f"/platform/v1/invoices/{mine['id']}/credit-notes",
            {"reason": "x", "lines": [{"description": "x", "amount": "105", "tax_rate": 10}]},
        )
        assert bad.status_code == 422
        seen = await client.get(
            f"/admin/v1/billing/credit-notes/{r1.json()['id']}", headers=bearer(tenant_a.finance_key)
        )
        assert seen.status_code == 200
        hidden = await client.get(
            f"/admin/v1/billing/credit-notes/{r1.json()['id']}", headers=bearer(tenant_b.finance_key)
        )
        assert hidden.status_code == 404
        pay = {"amount": 5594, "paid_on": "2026-12-25", "reference": "振込"}
        r = await post(client, platform_key, f"/platform/v1/invoices/{mine['id']}/payments", pay, idem="pay-1")
        assert r.status_code == 201, r.text
        over = await post(client, platform_key, f"/platform/v1/invoices/{mine['id']}/payments", {**pay, "amount": 1})
        assert (over.status_code, over.json()["code"]) == (409, "payment_exceeds_balance")
        final = (await client.get(f"/platform/v1/invoices/{mine['id']}", headers=bearer(pfin_key))).json()
        assert (final["credited"], final["paid"], final["outstanding"], final["payment_status"]) == (
            346,
            5594,
            0,
            "paid",
        )


class TestKpis:
    async def test_identity_and_churn_over_three_months(self, client, db, platform_key, pfin_key, tenant_a, tenant_b):
        """Nov: A and B start on standard (¥4,000 each): new 8,000. Dec 15: A upgrades to premium (¥100,000):
        expansion 96,000; B downgrades at Dec 20 to lite (¥1,000): contraction 3,000. Jan: A cancels on Jan 10:
        churn 100,000; gross churn 100,000 / 101,000, net (100,000 − 0) / 101,000."""
        std = await create_plan(client, platform_key)
        prem = await create_plan(client, platform_key, {**STANDARD, "code": "premium", "monthly_fee": 100_000})
        lite = await create_plan(client, platform_key, {**STANDARD, "code": "lite", "monthly_fee": 1_000})
        subs = {}
        with freeze_time("2026-11-05 00:00:00", real_asyncio=True):
            for tenant in (tenant_a, tenant_b):
                r = await post(
                    client, platform_key, "/platform/v1/subscriptions", {"operator_id": tenant.id, "plan_id": std["id"]}
                )
                subs[tenant.id] = r.json()["id"]
        with freeze_time("2026-12-01 00:00:00", real_asyncio=True):
            a = await post(
                client,
                platform_key,
                f"/platform/v1/subscriptions/{subs[tenant_a.id]}/change",
                {"plan_id": prem["id"], "effective_date": "2026-12-15"},
            )
            b = await post(
                client,
                platform_key,
                f"/platform/v1/subscriptions/{subs[tenant_b.id]}/change",
                {"plan_id": lite["id"], "effective_date": "2026-12-20"},
            )
            assert (a.status_code, b.status_code) == (201, 201)
        with freeze_time("2027-01-02 00:00:00", real_asyncio=True):
            r = await post(
                client,
                platform_key,
                f"/platform/v1/subscriptions/{a.json()['id']}/cancel",
                {"effective_date": "2027-01-10"},
            )
            assert r.status_code == 200
        await usage(db, tenant_a.id, 7, jst(2026, 12, 31, 23, 59, 59))
        rows = {}
        for month in ("2026-11", "2026-12", "2027-01"):
            r = await client.get(f"/platform/v1/kpis?month={month}", headers=bearer(pfin_key))
            assert r.status_code == 200, r.text
            rows[month] = r.json()
        for k in rows.values():
            assert k["stock_end"] == k["stock_start"] + k["new"] + k["expansion"] - k["contraction"] - k["churn"]
        nov, dec, jan = rows["2026-11"], rows["2026-12"], rows["2027-01"]
        assert (nov["stock_start"], nov["new"], nov["stock_end"], nov["gross_churn_rate"]) == (0, 8_000, 8_000, None)
        assert (dec["expansion"], dec["contraction"], dec["stock_end"], dec["screenings"]) == (
            96_000,
            3_000,
            101_000,
            7,
        )
        assert (dec["customers_start"], dec["customers_end"]) == (2, 2)
        assert (jan["churn"], jan["stock_end"], jan["customers_churned"]) == (100_000, 1_000, 1)
        assert (jan["gross_churn_rate"], jan["net_churn_rate"]) == ("0.9901", "0.9901")
        chart = await client.get("/platform/v1/kpis/chart?month=2027-01", headers=bearer(pfin_key))
        assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in chart.content and b"2027-01" in chart.content and b"2026-02" in chart.content
        bad = await client.get("/platform/v1/kpis?month=2026-13", headers=bearer(pfin_key))
        assert bad.status_code in (400, 422)
