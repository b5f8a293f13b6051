"""Async Alembic environment for PostgreSQL and SQLite (batch mode on SQLite)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Connection

import domain.models  # noqa: F401 - every model on the metadata
from alembic import context
from app.db import create_engine
from app.settings import get_settings
from domain.kit.db import UTCDateTime, metadata

config = context.config
target_metadata = metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our column types as plain SQLAlchemy types, so migrations never import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection | None = None, **kw: Any) -> None:
    settings = get_settings()
    context.configure(
        connection=connection,
        url=None if connection is not None else settings.database_url,
        target_metadata=target_metadata,
        render_as_batch=settings.is_sqlite,
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        transaction_per_migration=True,
        **kw,
    )


def run_migrations_offline() -> None:
    _configure(literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # handed in by tests or the CLI
        await connection.run_sync(_run_sync)
        return
    engine = create_engine(get_settings())
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run_sync)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
