"""Alembic environment: runs on a connection handed over by storage.migrate (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic's CLI is pointed here
    raise RuntimeError("run migrations through storage.migrate (storyloom migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
