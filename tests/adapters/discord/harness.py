"""Driving storyloom's Discord bot offline.

* Chat messages go through dpytest (a fake gateway + HTTP layer for discord.py).
* Interactions (slash commands, button presses) are built from payloads shaped like Discord's
  INTERACTION_CREATE events and fed to ``ConnectionState.parse_interaction_create`` — the same
  entry point the gateway uses. The interaction webhook layer is replaced by
  :class:`RecordingWebhook`, which records every HTTP request discord.py would make and
  answers with realistic payloads.
* :class:`Outbox` also records the keyword arguments of every ``handle_message_parameters``
  call (channel sends, message edits, followups), so tests can check ``allowed_mentions``.
* :class:`Cdn` stands in for Discord's attachment CDN (``HTTPClient.get_from_cdn``): it serves
  the bytes of files attached to messages or given as slash-command options, and counts
  downloads. :class:`Threads` stands in for the thread endpoints (``start_thread_*``): it records
  each request, answers with a thread payload shaped like Discord's and, as the gateway would,
  announces the thread (THREAD_CREATE) so later events in it resolve.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.abc
import discord.ext.test as dpytest
import discord.interactions
import discord.message
import discord.webhook.async_ as webhook_async
from discord.utils import time_snowflake, utcnow

EPHEMERAL = 1 << 6
OPTION_TYPES = {str: 3, int: 4, bool: 5, float: 10}
_TRACKED_TASKS = ("CommandTree-invoker", "discord-ui-dynamic-item-", "discord-ui-view-dispatch-")


def snowflake() -> int:
    """A fresh snowflake (an old one makes discord.py treat the interaction as expired)."""
    return time_snowflake(utcnow()) + next(_bump)


_bump = itertools.count(1)


@dataclass
class Request:
    """One HTTP request the interaction layer would have sent."""

    method: str
    url: str
    body: dict[str, Any] | None
    files: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)

    @property
    def kind(self) -> str:
        """callback, followup, edit, delete or get."""
        if self.url.endswith("/callback"):
            return "callback"
        return {"POST": "followup", "PATCH": "edit", "DELETE": "delete"}.get(self.method, "get")

    @property
    def data(self) -> dict[str, Any]:
        """The message fields: ``body['data']`` for interaction callbacks, else the body."""
        body = self.body or {}
        return body.get("data") or {} if "/callback" in self.url else body

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags", 0) or 0) & EPHEMERAL)

    @property
    def content(self) -> str | None:
        return self.data.get("content")


class RecordingWebhook:
    """Stands in for Discord's interaction endpoints: records every request that discord.py's
    ``AsyncWebhookAdapter`` would send (interaction callbacks, followups, edits, deletes) and
    answers with realistic payloads. :meth:`install` patches ``AsyncWebhookAdapter.request``."""

    def __init__(self, bot_user: discord.ClientUser) -> None:
        self.requests: list[Request] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self._bot_user = bot_user

    def install(self, monkeypatch: Any) -> None:
        recorder = self

        async def request(adapter: Any, route: Any, session: Any = None, **kwargs: Any) -> Any:
            return await recorder.request(route, **kwargs)

        monkeypatch.setattr(webhook_async.AsyncWebhookAdapter, "request", request)

    async def request(
        self,
        route: Any,
        *,
        payload: dict[str, Any] | None = None,
        multipart: list[dict[str, Any]] | None = None,
        files: Any = None,
        **_: Any,
    ) -> Any:
        body = payload
        if body is None and multipart:
            body = json.loads(multipart[0]["value"])
        names = [f.filename for f in files or []]
        request = Request(route.method, route.url, body, names)
        self.requests.append(request)
        await asyncio.sleep(0)
        url = route.url
        if url.endswith("/callback"):
            return self._callback(url, body or {})
        if route.method == "DELETE":
            self.messages.pop(self._message_key(url), None)
            return None
        if route.method == "GET":
            return self.messages[self._message_key(url)]
        if route.method == "PATCH":
            key = self._message_key(url)
            message = self.messages.setdefault(key, self._message({}, None))
            message.update({k: v for k, v in (body or {}).items() if k != "allowed_mentions"})
            message["attachments"] = self._attachments(message.get("attachments", []))
            return message
        message = self._message(body or {}, None)  # POST: a followup
        self.messages[message["id"]] = message
        return message

    def _message_key(self, url: str) -> str:
        return url.rsplit("/messages/", 1)[1].split("?")[0]

    def _callback(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["type"]
        interaction_id = url.split("/interactions/")[1].split("/")[0]
        data = body.get("data") or {}
        result: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(data.get("flags", 0) or 0) & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if kind in (4, 5):
            message = self._message(
                data, flags=EPHEMERAL if result["interaction"]["response_message_ephemeral"] else 0
            )
            if kind == 5:
                message["flags"] = int(message.get("flags", 0)) | (1 << 7)  # LOADING
            self.messages["@original"] = message
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"]["message"] = message
        return result

    @staticmethod
    def _attachments(described: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What Discord returns for uploaded files (the request only names them)."""
        return [
            {
                "id": str(snowflake()),
                "filename": a.get("filename", "file"),
                "size": 1,
                "url": f"https://cdn.invalid/{a.get('filename', 'file')}",
                "proxy_url": f"https://media.invalid/{a.get('filename', 'file')}",
            }
            for a in described
        ]

    def _message(self, data: dict[str, Any], flags: int | None) -> dict[str, Any]:
        user = self._bot_user
        return {
            "id": str(snowflake()),
            "channel_id": str(self.channel_id),
            "type": 20,
            "content": data.get("content", ""),
            "author": {
                "id": str(user.id),
                "username": user.name,
                "discriminator": "0000",
                "avatar": None,
                "global_name": None,
                "bot": True,
            },
            "attachments": self._attachments(data.get("attachments", [])),
            "embeds": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": utcnow().isoformat(),
            "edited_timestamp": None,
            "flags": flags if flags is not None else int(data.get("flags", 0) or 0),
            "components": data.get("components", []),
        }

    channel_id: int = 0

    # -- queries --------------------------------------------------------------------------
    def texts(self) -> list[str]:
        """Every message text sent or edited in, in order."""
        return [r.content for r in self.requests if r.content is not None]

    def public_texts(self) -> list[str]:
        return [r.content for r in self.requests if r.content is not None and not r.ephemeral]


class Outbox:
    """Records the arguments of every message payload discord.py builds."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._originals: dict[Any, Any] = {}

    TARGETS = (
        (discord.abc, "handle_message_parameters"),
        (discord.message, "handle_message_parameters"),
        (webhook_async, "handle_message_parameters"),
        (discord.interactions, "interaction_message_response_params"),
    )

    def install(self) -> None:
        for module, name in self.TARGETS:
            original = getattr(module, name)
            self._originals[(module, name)] = original

            def spy(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                self.calls.append({**kwargs, "_at": time.monotonic()})
                return __original(*args, **kwargs)

            setattr(module, name, spy)

    def uninstall(self) -> None:
        for (module, name), original in self._originals.items():
            setattr(module, name, original)

    def with_content(self) -> list[dict[str, Any]]:
        """Calls that post or change message text."""
        return [c for c in self.calls if c.get("content") not in (None, discord.utils.MISSING)]


@dataclass
class FileOption:
    """A file given to a slash command's attachment option. ``size`` is what Discord states
    (default: the real size); the bytes are served by :class:`Cdn`."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"
    size: int | None = None


class Cdn:
    """Discord's attachment CDN, as ``HTTPClient.get_from_cdn`` reaches it: serves registered
    bytes (or raises a registered error) by URL and records every download."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | Exception] = {}
        self.downloads: list[str] = []

    def install(self, bot: Any, monkeypatch: Any) -> None:
        async def get_from_cdn(url: str) -> bytes:
            self.downloads.append(url)
            await asyncio.sleep(0)
            served = self.files[url]
            if isinstance(served, Exception):
                raise served
            return served

        monkeypatch.setattr(bot._connection.http, "get_from_cdn", get_from_cdn)

    def host(self, filename: str, data: bytes | Exception) -> str:
        url = f"https://cdn.discordapp.invalid/attachments/{snowflake()}/{filename}"
        self.files[url] = data
        return url


class Threads:
    """Discord's thread endpoints: records each ``start_thread_with_message`` /
    ``start_thread_without_message`` request and answers with a thread payload (type 11, the
    parent, metadata), then dispatches THREAD_CREATE as the gateway does for the bot."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.requests: list[dict[str, Any]] = []
        self.refuse: Exception | None = None

    def install(self, monkeypatch: Any) -> None:
        http = self.bot._connection.http

        async def with_message(channel_id: int, message_id: int, **fields: Any) -> dict[str, Any]:
            return await self._open(channel_id, {**fields, "message_id": message_id})

        async def without_message(channel_id: int, **fields: Any) -> dict[str, Any]:
            return await self._open(channel_id, fields)

        monkeypatch.setattr(http, "start_thread_with_message", with_message)
        monkeypatch.setattr(http, "start_thread_without_message", without_message)

    async def _open(self, channel_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        self.requests.append({"channel_id": int(channel_id), **fields})
        await asyncio.sleep(0)
        if self.refuse is not None:
            raise self.refuse
        parent = self.bot.get_channel(int(channel_id))
        payload = thread_payload(parent, fields["name"], owner_id=self.bot.user.id)
        self.bot._connection.parse_thread_create(payload)
        return payload


def thread_payload(parent: Any, name: str, *, owner_id: int) -> dict[str, Any]:
    """A public thread under ``parent`` as Discord describes it (THREAD_CREATE, REST)."""
    now = utcnow().isoformat()
    return {
        "id": str(snowflake()),
        "type": 11,
        "guild_id": str(parent.guild.id),
        "parent_id": str(parent.id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "newly_created": True,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 10080,
            "archive_timestamp": now,
            "locked": False,
            "invitable": True,
            "create_timestamp": now,
        },
    }


def _option(name: str, value: object) -> dict[str, Any]:
    if isinstance(value, FileOption):
        raise TypeError("file options are added by Driver.slash")
    return {"type": OPTION_TYPES[type(value)], "name": name, "value": value}


def _user_payload(user: discord.abc.User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.name,
        "discriminator": "0000",
        "avatar": None,
        "global_name": None,
        "bot": user.bot,
    }


class Driver:
    """Sends chat messages (dpytest) and interactions (payloads) to a configured bot."""

    def __init__(self, bot: Any, webhook: RecordingWebhook, cdn: Cdn | None = None) -> None:
        self.bot = bot
        self.webhook = webhook
        self.cdn = cdn or Cdn()
        config = dpytest.get_config()
        self.guild: discord.Guild = config.guilds[0]
        self.channel: Any = config.channels[0]
        self.members: list[discord.Member] = config.members
        webhook.channel_id = self.channel.id

    def _base(
        self,
        member: discord.Member,
        permissions: discord.Permissions,
        channel: dict[str, Any] | None,
        app_permissions: discord.Permissions | None = None,
    ) -> dict[str, Any]:
        channel_payload = channel or {
            "id": str(self.channel.id),
            "type": 0,
            "guild_id": str(self.guild.id),
            "name": self.channel.name,
            "nsfw": self.channel.nsfw,
            "position": 0,
            "permission_overwrites": [],
        }
        return {
            "id": str(snowflake()),
            "application_id": str(self.bot.user.id),
            "token": f"interaction-token-{snowflake()}",
            "version": 1,
            "guild_id": str(self.guild.id),
            "guild": {"id": str(self.guild.id), "locale": "en-US", "features": []},
            "channel_id": channel_payload["id"],
            "channel": channel_payload,
            "member": {
                "user": _user_payload(member),
                "roles": [str(r.id) for r in member.roles if not r.is_default()],
                "joined_at": utcnow().isoformat(),
                "deaf": False,
                "mute": False,
                "flags": 0,
                "nick": member.nick,
                "permissions": str(permissions.value),
            },
            "app_permissions": str((app_permissions or discord.Permissions.text()).value),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    async def slash(
        self,
        path: str,
        *,
        member: int = 0,
        permissions: discord.Permissions | None = None,
        channel: dict[str, Any] | None = None,
        app_permissions: discord.Permissions | None = None,
        **options: object,
    ) -> None:
        """Invoke ``/path`` with ``options`` as ``member`` and wait until it is handled.
        :class:`FileOption` values become attachment options (``resolved.attachments``)."""
        words = path.split()
        resolved: dict[str, Any] = {}
        inner: list[dict[str, Any]] = []
        for key, value in options.items():
            if isinstance(value, FileOption):
                attachment_id = str(snowflake())
                url = self.cdn.host(value.filename, value.data)
                resolved[attachment_id] = {
                    "id": attachment_id,
                    "filename": value.filename,
                    "size": len(value.data) if value.size is None else value.size,
                    "url": url,
                    "proxy_url": url,
                    "content_type": value.content_type,
                    "ephemeral": True,
                }
                inner.append({"type": 11, "name": key, "value": attachment_id})
            else:
                inner.append(_option(key, value))
        for depth in range(len(words) - 1, 0, -1):
            inner = [
                {
                    "type": 1 if depth == len(words) - 1 else 2,
                    "name": words[depth],
                    "options": inner,
                }
            ]
        command = discord.utils.get(self.bot.tree.get_commands(), name=words[0])
        payload = self._base(
            self.members[member],
            permissions or discord.Permissions.none(),
            channel,
            app_permissions,
        )
        payload["type"] = 2
        payload["data"] = {
            "id": str(getattr(command, "id", None) or snowflake()),
            "name": words[0],
            "type": 1,
            "options": inner,
        }
        if resolved:
            payload["data"]["resolved"] = {"attachments": resolved}
        return await self._deliver(payload)

    async def autocomplete(
        self, path: str, option: str, current: str, *, member: int = 0, **options: object
    ) -> None:
        """Type ``current`` into ``option`` of ``/path`` (an APPLICATION_COMMAND_AUTOCOMPLETE)."""
        words = path.split()
        inner: list[dict[str, Any]] = [_option(k, v) for k, v in options.items()]
        inner.append({"type": 3, "name": option, "value": current, "focused": True})
        for depth in range(len(words) - 1, 0, -1):
            inner = [
                {
                    "type": 1 if depth == len(words) - 1 else 2,
                    "name": words[depth],
                    "options": inner,
                }
            ]
        payload = self._base(self.members[member], discord.Permissions.none(), None)
        payload["type"] = 4
        payload["data"] = {"id": str(snowflake()), "name": words[0], "type": 1, "options": inner}
        await self._deliver(payload)

    async def press(
        self,
        custom_id: str,
        *,
        message: dict[str, Any] | None = None,
        member: int = 0,
        permissions: discord.Permissions | None = None,
    ) -> None:
        """Press the button ``custom_id`` (on ``message``, a message payload) as ``member``."""
        payload = self._base(self.members[member], permissions or discord.Permissions.none(), None)
        payload["type"] = 3
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        payload["message"] = message or self.webhook._message(
            {
                "content": "…",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 2, "label": "button", "custom_id": custom_id}
                        ],
                    }
                ],
            },
            0,
        )
        return await self._deliver(payload)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        before = set(asyncio.all_tasks())
        self.bot._connection.parse_interaction_create(payload)
        while True:
            pending = [
                t
                for t in asyncio.all_tasks() - before
                if not t.done() and (t.get_name() or "").startswith(_TRACKED_TASKS)
            ]
            if not pending:
                break
            await asyncio.gather(*pending)
        await dpytest.run_all_events()


def buttons_in(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every button in a message's component rows."""
    for row in components:
        for item in row.get("components", []):
            if item.get("type") == 2:
                yield item
