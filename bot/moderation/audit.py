"""The audit port: where blocks and flags are recorded (storage implements it)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.moderation.types import AuditEvent


@runtime_checkable
class AuditSink(Protocol):
    """Receives one event per block or flag. Implementations must not raise on duplicates."""

    async def record(self, event: AuditEvent) -> None: ...


class MemoryAuditSink:
    """Keeps events in a list (tests, the ``moderate`` CLI, deployments without a database)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def record(self, event: AuditEvent) -> None:
        self.events.append(event)


def format_mod_log(event: AuditEvent) -> str:
    """A one-line summary for a guild's mod-log channel; never quotes the text."""
    who = f"<@{event.user_id}>" if event.user_id else "the model"
    where = f"<#{event.channel_id}>" if event.channel_id else "a direct message"
    verb = "Blocked" if event.action == "block" else "Flagged"
    category = f" ({event.category})" if event.category else ""
    return (
        f"{verb} {event.direction} from {who} in {where}{category}: rule `{event.rule}`, "
        f"score {event.score:.2f}, {event.text_length} characters."
    )
