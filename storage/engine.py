"""Engines and transactions: SQLite pragmas, BEGIN IMMEDIATE for writers, error wrapping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.errors import StorageError
from storage.settings import StorageSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


def _sqlite_engine(settings: StorageSettings, *, begin: str, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        settings.url,
        echo=settings.echo,
        pool_size=pool_size,
        max_overflow=0 if begin == "BEGIN IMMEDIATE" else settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        connect_args={"timeout": settings.busy_timeout_ms / 1000},
    )
    _configure_sqlite(engine.sync_engine, settings, begin)
    return engine


def _sqlite_thread_engine(settings: StorageSettings) -> Engine:
    """A synchronous (pysqlite) engine used from one dedicated writer thread."""
    url = make_url(settings.url).set(drivername="sqlite+pysqlite")
    engine = create_engine(
        url,
        echo=settings.echo,
        pool_size=1,
        max_overflow=0,
        connect_args={"timeout": settings.busy_timeout_ms / 1000, "check_same_thread": False},
    )
    _configure_sqlite(engine, settings, "BEGIN IMMEDIATE")
    return engine


def _configure_sqlite(engine: Engine, settings: StorageSettings, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is
        # deferred, which turns lock upgrades into immediate SQLITE_BUSY errors).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def _postgres_engine(settings: StorageSettings) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    if settings.pg_schema:
        connect_args["server_settings"] = {"search_path": settings.pg_schema}
    return create_async_engine(
        settings.url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


class Database:
    """The engines behind the store and the transactions repositories run in.

    On SQLite, writes go through a one-connection engine that opens transactions with
    ``BEGIN IMMEDIATE`` (writers queue in-process instead of failing on lock upgrades) and
    reads through a pooled engine with deferred transactions (WAL lets them run alongside).
    On PostgreSQL both are one pooled engine.

    ``run_batch`` runs a whole write transaction as one synchronous function: on SQLite on a
    dedicated thread with its own connection (one thread hop per transaction instead of one
    per statement; the group-commit writer uses it), on PostgreSQL through ``run_sync``.
    """

    def __init__(
        self, settings: StorageSettings, *, observer: Callable[[str, float], None] | None = None
    ) -> None:
        self.settings = settings
        self.dialect = make_url(settings.url).get_dialect().name
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(settings, begin="BEGIN", pool_size=settings.pool_size)
            self.write_engine = _sqlite_engine(settings, begin="BEGIN IMMEDIATE", pool_size=1)
        else:
            self.read_engine = self.write_engine = _postgres_engine(settings)
        self._thread_engine: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.observer = observer
        """Told ``(operation, seconds)`` after each ``read``, ``write`` and ``batch`` (metrics)."""

    def _observe(self, operation: str, started: float) -> None:
        if self.observer is not None:
            self.observer(operation, time.perf_counter() - started)

    async def ping(self) -> None:
        """One ``SELECT 1`` (health checks); raises StorageError when the database is out of reach."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a (read) transaction."""
        started = time.perf_counter()
        try:
            async with self.read_engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database read failed: {type(exc).__name__}") from exc
        finally:
            self._observe("read", started)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed when the block exits cleanly."""
        started = time.perf_counter()
        try:
            async with self.write_engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database write failed: {type(exc).__name__}") from exc
        finally:
            self._observe("write", started)

    async def run_batch(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(connection)`` inside one write transaction, committed when it returns."""
        started = time.perf_counter()
        try:
            return await self._run_batch(fn)
        finally:
            self._observe("batch", started)

    async def _run_batch(self, fn: Callable[[Connection], T]) -> T:
        if not self.is_sqlite:
            try:
                async with self.write_engine.begin() as conn:  # not write(): counted as a batch
                    return await conn.run_sync(fn)
            except SQLAlchemyError as exc:
                raise StorageError(f"database write failed: {type(exc).__name__}") from exc
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="storyloom-sqlite-writer")
            self._thread_engine = _sqlite_thread_engine(self.settings)
        engine = self._thread_engine
        assert engine is not None

        def transaction() -> T:
            with engine.begin() as conn:
                return fn(conn)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, transaction)
        except SQLAlchemyError as exc:
            raise StorageError(f"database write failed: {type(exc).__name__}") from exc

    async def dispose(self) -> None:
        if self._thread is not None:
            engine, thread = self._thread_engine, self._thread
            assert engine is not None
            await asyncio.get_running_loop().run_in_executor(thread, engine.dispose)
            thread.shutdown(wait=True)
            self._thread = self._thread_engine = None
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
