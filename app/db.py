"""Engines and sessions for PostgreSQL (psycopg 3) and SQLite (aiosqlite)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})
        _sqlite_immediate_transactions(engine)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        # No pre-ping: it costs a round trip per checkout. A connection that died (server restart) fails its
        # request with a 503, is invalidated by the pool, and the client's retry gets a fresh one.
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={
            "options": f"-c statement_timeout={settings.database_statement_timeout_ms}"
            " -c idle_in_transaction_session_timeout=60000",
            "connect_timeout": 5,
        },
    )


def _sqlite_immediate_transactions(engine: AsyncEngine) -> None:
    """Take SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``), not at the first write.

    A deferred transaction that reads and then writes can fail with SQLITE_BUSY when another writer got there
    first; an immediate one waits for the lock (``timeout``) instead. WAL lets readers run beside the writer.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(bind: Any, **kw: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=bind, expire_on_commit=False, **kw)
