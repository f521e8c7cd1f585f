"""Storage settings (composed into the application's Settings by the lead)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

DEFAULT_DB_FILENAME = "storyloom.db"


def sqlite_url_for(path: str | Path) -> str:
    """The aiosqlite URL for a database file path."""
    return f"sqlite+aiosqlite:///{Path(path).expanduser().resolve()}"


class StorageSettings(BaseModel):
    """Database connection and behaviour.

    ``url`` is a SQLAlchemy URL (``sqlite+aiosqlite:///path/storyloom.db`` or
    ``postgresql+asyncpg://user@host/db``) or a plain file path, which means SQLite.

    Durability: SQLite runs in WAL mode with ``synchronous=NORMAL`` by default. A commit is
    in the WAL file (handed to the OS) before ``add`` returns, so a crash, kill or restart of
    the bot loses no accepted turn and the database is never corrupted; only an OS crash or
    power cut may roll back the last few commits. ``FULL`` adds an fsync per commit (about 5 ms
    on a cloud disk), which survives power loss too; group commit shares that fsync among all
    turns written at once, so FULL stays usable (see ``python -m bench context``).
    """

    url: str = Field(default_factory=lambda: sqlite_url_for(Path("var") / DEFAULT_DB_FILENAME))
    echo: bool = False
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout_s: float = Field(default=30.0, gt=0)
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    """SQLite: how long a writer waits for the database lock before failing."""
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    pg_schema: str | None = None
    """PostgreSQL: put every table in this schema (``search_path``); None uses the default."""
    group_commit_max_batch: int = Field(default=512, ge=1)
    """Most turns written in one transaction by the group-commit writer."""
    group_commit_linger_ms: float = Field(default=0.0, ge=0)
    """Wait this long after the first queued turn to gather more (0: batch what is queued)."""
    recent_messages_cap: int = Field(default=50, ge=1)
    """How many recent messages are kept per channel."""
    settings_cache_ttl_s: float = Field(default=5.0, ge=0)
    """How long scoped settings are cached in-process (other processes' changes show after this)."""
    store_moderation_excerpts: bool = False
    """Keep the text that triggered a moderation event (off: only its hash and length)."""
    apply_migrations: bool = True
    """Upgrade the schema to head when the store opens."""

    @field_validator("url")
    @classmethod
    def _path_means_sqlite(cls, value: str) -> str:
        if "://" in value:
            return value
        return sqlite_url_for(value)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")
