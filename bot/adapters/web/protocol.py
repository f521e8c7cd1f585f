"""What a browser may send over a room's socket (JSON text frames), checked at the edge.

- ``{"type": "join", "room": TOKEN, "name": NICK, "client": BROWSER_ID, "admin": KEY|null}``
  first, once;
- ``{"type": "say", "text": "..."}``: a chat line, a story turn or a ``/command``;
- ``{"type": "press", "action": "plugin:action:arg"}``: a button shown in the room;
- ``{"type": "ping"}``: keeps idle connections open through proxies.

What the server sends (``welcome``, ``message``, ``edit``, ``people``, ``typing``, ``error``,
``refused``, ``pong``) is documented in ``docs/web.md``.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.errors import UsageError


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Join(_Frame):
    type: Literal["join"]
    room: str = Field(max_length=200)
    name: str = Field(max_length=200)
    client: str = Field(max_length=200)
    admin: str | None = Field(default=None, max_length=200)


class Say(_Frame):
    type: Literal["say"]
    text: str


class Press(_Frame):
    type: Literal["press"]
    action: str = Field(max_length=200)


class Ping(_Frame):
    type: Literal["ping"]


Frame = Annotated[Join | Say | Press | Ping, Field(discriminator="type")]
_FRAME: TypeAdapter[Join | Say | Press | Ping] = TypeAdapter(Frame)

EXPECTED = 'expected {"type": "say", "text": "..."} or {"type": "press", "action": "..."}'


def parse_frame(raw: str) -> Join | Say | Press | Ping:
    """One frame from a browser, or UsageError with a message that says what was expected."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise UsageError(f"That message was not valid JSON; {EXPECTED}.") from None
    try:
        return _FRAME.validate_python(data)
    except ValidationError as exc:
        where = ", ".join(
            ".".join(str(p) for p in err["loc"]) or "message" for err in exc.errors()[:3]
        )
        raise UsageError(f"That message could not be used ({where}); {EXPECTED}.") from None
