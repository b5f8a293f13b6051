"""``bnpl db``: migrations."""

from __future__ import annotations

from pathlib import Path

import click
from alembic.config import Config

from alembic import command
from app.cli._common import load_settings

ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


@click.group(help="Database migrations (Alembic). The database is BNPL_DATABASE_URL.")
def db() -> None:
    pass


@db.command(help="Migrate to REVISION (default: the latest).")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    settings = load_settings()
    command.upgrade(alembic_config(), revision)
    click.echo(f"Database at {revision} ({'SQLite' if settings.is_sqlite else 'PostgreSQL'})")


@db.command(help="Migrate down to REVISION (e.g. -1 for one step, base for nothing).")
@click.argument("revision")
def downgrade(revision: str) -> None:
    load_settings()
    command.downgrade(alembic_config(), revision)
    click.echo(f"Database at {revision}")


@db.command(help="Show the current revision.")
def current() -> None:
    load_settings()
    command.current(alembic_config(), verbose=False)


@db.command(help="Fail if the models and the migrations disagree (autogenerate would create a migration).")
def check() -> None:
    load_settings()
    command.check(alembic_config())
    click.echo("Models and migrations agree.")


@db.command(help="Create a new migration from model changes (developers).")
@click.option("-m", "--message", required=True, help="What the migration does.")
def revision(message: str) -> None:
    load_settings()
    command.revision(alembic_config(), message=message, autogenerate=True)
