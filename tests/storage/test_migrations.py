from __future__ import annotations

from sqlalchemy import inspect

from storage.engine import Database
from storage.migrate import current_revision, head_revision, schema_drift, upgrade
from storage.models import Base
from storage.settings import StorageSettings


async def test_empty_database_upgrades_to_head_without_drift(
    storage_settings: StorageSettings,
) -> None:
    assert await current_revision(storage_settings) is None
    assert await upgrade(storage_settings) == head_revision()
    assert await current_revision(storage_settings) == head_revision()
    assert await schema_drift(storage_settings) == []

    db = Database(storage_settings)
    try:
        async with db.read() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await db.dispose()
    assert set(Base.metadata.tables) <= tables


async def test_upgrade_is_idempotent(storage_settings: StorageSettings) -> None:
    await upgrade(storage_settings)
    assert await upgrade(storage_settings) == head_revision()
    assert await schema_drift(storage_settings) == []


def test_plain_path_means_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = StorageSettings(url=str(tmp_path / "x.db"))
    assert settings.url.startswith("sqlite+aiosqlite:///")
    assert settings.is_sqlite
