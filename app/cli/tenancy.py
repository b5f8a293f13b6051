"""``bnpl operators|merchants|keys``: tenants and keys from the platform's shell."""

from __future__ import annotations

import anyio
import click

from app.cli._common import load_settings, open_db, secho_secret
from domain.kit.pagination import PageRequest
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service
from domain.tenancy.service import CLI_ACTOR

ROLE_CHOICE = click.Choice([r.value for r in Role])


@click.group(help="Operators (tenants).")
def operators() -> None:
    pass


@operators.command("create", help="Create an operator and print its first admin key (shown once).")
@click.option("--name", required=True, help="The operator's trading name.")
def create_operator(name: str) -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            operator = await service.create_operator(session, name=name)
            issued = await service.issue_key(
                session,
                issuer=CLI_ACTOR,
                role=Role.OPERATOR_ADMIN,
                name="initial admin key",
                pepper=settings.secret_key,
                tenant_id=operator.id,
            )
        click.echo(f"Operator {operator.id} ({operator.name}) created.")
        secho_secret("operator admin key:", issued.secret)
        click.echo("Store the key now: it is not shown again.")

    anyio.run(main)


@operators.command("list", help="List operators, newest first.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100))
def list_operators(limit: int) -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            page = await service.list_operators(session, PageRequest(limit=limit))
        for op in page.items:
            click.echo(f"{op.id}  {op.status:<9}  {op.name}")

    anyio.run(main)


@click.group(help="Merchants of an operator.")
def merchants() -> None:
    pass


@merchants.command("create", help="Create a merchant for an operator.")
@click.option("--operator", "operator_id", required=True, help="The operator id (opr_…).")
@click.option("--name", required=True, help="The shop's name.")
def create_merchant(operator_id: str, name: str) -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            await service.get_operator(session, operator_id)
            principal = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_ADMIN, tenant_id=operator_id)
            merchant = await service.create_merchant(session, principal, name=name)
        click.echo(f"Merchant {merchant.id} ({merchant.name}) created for {operator_id}.")

    anyio.run(main)


@click.group(help="API keys.")
def keys() -> None:
    pass


@keys.command("create", help="Issue an API key and print it (shown once).")
@click.option(
    "--role",
    required=True,
    type=ROLE_CHOICE,
    help="platform, platform_finance (read-only billing and exports), operator_admin, operator_finance, merchant.",
)
@click.option("--operator", "operator_id", default=None, help="Operator id (all roles but platform).")
@click.option("--merchant", "merchant_id", default=None, help="Merchant id (merchant keys).")
@click.option("--name", default="cli", show_default=True, help="A label for the key.")
def create_key(role: str, operator_id: str | None, merchant_id: str | None, name: str) -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            issued = await service.issue_key(
                session,
                issuer=CLI_ACTOR,
                role=Role(role),
                name=name,
                pepper=settings.secret_key,
                tenant_id=operator_id,
                merchant_id=merchant_id,
            )
        click.echo(f"Key {issued.key.id} ({role}) issued.")
        secho_secret(f"{role} key:", issued.secret)

    anyio.run(main)


@keys.command("revoke", help="Revoke a key by its id (key_…). Takes effect immediately.")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            platform = Principal(api_key_id=CLI_ACTOR, role=Role.PLATFORM)
            key = await service.revoke_key(session, platform, key_id)
        click.echo(f"Key {key.id} revoked.")

    anyio.run(main)
