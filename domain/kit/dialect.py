"""The one place that knows PostgreSQL from SQLite.

PostgreSQL is production and the test database. SQLite is the embedded default for trying the product: it has
no row locks (a write transaction locks the whole file, which we take at BEGIN with ``BEGIN IMMEDIATE``), so
``FOR UPDATE`` / ``SKIP LOCKED`` / advisory locks degrade to the file lock. Correctness under concurrency is
proven on PostgreSQL only.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Select, Table, TextClause, bindparam, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_ignore(session: AsyncSession, table: Any, **values: Any) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's dialect (call ``.returning(...)`` on it)."""
    return insert_ignore_into(session, table).values(**values)


def insert_ignore_into(session: AsyncSession, table: Any) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` without values: for many rows (executemany, ``.values([...])``) or
    ``.from_select``. Its rowcount is kept (SQLAlchemy drops an INSERT's rowcount unless asked)."""
    ins = pg_insert(table) if is_postgres(session) else sqlite_insert(table)
    return ins.on_conflict_do_nothing().execution_options(preserve_rowcount=True)


def json_object(session: AsyncSession, *pairs: Any) -> Any:
    """A JSON object built in SQL from alternating keys and values (``jsonb_build_object`` / ``json_object``)."""
    return func.jsonb_build_object(*pairs) if is_postgres(session) else func.json_object(*pairs)


@lru_cache(maxsize=256)
def _insert_ignore_statement(table: Table, columns: tuple[str, ...], returning: str | None) -> TextClause:
    """``INSERT … ON CONFLICT DO NOTHING [RETURNING]`` as text with typed binds (JSON and UTC datetime columns
    convert as they do through the ORM). The same text serves PostgreSQL and SQLite (≥ 3.35). SQLAlchemy cannot
    cache the compiled form of a dialect ``insert(...).on_conflict_do_nothing()``, so building it per call costs
    more than the round trip; this is built once per (table, columns, returning)."""
    names = ", ".join(columns)
    binds = ", ".join(f":{c}" for c in columns)
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({binds}) ON CONFLICT DO NOTHING"  # noqa: S608 - names only
    if returning:
        sql += f" RETURNING {returning}"
    stmt = text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    if returning:
        return stmt.columns(table.c[returning])  # type: ignore[return-value]
    return stmt


def _python_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus the Python-side defaults of the columns it leaves out (as an ORM insert would apply)."""
    missing = [c for c in table.columns if c.key not in values and c.default is not None]
    if not missing:
        return values
    out = dict(values)
    for column in missing:
        default: Any = column.default
        if default.is_scalar:
            out[column.key] = default.arg
        elif default.is_callable:
            out[column.key] = default.arg(None)
    return out


async def insert_ignore_returning(session: AsyncSession, model: Any, returning: str, **values: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING <returning>``: the value if a row was inserted, else ``None``.

    The statement is built once per (table, columns) and the values travel as parameters: on hot paths (usage
    events, inbox claims, outbox rows, idempotency claims, orders) building a new statement per call costs more
    than the round trip. Columns left out get their Python-side defaults, as through the ORM.
    """
    table: Table = model.__table__
    values = _python_defaults(table, values)
    stmt = _insert_ignore_statement(table, tuple(values), returning)
    return (await session.execute(stmt, values)).scalar_one_or_none()


def for_update(session: AsyncSession, stmt: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
    """``SELECT … FOR UPDATE [SKIP LOCKED]`` on PostgreSQL; SQLite's immediate write lock already serialises."""
    if is_postgres(session):
        return stmt.with_for_update(skip_locked=skip_locked)
    return stmt


async def advisory_xact_lock(session: AsyncSession, namespace: str, key: str) -> None:
    """Serialise on ``namespace:key`` until the transaction ends, for rows that may not exist yet."""
    if not is_postgres(session):
        return
    digest = hashlib.blake2b(f"{namespace}:{key}".encode(), digest_size=8).digest()
    lock_id = int.from_bytes(digest, "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})
