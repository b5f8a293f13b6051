"""``bnpl demo``: a demo operator, merchant and keys, created once."""

from __future__ import annotations

import anyio
import click

from app.cli._common import load_settings, open_db, secho_secret
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service
from domain.tenancy.repository import OperatorRepository
from domain.tenancy.service import CLI_ACTOR

DEMO_OPERATOR = "Demo BNPL"
DEMO_MERCHANT = "Demo Shop"


@click.command(help="Create the demo operator, merchant and keys if they do not exist, printing the keys once.")
def demo() -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            if await OperatorRepository.from_session(session).find_by_name(DEMO_OPERATOR) is not None:
                click.echo(f"Demo operator '{DEMO_OPERATOR}' exists; its keys were printed when it was created.")
                click.echo("Issue more with: bnpl keys create --role … --operator opr_…")
                return
            operator = await service.create_operator(session, name=DEMO_OPERATOR)
            admin = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_ADMIN, tenant_id=operator.id)
            merchant = await service.create_merchant(session, admin, name=DEMO_MERCHANT)
            pepper = settings.secret_key
            issued = [
                (
                    "platform key:",
                    await service.issue_key(
                        session, issuer=CLI_ACTOR, role=Role.PLATFORM, name="demo platform", pepper=pepper
                    ),
                ),
                (
                    "operator admin key:",
                    await service.issue_key(
                        session,
                        issuer=CLI_ACTOR,
                        role=Role.OPERATOR_ADMIN,
                        name="demo admin",
                        pepper=pepper,
                        tenant_id=operator.id,
                    ),
                ),
                (
                    "operator finance key:",
                    await service.issue_key(
                        session,
                        issuer=CLI_ACTOR,
                        role=Role.OPERATOR_FINANCE,
                        name="demo finance",
                        pepper=pepper,
                        tenant_id=operator.id,
                    ),
                ),
                (
                    "merchant key:",
                    await service.issue_key(
                        session,
                        issuer=CLI_ACTOR,
                        role=Role.MERCHANT,
                        name="demo checkout",
                        pepper=pepper,
                        tenant_id=operator.id,
                        merchant_id=merchant.id,
                    ),
                ),
            ]
        click.echo(f"Demo operator {operator.id} ({DEMO_OPERATOR}) and merchant {merchant.id} ({DEMO_MERCHANT}).")
        click.echo("Keys (shown once, store them now):")
        for label, key in issued:
            secho_secret(label, key.secret)
        click.echo("Try: curl -H 'Authorization: Bearer <merchant key>' http://127.0.0.1:8000/v1/merchant")

    anyio.run(main)
