"""How the router answers in a room: messages to everyone, notices to one person, live edits.

Texts arrive here already moderated and scrubbed by the router. They travel as JSON strings and
the page puts them into the DOM as text (never as HTML), so nothing a player or the model writes
can become markup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.adapters.web.files import FileShelf
from bot.adapters.web.rooms import BOT_NAME, Room
from bot.types import Author, Reply, SentMessage, utcnow

BOT = {"id": "bot", "name": BOT_NAME, "bot": True}


def message_event(
    message_id: str,
    reply: Reply,
    *,
    sender: dict[str, Any],
    files: FileShelf,
    private: bool = False,
    command: bool = False,
) -> dict[str, Any]:
    """The ``message`` event a browser renders (its attachments put on the shelf)."""
    event: dict[str, Any] = {
        "type": "message",
        "id": message_id,
        "from": sender,
        "text": reply.text,
        "buttons": buttons_of(reply),
        "files": [files.put(a) for a in reply.attachments],
        "private": private,
        "at": utcnow().isoformat(timespec="seconds"),
    }
    if command:
        event["command"] = True
    return event


def buttons_of(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"action": b.action_id, "label": b.label, "style": b.style.value, "disabled": b.disabled}
        for b in reply.buttons
    ]


def sender_of(author: Author) -> dict[str, Any]:
    return {"id": author.id, "name": author.name, "bot": False}


class WebResponder:
    """Answers one incoming event in ``room``; ``author`` is who caused it (notices go there)."""

    def __init__(self, room: Room, author: Author, files: FileShelf) -> None:
        self._room = room
        self._author = author
        self._files = files
        self._private: set[str] = set()

    async def send(self, reply: Reply) -> SentMessage:
        room = self._room
        message_id = room.next_id()
        event = message_event(
            message_id, reply, sender=BOT, files=self._files, private=reply.ephemeral
        )
        room.offer(b.action_id for b in reply.buttons)
        if reply.ephemeral:
            self._private.add(message_id)
            room.tell(self._author.id, event)
        else:
            room.broadcast(event, keep=True)
        return SentMessage(id=message_id, channel_id=room.channel.channel_id)

    async def edit(self, message: SentMessage, reply: Reply) -> None:
        room = self._room
        changes: dict[str, Any] = {"text": reply.text, "buttons": buttons_of(reply)}
        if reply.attachments:
            changes["files"] = [self._files.put(a) for a in reply.attachments]
        room.offer(b.action_id for b in reply.buttons)
        event = {"type": "edit", "id": message.id, **changes}
        if message.id in self._private:
            room.tell(self._author.id, event)
        else:
            room.update(message.id, changes)
            room.broadcast(event)

    @asynccontextmanager
    async def typing(self) -> AsyncIterator[None]:
        self._room.typing(True)
        try:
            yield
        finally:
            self._room.typing(False)
