"""Edge cases of platform billing found in review (issue 7): skipped months, runs dated ahead, the grace window,
the KPI convention on the 1st, AR aging as of a past day, every tax rate in the registers, NUL and out-of-range
input, racing first issuer PUTs, credit notes naming their invoice, KPI exports, and stable schema names."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from freezegun import freeze_time

from billing import exports, service
from billing import kpis as kpi_service
from domain.kit.pagination import PageRequest
from tests.billing.helpers import (
    PLATFORM,
    invoice_of,
    issuer,
    jst,
    plan,
    run,
    standard_spec,
    subscribe,
    usage,
)
from tests.fixtures.factories import bearer

OCT, NOV, DEC = dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)


async def invoices_of(db, tenant_id: str) -> list[service.InvoiceView]:
    async with db.transaction() as s:
        _page, views = await service.list_invoices(
            s, PLATFORM, PageRequest(limit=100), tenant_id=tenant_id, with_lines=True
        )
    return sorted(views, key=lambda v: v.invoice.service_month)


# -- missed billing ------------------------------------------------------------------------------------------


async def test_a_run_that_skips_a_month_still_bills_that_month(db, tenant_a):
    """The scheduler was down all of December (or finance catches up with `--as-of 2027-01-04`): the run drafts every
    month of the last year that a subscription covered and no run billed, so November is invoiced, before December."""
    await issuer(db)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
    await usage(db, tenant_a.id, 1_350, jst(2026, 11, 15))
    for day in ("2027-01-04", "2027-02-04"):
        with freeze_time(f"{day} 00:00:00", real_asyncio=True):
            await run(db, dt.date.fromisoformat(day))
    months = [v.invoice.service_month for v in await invoices_of(db, tenant_a.id)]
    assert NOV in months, f"November (¥5,940) was never invoiced; invoices: {months}"


async def test_a_run_for_tomorrow_does_not_finalize_before_the_grace_window_ends(client, db, platform_key, tenant_a):
    """A run dated tomorrow is refused (422): on 2026-12-03 (JST) November stays a draft until its 3 grace days are
    over, so November usage reported on the 3rd still lands on it."""
    await issuer(db)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
    with freeze_time("2026-12-03 01:00:00", real_asyncio=True):  # 10:00 JST on the 3rd
        r = await client.post("/platform/v1/billing-runs", headers=bearer(platform_key), json={"as_of": "2026-12-04"})
    if r.status_code == 422:
        return
    nov = await invoice_of(db, tenant_a.id, NOV)
    assert nov.invoice.status == "draft", (r.json(), nov.invoice.status, nov.invoice.issue_date)


async def test_with_no_grace_days_a_run_for_tomorrow_finalizes_a_month_that_is_not_over(
    client, db, platform_key, tenant_a
):
    """With `grace_days: 0`, no run dated ahead can finalize November while it is still November (JST): the month is
    finalized only once it is over, and the 10 screenings of its last day are billed (¥40)."""
    await issuer(db, grace_days=0)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
    await usage(db, tenant_a.id, 1_000, jst(2026, 11, 10))
    with freeze_time("2026-11-30 01:00:00", real_asyncio=True):  # 10:00 JST on November 30th
        r = await client.post("/platform/v1/billing-runs", headers=bearer(platform_key), json={"as_of": "2026-12-01"})
    if r.status_code == 422:
        return
    assert r.json()["finalized"] == 1, r.json()  # November, on November 30th
    await usage(db, tenant_a.id, 10, jst(2026, 11, 30, 18))  # screenings that evening
    for day in ("2026-12-04", "2027-01-04"):
        with freeze_time(f"{day} 00:00:00", real_asyncio=True):
            await run(db, dt.date.fromisoformat(day))
    billed = sum(ln.amount for v in await invoices_of(db, tenant_a.id) for ln in v.lines if ln.kind != "base_fee")
    assert billed == 40, f"usage billed for November: ¥{billed} (10 screenings beyond the 1,000 included: ¥40)"


async def test_a_mistyped_future_as_of_does_not_bill_a_month_that_has_not_happened(db, tenant_a):
    """`bnpl jobs run billing --as-of 2027-06-04` typed on 2026-12-10 fails as a business error: a run never drafts or
    finalizes a month that has not happened."""
    import app.worker.actors  # noqa: F401 - registers the actors, as `bnpl jobs` does
    from app.worker.registry import execute

    await issuer(db)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
    with freeze_time("2026-12-10 01:00:00", real_asyncio=True):
        outcome = await execute(db, "billing.run", "cli_typo", {"as_of": "2027-06-04"})
    finalized = [
        (f"{v.invoice.service_month:%Y-%m}", v.invoice.number, v.invoice.issue_date)
        for v in await invoices_of(db, tenant_a.id)
        if v.invoice.status == "finalized"
    ]
    assert outcome == "failed" or finalized == [], (outcome, finalized)


# -- KPIs ----------------------------------------------------------------------------------------------------


async def test_kpi_a_cancellation_effective_on_the_1st_is_churn_of_the_month_it_takes_effect(db, tenant_a):
    """The default cancellation ends a subscription on the 1st of next month (its last day of service is the 30th).
    Review finding: the docs said such a subscription was not in November's stock_end while the replay counted it
    there. Decision (billing/kpis.py, docs/billing.md): every change counts in the month of its effective date
    (ChartMogul's convention, the only one under which a plan change on the 1st nets to one movement): the leaver
    is in November's stock_end and is December's churn, and the identity holds in both months."""
    made, _ = await plan(db)
    with freeze_time("2026-10-01 00:00:00", real_asyncio=True):
        sub = await subscribe(db, tenant_a.id, made.id, OCT)
    with freeze_time("2026-11-10 00:00:00", real_asyncio=True):
        async with db.transaction() as s:
            ended = await service.cancel(s, PLATFORM, sub.id)  # default: the 1st of next month
    assert ended.end_date == DEC
    async with db.transaction() as s:
        nov, dec = await kpi_service.compute(s, [NOV, DEC])
    assert (nov.stock_start, nov.churn, nov.stock_end, nov.customers_end) == (4_000, 0, 4_000, 1), nov
    assert (dec.stock_start, dec.churn, dec.stock_end, dec.customers_end) == (4_000, 4_000, 0, 0), dec
    assert dec.gross_churn_rate == 1


# -- exports -------------------------------------------------------------------------------------------------


async def test_ar_aging_as_of_a_past_date_counts_only_payments_made_by_then(db, tenant_a):
    """AR aging as of a day counts only the payments and credit notes made by then: an invoice due 2026-12-31 and paid
    on 2027-01-20 is 10 days overdue in the aging as of 2027-01-10."""
    await issuer(db)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        await run(db, dt.date(2026, 12, 4))
    nov = await invoice_of(db, tenant_a.id, NOV)
    assert (nov.invoice.total, nov.invoice.due_date) == (4_400, dt.date(2026, 12, 31))
    async with db.transaction() as s:
        await service.record_payment(s, PLATFORM, nov.invoice.id, amount=4_400, paid_on=dt.date(2027, 1, 20))
    as_of = dt.date(2027, 1, 10)
    async with db.transaction() as s:
        rows = [r async for r in exports.rows_of(exports.AR_AGING, s, PLATFORM, as_of, as_of, None)]
    # operator, name, invoices, outstanding, not due, 1–30, 31–60, 61–90, 91+
    assert rows == [(tenant_a.id, "Alpha BNPL", 1, 4_400, 0, 4_400, 0, 0, 0)], rows


# -- bad input: 500s instead of 4xx --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/platform/v1/kpis?month=0000-01", None),  # passes the YYYY-MM pattern; date(0, 1, 1) raises
        ("GET", "/platform/v1/kpis?month=0001-01", None),  # 00:00 JST on 0001-01-01 is before datetime.min UTC
        ("GET", "/platform/v1/kpis?month=9999-12", None),  # next_month(9999-12-01) overflows
        ("GET", "/platform/v1/kpis/chart?month=0001-06", None),  # months_ending walks before year 1
        ("GET", "/platform/v1/usage-events/summary?month=9999-12", None),
        ("GET", "/platform/v1/invoices?month=0000-01", None),
        ("POST", "/platform/v1/billing-runs", {"as_of": "0001-01-01"}),  # the month before as_of: year 0
        ("GET", "/platform/v1/exports/billing?report=usage&from=9999-12-31&to=9999-12-31", None),
        ("GET", "/platform/v1/exports/billing?report=kpis&from=9999-12-01&to=9999-12-31", None),
    ],
)
async def test_odd_dates_are_4xx_not_500(client, db, platform_key, method, path, body):
    await issuer(db)
    if method == "GET":
        r = await client.get(path, headers=bearer(platform_key))
    else:
        r = await client.post(path, headers=bearer(platform_key), json=body)
    assert r.status_code < 500, (r.status_code, r.text)


async def test_invoice_register_shows_every_tax_rate_the_invoice_has(db, tenant_a):
    """The registers have 10 %, 8 % and 0 % columns, so the per-rate bases always add up to the subtotal the row shows
    (適格請求書: 税率ごとに区分した合計)."""
    await issuer(db)
    base, _ = await plan(db)
    exempt, _ = await plan(
        db, "exempt-option", kind="addon", spec=standard_spec(monthly_fee=1_000, tax_rate=0, charges=[])
    )
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, base.id, NOV)
        await subscribe(db, tenant_a.id, exempt.id, NOV)
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        await run(db, dt.date(2026, 12, 4))
    view = await invoice_of(db, tenant_a.id, NOV)
    assert [(t.tax_rate, t.taxable_base, t.tax) for t in view.taxes] == [(0, 1_000, 0), (10, 4_000, 400)]
    async with db.transaction() as s:
        await service.issue_credit_note(
            s, PLATFORM, view.invoice.id, reason="x", lines=[service.CreditLine("x", 500, 0)], issue_date=DEC
        )
    day = dt.date(2026, 12, 4)
    async with db.transaction() as s:
        [inv] = [r async for r in exports.rows_of(exports.INVOICES, s, PLATFORM, day, day, None)]
        [note] = [r async for r in exports.rows_of(exports.CREDIT_NOTES, s, PLATFORM, DEC, DEC, None)]
    keys = [c.key for c in exports.INVOICES.columns]
    row = dict(zip(keys, inv, strict=True))
    per_rate = sum(v for k, v in row.items() if k.startswith("base_"))
    assert per_rate == row["subtotal"], f"per-rate bases {per_rate} ≠ subtotal {row['subtotal']}: {row}"
    note_row = dict(zip([c.key for c in exports.CREDIT_NOTES.columns], note, strict=True))
    assert sum(v for k, v in note_row.items() if k.startswith("base_")) == note_row["subtotal"], note_row


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/platform/v1/usage-events", "usage"),
        ("/platform/v1/subscriptions", "subscription"),
        ("/platform/v1/invoices/{invoice}/credit-notes", "credit_note"),
        ("/platform/v1/invoices/{invoice}/payments", "payment"),
        ("/platform/v1/plans", "plan"),
    ],
)
async def test_a_nul_character_in_text_is_a_422_not_a_500(client, db, platform_key, tenant_a, path, body):
    """PostgreSQL text cannot hold U+0000: ids, reasons, descriptions, references and names refuse control characters,
    so a NUL is a 422 naming the field, never a psycopg DataError surfacing as a 500."""
    await issuer(db)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        await run(db, dt.date(2026, 12, 4))
    invoice = (await invoice_of(db, tenant_a.id, NOV)).invoice.id
    bodies = {
        "usage": {
            "operator_id": f"{tenant_a.id}\u0000",
            "metric": "omotion_check",
            "key": "k-1",
            "occurred_at": "2026-12-05T10:00:00+09:00",
        },
        "subscription": {"operator_id": "opr_\u0000", "plan_id": made.id},
        "credit_note": {"reason": "障害\u0000", "lines": [{"description": "値引き", "amount": 100, "tax_rate": 10}]},
        "payment": {"amount": 100, "paid_on": "2026-12-20", "reference": "振込\u0000"},
        "plan": {"code": "nul-plan", "name": "名前\u0000", "monthly_fee": 1_000},
    }
    with freeze_time("2026-12-05 03:00:00", real_asyncio=True):
        r = await client.post(path.format(invoice=invoice), headers=bearer(platform_key), json=bodies[body])
    assert r.status_code < 500, (r.status_code, r.text)


# -- races on PostgreSQL -------------------------------------------------------------------------------------


@pytest.mark.postgres_only
async def test_racing_first_issuer_puts_are_all_answered(committed_db):
    """Two first PUTs of the issuer at once (the row does not exist yet, so `FOR UPDATE` locks nothing): an advisory
    lock makes one insert and the other update; both are answered. Here the interleaving is made deterministic."""
    fields = {"legal_name": "株式会社BNPL", "registration_number": "T7123456789012", "address": "東京都港区赤坂4-3-2"}

    async def second() -> None:
        async with committed_db.transaction() as b:
            await service.put_issuer(b, PLATFORM, **fields)

    async with committed_db.transaction() as a:
        await service.put_issuer(a, PLATFORM, **fields)  # INSERTed, not committed yet
        later = asyncio.create_task(second())
        await asyncio.sleep(1)  # B found no row to lock and now waits on A's INSERT
    await later  # A committed: B's INSERT is a unique violation


# -- qualified documents -------------------------------------------------------------------------------------


async def test_a_credit_note_names_the_original_invoice_and_its_month(client, db, platform_key, tenant_a):
    """適格返還請求書 ② needs the date of the original sale: a credit note keeps and returns the original invoice's
    number, its service month and its issue date (platform and operator GETs)."""
    await issuer(db)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        await run(db, dt.date(2026, 12, 4))
    inv = (await invoice_of(db, tenant_a.id, NOV)).invoice
    body = {"reason": "障害", "lines": [{"description": "値引き", "amount": 1_000, "tax_rate": 10}]}
    r = await client.post(f"/platform/v1/invoices/{inv.id}/credit-notes", headers=bearer(platform_key), json=body)
    assert r.status_code == 201, r.text
    for url, key in (
        (f"/platform/v1/credit-notes/{r.json()['id']}", platform_key),
        (f"/admin/v1/billing/credit-notes/{r.json()['id']}", tenant_a.finance_key),
    ):
        note = (await client.get(url, headers=bearer(key))).json()
        values = set(map(str, note.values()))
        assert inv.number in values and "2026-11" in values, (url, sorted(note))


async def test_kpi_export_for_one_operator_is_not_every_operators(client, db, platform_key, tenant_a, tenant_b):
    """The KPIs are the platform's: `report=kpis&operator_id=…` is a 422 naming operator_id, never a file named after
    one operator holding everyone's figures."""
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_b.id, made.id, NOV)
    r = await client.get(
        "/platform/v1/exports/billing",
        headers=bearer(platform_key),
        params={
            "report": "kpis",
            "from": "2026-11-01",
            "to": "2026-11-30",
            "operator_id": tenant_a.id,
            "header": "key",
        },
    )
    if r.status_code >= 400:  # refusing the filter for a platform-wide report is a fine fix too
        assert r.status_code == 422, r.text
        return
    assert tenant_a.id in r.headers["content-disposition"]  # kpis-opr_…-2026-11-01-2026-11-30.csv
    text = r.content.decode("utf-8-sig")
    assert "4000" not in text, text  # Beta's stock, in a file labelled as Alpha's


# -- OpenAPI -------------------------------------------------------------------------------------------------


async def test_the_existing_public_schema_names_are_kept(client):
    """Billing's schemas are `Platform…`-named so that existing components keep their names (`InvoiceOut` of the
    merchant API, `PaymentOut` of the admin API): generated clients see no renamed types."""
    components = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    assert {"InvoiceOut", "PaymentOut"} <= set(components), sorted(
        k for k in components if "InvoiceOut" in k or "PaymentOut" in k
    )
