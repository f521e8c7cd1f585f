"""Logging set-up: plain or JSON lines on stderr, with secrets redacted from every record.

Records logged while the router handles an event carry its ``guild``, ``channel``, ``plugin`` and
``command`` (:mod:`bot.observability.scope`); JSON lines include them. Code logs ids and names at
INFO, never what people wrote or the model's text (DEBUG at most), and never the token.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable

from bot.config import LoggingSettings
from bot.observability.scope import current_scope

REDACTED = "[redacted]"
EVENT_FIELDS = ("guild", "channel", "plugin", "command")


class RedactSecrets(logging.Filter):
    """Replaces any configured secret (the bot token) wherever it appears in a record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if any(s in text for s in self._secrets):
                for secret in self._secrets:
                    text = text.replace(secret, REDACTED)
                record.exc_info = None
                cleaned = f"{cleaned}\n{text}"
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class EventFields(logging.Filter):
    """Adds the event being handled (guild, channel, plugin, command) to each record, unless the
    record already has the field (``extra={...}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = current_scope()
        if scope is not None:
            for name in EVENT_FIELDS:
                value = getattr(scope, name)
                if value and not hasattr(record, name):
                    setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the event fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EVENT_FIELDS:
            value = getattr(record, name, None)
            if value:
                data[name] = str(value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(settings: LoggingSettings, *, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once (stderr; stdout stays free for command output)."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    handler.addFilter(EventFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
    for noisy in ("httpx", "httpcore", "urllib3", "aiosqlite", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
