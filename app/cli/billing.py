"""``bnpl billing``: the platform's billing of operators from the shell (the daily run is `bnpl jobs run billing`)."""

from __future__ import annotations

import datetime as dt

import anyio
import click

from app.cli._common import load_settings, open_db


@click.group(
    help="Platform billing: the catalog, the issuer, subscriptions, invoices and KPIs. The month's invoices are "
    "drafted and finalized by `bnpl jobs run billing --as-of DATE` (daily at 04:00 JST)."
)
def billing() -> None:
    pass


def _run(coro_fn) -> None:  # type: ignore[no-untyped-def]
    from domain.kit.errors import DomainError

    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db:
            try:
                await coro_fn(db)
            except DomainError as exc:
                raise click.ClickException(exc.detail) from None

    anyio.run(main)


@billing.command(
    "seed-catalog",
    help="Create the example plans that are missing: standard (¥4,000 incl. 1,000 "
    "screenings), premium (¥100,000 with chargeback guarantee) and the chargeback_guarantee add-on.",
)
def seed_catalog() -> None:
    from billing import service

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        async with db.transaction() as session:
            made = await service.seed_catalog(session)
        click.echo(f"{len(made)} plan(s) created: {', '.join(p.code for p in made) or 'none (all exist)'}")

    _run(go)


@billing.command(
    "issuer",
    help="Set the platform as invoice issuer: legal name, 適格請求書発行事業者 registration "
    "number (T + 13 digits, check digit verified) and address. Issued invoices keep the old details.",
)
@click.option("--legal-name", required=True, help="The company's legal name as printed on invoices.")
@click.option("--registration-number", required=True, help="T + 13 digits, e.g. T7123456789012.")
@click.option("--address", required=True, help="The registered address.")
@click.option("--bank-account", default="", help="Where operators pay, printed on invoices.")
@click.option(
    "--grace-days",
    type=click.IntRange(0, 28),
    default=3,
    show_default=True,
    help="Days after month end before invoices finalize (0-28).",
)
def issuer(legal_name: str, registration_number: str, address: str, bank_account: str, grace_days: int) -> None:
    from billing import service
    from domain.tenancy.service import CLI_ACTOR

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        async with db.transaction() as session:
            saved = await service.put_issuer(
                session,
                CLI_ACTOR,
                legal_name=legal_name,
                registration_number=registration_number,
                address=address,
                bank_account=bank_account,
                grace_days=grace_days,
            )
        click.echo(f"Issuer: {saved.legal_name} ({saved.registration_number}), grace {saved.grace_days} days")

    _run(go)


@billing.command("subscribe", help="Subscribe an operator to a plan (by code) from a day (default today, JST).")
@click.option("--operator", "operator_id", required=True, help="The operator (opr_…).")
@click.option("--plan", "plan_code", required=True, help="The plan's code, e.g. standard.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day of service, YYYY-MM-DD.")
def subscribe(operator_id: str, plan_code: str, start: dt.datetime | None) -> None:
    from billing import service
    from billing.errors import PlanNotFound
    from billing.repository import BillingRepository
    from domain.tenancy.service import CLI_ACTOR

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        async with db.transaction() as session:
            plan = await BillingRepository.from_session(session).plan_by_code(plan_code)
            if plan is None:
                raise PlanNotFound(f"no plan with code {plan_code!r} (bnpl billing seed-catalog makes the examples)")
            sub = await service.subscribe(
                session, CLI_ACTOR, tenant_id=operator_id, plan_id=plan.id, start_date=start.date() if start else None
            )
        click.echo(f"{sub.id}: {operator_id} on {plan_code} from {sub.start_date} (¥{sub.monthly_fee:,}/month)")

    _run(go)


@billing.command("invoices", help="List the invoices of a service month (YYYY-MM; default last month).")
@click.option("--month", type=click.DateTime(["%Y-%m"]), default=None, help="The service month, YYYY-MM.")
def invoices(month: dt.datetime | None) -> None:
    from billing import service
    from billing.pricing import previous_month
    from domain.kit import clock
    from domain.kit.pagination import PageRequest
    from domain.kit.tenancy import Principal, Role
    from domain.tenancy.service import CLI_ACTOR

    day = month.date() if month else previous_month(clock.jst_today().replace(day=1))
    platform = Principal(api_key_id=CLI_ACTOR, role=Role.PLATFORM)

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        cursor = None
        async with db.read() as session:
            while True:
                page, views = await service.list_invoices(
                    session, platform, PageRequest(limit=100, starting_after=cursor), service_month=day
                )
                for v in views:
                    inv = v.invoice
                    click.echo(
                        f"{inv.number or '(draft)':<14} {inv.tenant_id} {inv.customer.get('name', ''):<24} "
                        f"¥{inv.total:>12,}  {v.payment_status}"
                    )
                if not page.has_more:
                    break
                cursor = page.items[-1].id

    _run(go)


@billing.command("kpis", help="Stock revenue, its movements, churn and screenings of the last N months.")
@click.option("--month", type=click.DateTime(["%Y-%m"]), default=None, help="The last month, YYYY-MM (default now).")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True, help="How many months.")
def kpis(month: dt.datetime | None, months: int) -> None:
    from billing import kpis as kpi_service
    from domain.kit import clock

    last = month.date() if month else clock.jst_today().replace(day=1)

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        async with db.read() as session:
            rows = await kpi_service.compute(session, kpi_service.months_ending(last, months))
        click.echo(
            f"{'month':<8} {'stock start':>12} {'new':>10} {'expansion':>10} {'contraction':>12} "
            f"{'churn':>10} {'stock end':>12} {'screenings':>11} {'gross':>7} {'net':>7}"
        )
        for k in rows:
            click.echo(
                f"{k.month:%Y-%m}  {k.stock_start:>12,} {k.new:>10,} {k.expansion:>10,} {k.contraction:>12,} "
                f"{k.churn:>10,} {k.stock_end:>12,} {k.screenings:>11,} {k.gross_churn_rate or '-':>7} "
                f"{k.net_churn_rate or '-':>7}"
            )

    _run(go)
