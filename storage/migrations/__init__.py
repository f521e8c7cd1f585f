"""Alembic migrations for storyloom (run through storage.migrate)."""
