"""Helpers shared by commands: settings, a database for the command's lifetime, output."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import click
from pydantic import ValidationError

from app.db import create_engine, create_sessionmaker
from app.logging import configure_logging
from app.settings import Settings, get_settings
from app.uow import Database


def load_settings() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.ClickException(f"invalid settings: {messages}") from exc
    configure_logging(json=settings.json_logs, level=settings.log_level)
    return settings


@contextlib.asynccontextmanager
async def open_db(settings: Settings) -> AsyncIterator[Database]:
    engine = create_engine(settings)
    try:
        yield Database(create_sessionmaker(engine), engine)
    finally:
        await engine.dispose()


def secho_secret(label: str, secret: str) -> None:
    click.echo(f"  {label:<22} " + click.style(secret, fg="yellow", bold=True))
