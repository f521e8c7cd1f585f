"""``[metrics]``: where the bot process serves ``/metrics`` and ``/healthz``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MetricsSettings(BaseModel):
    """The bot process's Prometheus ``/metrics`` and ``/healthz`` endpoint."""

    enabled: bool | None = None
    """``true``/``false``: always/never. Unset: served by ``storyloom run`` (the Discord bot), not
    by ``storyloom play`` or ``web`` (two terminals would fight over the port)."""
    host: str = "127.0.0.1"
    """This machine only by default; ``0.0.0.0`` lets a Prometheus server elsewhere scrape it (the
    Docker image sets it, the port stays inside the container's network)."""
    port: int = Field(default=9464, ge=0, le=65535)
    """0 picks a free port (tests); the log says which."""
