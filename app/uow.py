"""The unit of work: one transaction per use case, committed by the edge before it answers or acks.

Services never commit. After a commit that staged outbox messages, the relay is kicked so the work starts at
once instead of at the next sweep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.kit.outbox import KICK_FLAG


class Database:
    """The process's engine and session factory, plus the relay kick."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.engine = engine
        self.on_outbox_commit: Callable[[], None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """``async with db.transaction() as session:`` commits on exit, rolls back on error."""
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
            if session.info.pop(KICK_FLAG, False) and self.on_outbox_commit is not None:
                self.on_outbox_commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for a read that needs no transaction (one statement, or reads that tolerate no snapshot).

        On PostgreSQL the connection runs in autocommit: no BEGIN/COMMIT round trips, which halves the database
        work of an authenticated GET. Writes must use :meth:`transaction`. Elsewhere (SQLite, or a test's
        connection) this is simply a transaction.
        """
        if self.engine is None or self.engine.dialect.name != "postgresql":
            async with self.transaction() as session:
                yield session
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """A session whose statements each commit on their own (PostgreSQL), for work made of single atomic
        statements (the idempotency claim: an ``INSERT … ON CONFLICT``, a read, a compare-and-set): it saves the
        BEGIN and COMMIT round trips. Elsewhere it is a transaction."""
        async with self.read() as session:
            yield session

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
