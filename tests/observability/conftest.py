"""Fixtures for the observability tests (``free_port`` is shared, in tests/conftest.py)."""
