"""Schema migrations, run programmatically (``storyloom migrate``; also on every start)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.models import Base
from storage.settings import StorageSettings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at storage/migrations, without any alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _diffs(connection: Connection) -> list[Any]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def upgrade_database(db: Database, revision: str = "head") -> str | None:
    """Upgrade the schema of an open database to ``revision``; returns the new revision."""
    async with db.write() as conn:
        before = await conn.run_sync(_current)
        await conn.run_sync(_upgrade, revision)
        after = await conn.run_sync(_current)
    if before != after:
        log.info("database migrated from %s to %s", before, after)
    return after


async def upgrade(settings: StorageSettings | str, revision: str = "head") -> str | None:
    """Upgrade the database at ``settings`` (or a URL/path) to ``revision``."""
    if isinstance(settings, str):
        settings = StorageSettings(url=settings)
    db = Database(settings)
    try:
        return await upgrade_database(db, revision)
    finally:
        await db.dispose()


async def current_revision(settings: StorageSettings) -> str | None:
    db = Database(settings)
    try:
        async with db.read() as conn:
            return await conn.run_sync(_current)
    finally:
        await db.dispose()


async def schema_drift(settings: StorageSettings) -> list[Any]:
    """Differences between the models and the database schema (empty when they match)."""
    db = Database(settings)
    try:
        async with db.read() as conn:
            return await conn.run_sync(_diffs)
    finally:
        await db.dispose()


def run_migrate(settings: StorageSettings, revision: str = "head") -> str | None:
    """Synchronous entry point for ``storyloom migrate``; returns the revision reached."""
    import asyncio

    return asyncio.run(upgrade(settings, revision))
