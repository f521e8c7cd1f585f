"""Incoming event -> command/trigger/action -> checks -> plugin -> moderated answer.

The router is the one error boundary: a plugin that raises never takes the bot down; users see a
short message (a :class:`~bot.errors.UserFacingError` shows its own), the log keeps the cause.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot import arguments
from bot.errors import (
    Blocked,
    PermissionDenied,
    PluginDisabled,
    RateLimited,
    StateError,
    UnknownCommand,
    UsageError,
    UserFacingError,
)
from bot.moderation.mentions import sanitize_output
from bot.moderation.types import Direction, ModerationContext, Verdict
from bot.observability.scope import event_scope, name_handler
from bot.plugin import NO_THREADS, Call, CommandSpec, PluginContext
from bot.ports import CheckedText
from bot.ratelimit import Limit, RateLimiter
from bot.registry import PluginRegistry
from bot.types import (
    ChannelRef,
    Incoming,
    IncomingKind,
    Reply,
    Responder,
    SentMessage,
    ThreadOpener,
)

if TYPE_CHECKING:
    from bot.observability.metrics import BotMetrics

log = logging.getLogger(__name__)

WITHHELD = "*(This message was withheld by the server's content filters.)*"
INTERNAL_ERROR = (
    "Sorry, something went wrong on my side (error `{error_id}`). Nothing was changed; "
    "please try again, and tell a moderator if it keeps happening."
)


class Moderator(Protocol):
    async def check(self, text: str, ctx: ModerationContext, *, record: bool = True) -> Verdict: ...


class PluginSwitches(Protocol):
    """Per-guild / per-channel enablement of plugins (storage implements it)."""

    async def is_plugin_enabled(
        self, plugin: str, guild_id: str | None, channel_id: str | None
    ) -> bool: ...


class MessageRecorder(Protocol):
    """Keeps a channel's recent conversation (storage implements it; bounded per channel)."""

    async def append(
        self,
        channel: ChannelRef,
        *,
        author_id: str,
        author_name: str,
        text: str,
        message_id: str = "",
    ) -> object: ...


@dataclass(frozen=True, slots=True)
class RouterLimits:
    user: Limit
    channel: Limit
    stream_edit_interval_s: float = 1.0
    max_message_chars: int = 4000
    prefixes: tuple[str, ...] = ("/",)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Text safe to store and to put in a prompt: lone surrogates replaced, NUL and other C0
    control characters (but tab and newline) removed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def clean_incoming(incoming: Incoming) -> Incoming:
    """The same event with every text field cleaned (adapters may pass anything through)."""
    text = clean_text(incoming.text)
    if (
        text is incoming.text
        and not incoming.options
        and incoming.command is None
        and clean_text(incoming.author.name) is incoming.author.name
    ):
        return incoming  # the common case: a clean chat message, nothing to rebuild
    options = {k: clean_text(v) if isinstance(v, str) else v for k, v in incoming.options.items()}
    author = incoming.author
    if clean_text(author.name) != author.name:
        author = dataclasses.replace(author, name=clean_text(author.name) or "someone")
    return dataclasses.replace(
        incoming,
        text=text,
        options=options,
        command=clean_text(incoming.command) if incoming.command else None,
        author=author,
    )


class ModeratedSink:
    """The responder a plugin sees: every text is scrubbed and moderated before it is posted,
    except a :class:`~bot.ports.CheckedText` (the writer checked it, exactly as it is).

    With ``filtered=False`` (commands declared ``moderated=False``) texts are only scrubbed.
    """

    __slots__ = ("_ctx", "_filtered", "_moderator", "_responder")

    def __init__(
        self,
        responder: Responder,
        moderator: Moderator,
        ctx: ModerationContext,
        *,
        filtered: bool = True,
    ) -> None:
        self._responder = responder
        self._moderator = moderator
        self._ctx = ctx
        self._filtered = filtered

    def unfiltered(self) -> ModeratedSink:
        """The same sink without the content filters (mentions and personal data still scrubbed)."""
        return ModeratedSink(self._responder, self._moderator, self._ctx, filtered=False)

    async def _clean(self, reply: Reply) -> Reply:
        if isinstance(reply.text, CheckedText):  # checked by the writer, exactly as it is
            return reply
        text = sanitize_output(reply.text) if reply.text else reply.text
        if text and self._filtered:
            verdict = await self._moderator.check(text, self._ctx)
            if verdict.blocked:
                log.info(
                    "output withheld in channel %s (rule %s)", self._ctx.channel_id, verdict.rule
                )
                text = WITHHELD
        if text == reply.text:
            return reply
        return Reply(
            text=text,
            ephemeral=reply.ephemeral,
            buttons=reply.buttons,
            attachments=reply.attachments,
        )

    async def send(self, reply: Reply) -> SentMessage:
        return await self._responder.send(await self._clean(reply))

    async def edit(self, message: SentMessage, reply: Reply) -> None:
        await self._responder.edit(message, await self._clean(reply))

    def typing(self) -> AbstractAsyncContextManager[None]:
        return self._responder.typing()

    async def open_thread(self, name: str) -> tuple[ChannelRef, ModeratedSink] | str:
        """A thread and a sink that posts in it, moderated for the thread (see
        :class:`~bot.types.ThreadOpener`); the sentence from the plugin API when the platform
        has no threads."""
        if not isinstance(self._responder, ThreadOpener):
            return NO_THREADS
        opened = await self._responder.open_thread(sanitize_output(name))
        if isinstance(opened, str):
            return opened
        channel, responder = opened
        ctx = dataclasses.replace(
            self._ctx, guild_id=channel.guild_id, channel_id=channel.channel_id, nsfw=channel.nsfw
        )
        return channel, ModeratedSink(responder, self._moderator, ctx, filtered=self._filtered)


class Router:
    """Routes events to plugins. One per process, shared by every adapter."""

    def __init__(
        self,
        registry: PluginRegistry,
        *,
        moderator: Moderator,
        switches: PluginSwitches,
        limits: RouterLimits,
        contexts: Callable[[str], PluginContext],
        recorder: MessageRecorder | None = None,
        metrics: BotMetrics | None = None,
    ) -> None:
        self.registry = registry
        self._moderator = moderator
        self._switches = switches
        self.limits = limits
        self._contexts = contexts
        self._recorder = recorder
        self._user_limiter = RateLimiter(limits.user)
        self._channel_limiter = RateLimiter(limits.channel)
        self._cooldowns: dict[str, RateLimiter] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.metrics = metrics
        """Counts each event by plugin, command and outcome."""

    # -- lifecycle ------------------------------------------------------------------------
    def dispatch(self, incoming: Incoming, responder: Responder) -> asyncio.Task[None]:
        """Handle an event in the background; the task is tracked for graceful shutdown."""
        task = asyncio.create_task(self.handle(incoming, responder))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, grace_s: float = 30.0) -> None:
        """Stop accepting events, wait for in-flight work, cancel what is left after ``grace_s``."""
        self._closing = True
        pending = set(self._tasks)
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=grace_s)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=5.0)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    # -- routing --------------------------------------------------------------------------
    async def handle(self, incoming: Incoming, responder: Responder) -> None:
        """Route one event and answer it. Never raises (except cancellation)."""
        if incoming.author.is_bot:
            return
        incoming = clean_incoming(incoming)
        with event_scope(incoming):  # log fields and metric labels of this event
            await self._answer(incoming, responder)

    async def _answer(self, incoming: Incoming, responder: Responder) -> None:
        out_ctx = ModerationContext.for_channel(
            Direction.OUTPUT, incoming.channel, incoming.author.id
        )
        sink = ModeratedSink(responder, self._moderator, out_ctx)
        try:
            with self._tracked():
                if self._closing:
                    raise StateError("I'm restarting right now; please try again in a minute.")
                await self._route(incoming, sink)
        except asyncio.CancelledError:
            raise
        except UserFacingError as exc:
            await self._safe_send(sink, Reply(text=exc.user_message, ephemeral=exc.ephemeral))
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception(
                "unhandled error %s while handling %s in %s",
                error_id,
                incoming.command or incoming.kind,
                incoming.channel.key,
            )
            await self._safe_send(
                sink, Reply(text=INTERNAL_ERROR.format(error_id=error_id), ephemeral=True)
            )

    def _tracked(self) -> AbstractContextManager[None]:
        return self.metrics.track_event() if self.metrics is not None else nullcontext()

    async def _safe_send(self, sink: ModeratedSink, reply: Reply) -> None:
        try:
            await sink.send(reply)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not deliver an error notice")

    async def _route(self, incoming: Incoming, sink: ModeratedSink) -> None:
        if incoming.kind is IncomingKind.ACTION:
            await self._run_action(incoming, sink)
            return
        if incoming.kind is IncomingKind.COMMAND and incoming.command:
            found = self.registry.resolve(incoming.command)
            if found is None or found[1]:
                raise self._unknown(incoming.command)
            spec = found[0]
            await self._run_command(
                spec,
                incoming,
                sink,
                lambda: arguments.bind_options(spec, incoming.options, incoming.attachments),
            )
            return
        line = self._command_line(incoming)
        if line is not None:
            if not line.strip():
                raise UnknownCommand("Type `/help` to see what I can do.")
            found = self.registry.resolve(line)
            if found is None:
                raise self._unknown(line.split()[0])
            spec, rest = found
            await self._run_command(
                spec, incoming, sink, lambda: arguments.parse_text(spec, rest, incoming.attachments)
            )
            return
        await self._run_triggers(incoming, sink)

    def _command_line(self, incoming: Incoming) -> str | None:
        if incoming.kind is IncomingKind.COMMAND:
            return incoming.text
        for prefix in self.limits.prefixes:
            if incoming.text.startswith(prefix):
                return incoming.text[len(prefix) :]
        return None

    def _unknown(self, word: str) -> UnknownCommand:
        shown = word.strip()[:32] or "?"
        suggestion = self.registry.suggest(shown)
        hint = f" Did you mean `/{suggestion}`?" if suggestion else ""
        return UnknownCommand(
            f"I don't know the command `/{shown}`.{hint} Type `/help` for the list."
        )

    async def _check_common(
        self,
        plugin: str,
        incoming: Incoming,
        text: str,
        *,
        known_enabled: bool = False,
        moderate: bool = True,
    ) -> None:
        channel = incoming.channel
        if not known_enabled and not await self._switches.is_plugin_enabled(
            plugin, channel.guild_id, channel.channel_id
        ):
            raise PluginDisabled(f"The `{plugin}` plugin is switched off here.")
        if len(text) > self.limits.max_message_chars:
            raise UsageError(
                f"That message is too long ({len(text):,} characters; the limit is "
                f"{self.limits.max_message_chars:,}). Nothing was saved — please split it up."
            )
        self._rate_limit(incoming)
        if moderate and text.strip():
            verdict = await self._moderator.check(
                text,
                ModerationContext.for_channel(Direction.INPUT, channel, incoming.author.id),
            )
            if verdict.blocked:
                category = verdict.categories[0] if verdict.categories else "content"
                raise Blocked(
                    f"Your message was not accepted: it tripped this server's {category} filter. "
                    "Nothing was added to the story.",
                    category=category,
                    rule=verdict.rule,
                )

    def _rate_limit(self, incoming: Incoming) -> None:
        wait = self._user_limiter.hit(f"{incoming.channel.guild_id}:{incoming.author.id}")
        if not wait:
            wait = self._channel_limiter.hit(incoming.channel.key)
        if wait:
            raise RateLimited(
                f"Slow down a little — try again in {max(1, round(wait))}s.", retry_after=wait
            )

    async def _run_command(
        self,
        spec: CommandSpec,
        incoming: Incoming,
        sink: ModeratedSink,
        bind: Callable[[], dict[str, object]],
    ) -> None:
        name_handler(spec.plugin, spec.path)
        if spec.permission is not None and not incoming.author.has(spec.permission):
            raise PermissionDenied(
                f"`/{spec.path}` needs the **{spec.permission.label}** permission."
            )
        if spec.guild_only and incoming.channel.guild_id is None:
            raise UsageError(f"`/{spec.path}` only works in a server channel.")
        kwargs = bind()
        # Moderate what the command carries (its text arguments), not the command's own name.
        text = "\n".join(v for v in kwargs.values() if isinstance(v, str) and v)
        await self._check_common(spec.plugin, incoming, text, moderate=spec.moderated)
        if spec.cooldown is not None:
            self._cooldown(spec, incoming)
        plugin = self.registry.plugins[spec.plugin]
        call = self._call(spec.plugin, incoming, sink if spec.moderated else sink.unfiltered())
        handler = getattr(plugin, spec.handler_name)
        log.debug("command /%s by %s in %s", spec.path, incoming.author.id, incoming.channel.key)
        await self._deliver(call, handler(call, **kwargs))

    def _cooldown(self, spec: CommandSpec, incoming: Incoming) -> None:
        assert spec.cooldown is not None
        limiter = self._cooldowns.get(spec.path)
        if limiter is None:
            limiter = self._cooldowns[spec.path] = RateLimiter(
                Limit(spec.cooldown.rate, spec.cooldown.per)
            )
        key = (
            incoming.channel.key
            if spec.cooldown.per_channel
            else f"{incoming.channel.key}:{incoming.author.id}"
        )
        wait = limiter.hit(key)
        if wait:
            raise RateLimited(
                f"`/{spec.path}` is cooling down — try again in {max(1, round(wait))}s.",
                retry_after=wait,
            )

    async def _run_triggers(self, incoming: Incoming, sink: ModeratedSink) -> None:
        if not incoming.text.strip():
            return
        checked = False
        channel = incoming.channel
        for spec in self.registry.triggers:
            if not await self._switches.is_plugin_enabled(
                spec.plugin, channel.guild_id, channel.channel_id
            ):
                continue
            plugin = self.registry.plugins[spec.plugin]
            if not await plugin.wants_message(incoming):
                continue
            name_handler(spec.plugin, f"trigger:{spec.name}")
            if not checked:
                await self._check_common(spec.plugin, incoming, incoming.text, known_enabled=True)
                checked = True
            call = self._call(spec.plugin, incoming, sink)
            if await getattr(plugin, spec.handler_name)(call):
                return
        name_handler("", "")  # no plugin took it: plain conversation
        await self._remember(incoming)

    async def _remember(self, incoming: Incoming) -> None:
        """Keep ordinary conversation (what no plugin took) for plugins such as headlines;
        texts the filters would block are not kept, and nobody is told about it."""
        if self._recorder is None:
            return
        channel = incoming.channel
        verdict = await self._moderator.check(
            incoming.text,
            ModerationContext.for_channel(Direction.INPUT, channel, incoming.author.id),
            record=False,
        )
        if not verdict.blocked:
            await self._recorder.append(
                channel,
                author_id=incoming.author.id,
                author_name=incoming.author.name,
                text=incoming.text[: self.limits.max_message_chars],
                message_id=incoming.message_id,
            )

    async def _run_action(self, incoming: Incoming, sink: ModeratedSink) -> None:
        plugin_name, _, rest = (incoming.action_id or "").partition(":")
        name, _, arg = rest.partition(":")
        spec = self.registry.actions.get((plugin_name, name))
        if spec is None:
            raise StateError("That button no longer works. Try the command instead.")
        name_handler(plugin_name, f"button:{name}")
        if spec.permission is not None and not incoming.author.has(spec.permission):
            raise PermissionDenied("You don't have permission to use that button.")
        await self._check_common(plugin_name, incoming, "")
        call = self._call(plugin_name, incoming, sink)
        await self._deliver(
            call, getattr(self.registry.plugins[plugin_name], spec.handler_name)(call, arg)
        )

    def _call(self, plugin: str, incoming: Incoming, sink: ModeratedSink) -> Call:
        return Call(
            incoming,
            self._contexts(plugin),
            sink,
            stream_interval_s=self.limits.stream_edit_interval_s,
        )

    async def _deliver(self, call: Call, pending: Awaitable[Any]) -> None:
        result = await pending
        if (isinstance(result, str) and result.strip()) or isinstance(result, Reply):
            await call.reply(result)
