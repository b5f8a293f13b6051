"""Bulk writes for set-based paths: COPY on PostgreSQL, multi-row INSERT elsewhere, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kit.dialect import is_postgres

_BLOCK = 5_000
_OUT_CHUNK = 64 * 1024
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    """One field in COPY's text format (``\\N`` for NULL; tabs, newlines and backslashes escaped)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.date):  # dates and aware datetimes
        return value.isoformat()
    return str(value)


async def copy_into(session: AsyncSession, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL only: COPY ``rows`` into ``table`` (a model's table name or a temp table), in blocks; ``rows``
    may be a generator, so a caller can stream a large input without holding all its rows."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    names = ", ".join(columns)
    iterator = iter(rows)
    async with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        while block := list(islice(iterator, _BLOCK)):
            await copy.write("".join("\t".join(map(copy_text, row)) + "\n" for row in block).encode())


async def insert_rows(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order): COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if is_postgres(session):
        await copy_into(session, table.name, columns, rows)
        return
    for start in range(0, len(rows), _BLOCK):
        await session.execute(
            table.insert(), [dict(zip(columns, row, strict=True)) for row in rows[start : start + _BLOCK]]
        )


async def copy_out_csv(session: AsyncSession, query: str, params: Sequence[Any]) -> AsyncIterator[bytes]:
    """PostgreSQL only: ``COPY (query) TO STDOUT`` as CSV (RFC 4180 quoting, ``\n`` line ends), in the caller's
    transaction, chunk by chunk as the server sends them. ``query`` is built from constants; ``params`` are bound
    (psycopg composes them client-side, as COPY takes no server parameters)."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    buffer = bytearray()
    async with raw.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        async for data in copy:  # one message per row: gathered into 64 KiB chunks, not sent row by row
            buffer += data
            if len(buffer) >= _OUT_CHUNK:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)
