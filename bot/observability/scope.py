"""The incoming event being handled, in a context variable: log fields and metric labels.

The router opens a scope for each event (:func:`event_scope`: guild and channel) and names the
plugin handler once it is resolved (:func:`name_handler`). Everything that runs for the event
(plugin code, generation, storage; tasks it starts inherit a copy) sees it through
:func:`current_scope`; nothing outside the event does. Only ids and declared names go in it, never
text that people wrote.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from bot.types import Incoming


@dataclass(frozen=True, slots=True)
class EventScope:
    """Ids and names of the event being handled (``plugin``/``command`` empty until resolved)."""

    kind: str
    channel: str
    guild: str | None = None
    plugin: str = ""
    command: str = ""


_SCOPE: ContextVar[EventScope | None] = ContextVar("storyloom_event_scope", default=None)


def current_scope() -> EventScope | None:
    """The event being handled in this context, or None outside event handling."""
    return _SCOPE.get()


@contextmanager
def event_scope(incoming: Incoming) -> Iterator[EventScope]:
    """Mark the code in the block as handling ``incoming`` (restored on exit)."""
    scope = EventScope(
        kind=incoming.kind.value,
        channel=incoming.channel.channel_id,
        guild=incoming.channel.guild_id,
    )
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def name_handler(plugin: str, command: str) -> None:
    """Say which plugin handler took the current event (``"story continue"``, ``"button:undo"``);
    lasts until the enclosing :func:`event_scope` ends. Does nothing outside a scope."""
    scope = _SCOPE.get()
    if scope is not None:
        _SCOPE.set(dataclasses.replace(scope, plugin=plugin, command=command))
