from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.errors import StorageError
from storage.settings import StorageSettings
from storage.store import Store, open_store


@pytest.mark.parametrize(("synchronous", "level"), [("NORMAL", 1), ("FULL", 2)])
async def test_sqlite_pragmas(tmp_path: Path, synchronous: str, level: int) -> None:
    settings = StorageSettings.model_validate(
        {"url": str(tmp_path / "p.db"), "sqlite_synchronous": synchronous}
    )
    store = await open_store(settings)
    try:
        for engine in (store.db.read_engine, store.db.write_engine):
            async with engine.connect() as conn:
                assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
                assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 10_000
                assert (await conn.execute(text("PRAGMA synchronous"))).scalar_one() == level
    finally:
        await store.close()


async def test_foreign_keys_enforced_and_errors_wrapped(store: Store) -> None:
    with pytest.raises(StorageError):
        await store.lore.add(424242, ["x"], "orphan", created_by_id="1")
    assert await store.lore.all(424242) == []
