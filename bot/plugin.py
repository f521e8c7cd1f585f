"""The plugin API: everything a plugin author needs.

A plugin is a class deriving from :class:`Plugin` with a ``name`` and methods decorated with
:func:`command`, :func:`trigger` or :func:`action`. Parameters of a command are declared once, as
typed Python parameters; adapters turn them into slash-command options (Discord) or
``/command args`` (console). A plugin talks to the outside world only through its
:class:`PluginContext` and the :class:`Call` it is handed::

    from typing import Annotated, Literal
    from bot.plugin import Call, Param, Plugin, command

    class DicePlugin(Plugin):
        name = "dice"
        description = "Roll dice for your story."

        @command("roll", description="Roll a die.", examples=("/roll 20",))
        async def roll(self, call: Call, sides: Annotated[int, Param("Sides", min=2, max=1000)] = 6) -> str:
            return f"{call.author.name} rolled {call.random.randint(1, sides)}"

Register it in your package's ``pyproject.toml``::

    [project.entry-points."storyloom.plugins"]
    dice = "my_package.dice:DicePlugin"

Declarations are validated when the plugin is loaded (unsupported parameter types, duplicate
names, bad signatures raise :class:`~bot.errors.PluginLoadError`); loading is all-or-nothing per
plugin, and a plugin that fails to load is reported while the others run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import inspect
import random
import re
import time
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import pydantic

from bot.errors import ConfigError, PluginLoadError
from bot.ports import ModelFacts, PluginStore, Writer
from bot.types import (
    Author,
    Button,
    ChannelRef,
    Incoming,
    Permission,
    Reply,
    SentMessage,
    Upload,
)

if TYPE_CHECKING:
    from bot.generation.types import GenerationRequest

__all__ = [
    "Call",
    "CommandSpec",
    "Cooldown",
    "Param",
    "ParamSpec",
    "Plugin",
    "PluginContext",
    "action",
    "command",
    "trigger",
]

SettingsT = typing.TypeVar("SettingsT", bound=pydantic.BaseModel)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SCALARS: tuple[type, ...] = (str, int, float, bool, Upload)


@dataclass(frozen=True, slots=True)
class Param:
    """Extra information about a command parameter, given with ``typing.Annotated``.

    ``rest=True`` makes a ``str`` parameter swallow the rest of a typed line (``/story add Once
    upon a time``); optional parameters after it are given by name before the text
    (``/story start mode=vote A dark forest``). ``min``/``max`` bound numbers and string
    lengths. ``choices`` restricts values (a ``Literal`` or ``Enum`` annotation sets it for you).
    """

    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str | int | float, ...] = ()
    rest: bool = False
    autocomplete: bool = False


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A validated command parameter, derived from the handler's signature."""

    name: str
    type: type
    description: str
    required: bool
    default: object
    choices: tuple[str | int | float, ...] = ()
    min: float | None = None
    max: float | None = None
    rest: bool = False
    autocomplete: bool = False

    @property
    def type_name(self) -> str:
        return {
            str: "text",
            int: "whole number",
            float: "number",
            bool: "yes/no",
            Upload: "file",
        }.get(self.type, self.type.__name__)


@dataclass(frozen=True, slots=True)
class Cooldown:
    """At most ``rate`` uses per ``per`` seconds, per user (or per channel when ``per_channel``)."""

    rate: int = 1
    per: float = 3.0
    per_channel: bool = False


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A validated command declaration. ``path`` is the full name, e.g. ``"story add"``."""

    path: str
    description: str
    params: tuple[ParamSpec, ...]
    handler_name: str
    plugin: str = ""
    permission: Permission | None = None
    cooldown: Cooldown | None = None
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    guild_only: bool = False
    defer: bool = True
    """Whether the adapter should acknowledge at once (Discord's 3 s limit) before running it."""
    moderated: bool = True
    """False: the content filters skip the arguments and replies (mentions are still scrubbed)."""

    @property
    def usage(self) -> str:
        parts = [f"/{self.path}"]
        for p in self.params:
            label = p.name if not p.choices else "|".join(str(c) for c in p.choices)
            parts.append(f"<{label}>" if p.required else f"[{label}]")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """A message trigger: ``handler(call) -> bool`` returns True when it handled the message."""

    name: str
    handler_name: str
    plugin: str = ""
    priority: int = 0


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A button handler; buttons carry ``action_id = "<plugin>:<name>[:<arg>]"``."""

    name: str
    handler_name: str
    plugin: str = ""
    permission: Permission | None = None


_DECL_ATTR = "__storyloom_declaration__"


def command(
    path: str,
    *,
    description: str,
    permission: Permission | None = None,
    cooldown: Cooldown | None = None,
    aliases: tuple[str, ...] = (),
    examples: tuple[str, ...] = (),
    guild_only: bool = False,
    defer: bool = True,
    moderated: bool = True,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Declare a command. ``path`` is one to three words, e.g. ``"poem"`` or ``"story add"``.

    The handler is ``async def handler(self, call: Call, <params>) -> Reply | str | None``; a
    returned string or :class:`Reply` is posted for you. ``moderated=False`` lets the command's
    arguments and replies past the content filters (mentions are still scrubbed); it is allowed
    only with a ``permission``, for moderators who must type and read the words they forbid.
    """

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        setattr(
            fn,
            _DECL_ATTR,
            (
                "command",
                dict(
                    path=path,
                    description=description,
                    permission=permission,
                    cooldown=cooldown,
                    aliases=aliases,
                    examples=examples,
                    guild_only=guild_only,
                    defer=defer,
                    moderated=moderated,
                ),
            ),
        )
        return fn

    return decorate


def trigger(
    name: str, *, priority: int = 0
) -> Callable[[Callable[..., Awaitable[bool]]], Callable[..., Awaitable[bool]]]:
    """Declare a message trigger: ``async def handler(self, call) -> bool``.

    Triggers see plain messages that are not commands (for example, a turn written in a channel
    with an active game). Higher ``priority`` runs first; the first that returns True wins.
    """

    def decorate(fn: Callable[..., Awaitable[bool]]) -> Callable[..., Awaitable[bool]]:
        setattr(fn, _DECL_ATTR, ("trigger", dict(name=name, priority=priority)))
        return fn

    return decorate


def action(
    name: str, *, permission: Permission | None = None
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Declare a button handler: ``async def handler(self, call, arg: str) -> Reply | str | None``.

    Make buttons with :meth:`Plugin.button`; the press arrives here with the button's argument.
    """

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        setattr(fn, _DECL_ATTR, ("action", dict(name=name, permission=permission)))
        return fn

    return decorate


class ReplySink(Protocol):
    """What a :class:`Call` posts through (the router's moderated responder)."""

    async def send(self, reply: Reply) -> SentMessage: ...

    async def edit(self, message: SentMessage, reply: Reply) -> None: ...

    def typing(self) -> typing.AsyncContextManager[None]: ...


@typing.runtime_checkable
class ThreadSink(Protocol):
    """A :class:`ReplySink` that can open a thread (the router's, over a Discord responder)."""

    async def open_thread(self, name: str) -> tuple[ChannelRef, ReplySink] | str: ...


NO_THREADS = "This chat has no threads, so it happens right here."


@dataclass(slots=True)
class PluginContext:
    """All a plugin may use. Built by the app, one per plugin. Each service is a narrow port
    (:mod:`bot.ports`), so a plugin runs against any implementation of them.

    - ``settings``: this plugin's section of the settings file (``[plugins.<name>]``), a mapping.
    - ``writer``: moderated generation (:class:`~bot.ports.Writer`): the text it returns, after
      the plugin's own ``post`` step, is checked and is what gets posted; a block is regenerated.
    - ``store``: a :class:`~bot.ports.PluginStore` (stories, turns, alternatives, lore, recent
      messages, scoped settings, context assembly, export and import).
    - ``model``: :class:`~bot.ports.ModelFacts` (count tokens, chat or base model, context size).
    """

    plugin_name: str
    settings: Mapping[str, Any]
    writer: Writer
    store: PluginStore
    model: ModelFacts
    random: random.Random = field(default_factory=random.Random)

    def settings_as(self, model: type[SettingsT]) -> SettingsT:
        """This plugin's ``[plugins.<name>]`` section validated as a pydantic ``model``; invalid
        values raise ConfigError naming the section (the plugin then fails to load, reported)."""
        try:
            return model.model_validate(dict(self.settings))
        except pydantic.ValidationError as exc:
            raise ConfigError(f"[plugins.{self.plugin_name}] settings are invalid: {exc}") from exc


class Call:
    """One invocation of a command, trigger or button, with helpers to answer it.

    Every text posted through a call is moderated (output filters, mention scrubbing) by the
    router before it reaches the platform.
    """

    __slots__ = (
        "_notice_open",
        "_placeholder",
        "_placeholder_lock",
        "_sink",
        "_stream_interval_s",
        "context",
        "incoming",
        "sent",
    )

    queue_notice_after_s: ClassVar[float] = 1.0
    """Generation requests waiting longer than this in the queue get a place-in-line message."""

    def __init__(
        self,
        incoming: Incoming,
        context: PluginContext,
        sink: ReplySink,
        *,
        stream_interval_s: float = 1.0,
    ) -> None:
        self.incoming = incoming
        self.context = context
        self._sink = sink
        self._stream_interval_s = stream_interval_s
        self.sent: list[SentMessage] = []
        self._placeholder: SentMessage | None = None  # the place-in-line message, if shown
        self._placeholder_lock = asyncio.Lock()
        self._notice_open = False

    @property
    def author(self) -> Author:
        return self.incoming.author

    @property
    def channel(self) -> ChannelRef:
        return self.incoming.channel

    @property
    def random(self) -> random.Random:
        return self.context.random

    async def reply(self, reply: Reply | str) -> SentMessage:
        """Post a message in the channel (it replaces a place-in-line message, if one shows)."""
        reply = Reply(text=reply) if isinstance(reply, str) else reply
        placeholder = None
        if not reply.ephemeral:
            async with self._placeholder_lock:
                placeholder, self._placeholder = self._placeholder, None
                self._notice_open = False
        if placeholder is not None:
            await self._sink.edit(placeholder, reply)
            message = placeholder
        else:
            message = await self._sink.send(reply)
        self.sent.append(message)
        return message

    async def open_thread(self, name: str) -> Call | str:
        """Open a public thread named ``name`` (Discord) and return a call that answers in it,
        with the thread as its channel; or a sentence saying why there is none (no threads on
        this platform, a direct message, already in a thread), for the plugin to go on here.

        Raises :class:`~bot.errors.UserFacingError` when the bot lacks the permission to open
        one (the message says which to grant).
        """
        sink = self._sink
        if not isinstance(sink, ThreadSink):
            return NO_THREADS
        opened = await sink.open_thread(name)
        if isinstance(opened, str):
            return opened
        channel, thread_sink = opened
        incoming = dataclasses.replace(self.incoming, channel=channel)
        return Call(incoming, self.context, thread_sink, stream_interval_s=self._stream_interval_s)

    async def notice(self, text: str) -> SentMessage:
        """Tell only the author (ephemeral where the platform supports it)."""
        return await self._sink.send(Reply(text=text, ephemeral=True))

    async def edit(self, message: SentMessage, reply: Reply | str) -> None:
        """Replace the content of a message this call posted."""
        await self._sink.edit(message, Reply(text=reply) if isinstance(reply, str) else reply)

    def typing(self) -> typing.AsyncContextManager[None]:
        """``async with call.typing():`` shows a typing indicator.

        When generation requests made inside wait in the queue for more than
        ``queue_notice_after_s``, a message tells the author their place in line ("you're 3rd
        in line") and follows the queue as it moves; the call's next reply replaces it.
        """
        return self._typing()

    @contextlib.asynccontextmanager
    async def _typing(self) -> AsyncIterator[None]:
        from bot.generation.queue_watch import QueueNotice

        self._notice_open = True
        notice = QueueNotice(
            self._show_place,
            grace_s=self.queue_notice_after_s,
            interval_s=self._stream_interval_s,
        )
        try:
            async with self._sink.typing(), notice:
                yield
        except BaseException:
            async with self._placeholder_lock:
                placeholder, self._placeholder = self._placeholder, None
            if placeholder is not None:  # the error is answered on its own
                with contextlib.suppress(Exception):
                    await self._sink.edit(placeholder, Reply(text=NO_LONGER_WAITING))
            raise
        finally:
            self._notice_open = False

    async def _show_place(self, text: str) -> None:
        async with self._placeholder_lock:
            if not self._notice_open:
                return
            if self._placeholder is None:
                self._placeholder = await self._sink.send(Reply(text=text))
            else:
                await self._sink.edit(self._placeholder, Reply(text=text))

    async def stream_reply(
        self,
        request: GenerationRequest,
        *,
        render: Callable[[str], str] = lambda text: text,
        final: Callable[[str], str] | None = None,
        empty: str = "",
    ) -> tuple[str, SentMessage | None]:
        """Generate with streaming: post the first text, then edit it as it grows.

        ``render`` turns the raw text written so far into the message text, ``final`` (default
        ``render``) turns the whole raw text into the last version; the writer checks exactly
        those texts, and a blocked generation is regenerated and never shown. ``empty`` is
        posted when the last version is empty. Edits are sent at most once per
        ``stream_interval`` (Discord rate-limits edits). Returns the last version (checked)
        and the message.
        """
        message: SentMessage | None = None
        last_edit = 0.0
        shown = ""
        text = ""
        stream = self.context.writer.stream(
            request,
            channel=self.channel,
            user_id=self.author.id,
            post=final or render,
            partial=render,
        )
        try:
            async with self.typing(), contextlib.aclosing(stream) as texts:
                async for text in texts:
                    if not text.strip() or text == shown:
                        continue
                    now = time.monotonic()
                    if message is None:
                        message = await self.reply(text)
                        shown, last_edit = text, now
                    elif now - last_edit >= self._stream_interval_s:
                        await self.edit(message, text)
                        shown, last_edit = text, now
        except Exception:
            if message is not None:  # never leave a half-written text standing as if it counted
                with contextlib.suppress(Exception):
                    await self.edit(message, INTERRUPTED)
            raise
        last = text if text.strip() else empty
        if message is None:
            if last.strip():
                message = await self.reply(last)
        elif last != shown:
            await self.edit(message, last)
        return text, message


INTERRUPTED = "*(The storyteller was interrupted — nothing was added.)*"
NO_LONGER_WAITING = "*(No longer waiting in line.)*"


class Plugin:
    """Base class of every plugin. Subclasses set ``name`` and declare handlers.

    Override :meth:`setup` to register setting defaults or start background tasks and
    :meth:`teardown` to stop them. ``self.context`` is the plugin's :class:`PluginContext`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    can_disable: ClassVar[bool] = True

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    async def setup(self) -> None:
        """Called once after loading, before any event is routed."""

    async def teardown(self) -> None:
        """Called once at shutdown."""

    async def wants_message(self, incoming: Incoming) -> bool:
        """Cheap pre-check before this plugin's triggers see a plain message.

        Return False for messages the triggers will certainly ignore (for example, no game is
        running in the channel); the router then skips moderation and the triggers for it.
        """
        return True

    async def autocomplete(
        self, incoming: Incoming, command: str, param: str, current: str
    ) -> list[str | int | float]:
        """Suggestions while a user types a parameter declared with ``Param(autocomplete=True)``.

        The default offers the parameter's declared choices that contain what was typed;
        override it to suggest from stored data (story titles, lore keys, ...).
        """
        for spec in type(self).declarations().commands:
            if spec.path == command:
                for p in spec.params:
                    if p.name == param:
                        return [c for c in p.choices if current.lower() in str(c).lower()][:25]
        return []

    def button(self, name: str, label: str, arg: str = "", **kwargs: Any) -> Button:
        """Build a :class:`~bot.types.Button` whose press calls this plugin's ``@action(name)``."""
        return Button(action_id=f"{self.name}:{name}:{arg}", label=label, **kwargs)

    # -- declarations ---------------------------------------------------------------------
    @classmethod
    def declarations(cls) -> PluginDeclarations:
        """Validate and return this plugin's declarations (raises PluginLoadError)."""
        return _collect(cls)


@dataclass(frozen=True, slots=True)
class PluginDeclarations:
    commands: tuple[CommandSpec, ...]
    triggers: tuple[TriggerSpec, ...]
    actions: tuple[ActionSpec, ...]


def _collect(cls: type[Plugin]) -> PluginDeclarations:
    if not isinstance(cls.name, str) or not _NAME_RE.match(cls.name):
        raise PluginLoadError(
            f"{cls.__qualname__}: plugin name {cls.name!r} must be lower-case letters, digits, '-' or '_'"
        )
    commands: list[CommandSpec] = []
    triggers: list[TriggerSpec] = []
    actions: list[ActionSpec] = []
    seen_paths: set[str] = set()
    for attr in dir(cls):
        fn = getattr(cls, attr, None)
        decl = getattr(fn, _DECL_ATTR, None)
        if decl is None or not callable(fn):
            continue
        if not inspect.iscoroutinefunction(fn):
            raise PluginLoadError(f"{cls.name}.{attr}: handlers must be 'async def'")
        kind, options = decl
        if kind == "command":
            spec = _command_spec(cls.name, attr, fn, options)
            for name in (spec.path, *spec.aliases):
                if name in seen_paths:
                    raise PluginLoadError(f"{cls.name}: command '/{name}' is declared twice")
                seen_paths.add(name)
            commands.append(spec)
        elif kind == "trigger":
            _check_arity(cls.name, attr, fn, 1)
            triggers.append(TriggerSpec(options["name"], attr, cls.name, options["priority"]))
        else:
            _check_arity(cls.name, attr, fn, 2)
            if ":" in options["name"]:
                raise PluginLoadError(f"{cls.name}.{attr}: action names may not contain ':'")
            actions.append(ActionSpec(options["name"], attr, cls.name, options["permission"]))
    names = [a.name for a in actions]
    if len(names) != len(set(names)):
        raise PluginLoadError(f"{cls.name}: an action name is declared twice")
    return PluginDeclarations(tuple(commands), tuple(triggers), tuple(actions))


def _check_arity(plugin: str, attr: str, fn: Callable[..., Any], expected: int) -> None:
    params = list(inspect.signature(fn).parameters.values())[1:]
    if len(params) != expected:
        raise PluginLoadError(
            f"{plugin}.{attr}: expected {expected} parameter(s) after self, got {len(params)}"
        )


def _command_spec(
    plugin: str, attr: str, fn: Callable[..., Any], options: dict[str, Any]
) -> CommandSpec:
    path = " ".join(str(options["path"]).split())
    words = path.split(" ")
    if not 1 <= len(words) <= 3 or not all(_NAME_RE.match(w) for w in words):
        raise PluginLoadError(f"{plugin}.{attr}: bad command name {options['path']!r}")
    for alias in options["aliases"]:
        if not all(_NAME_RE.match(w) for w in alias.split()):
            raise PluginLoadError(f"{plugin}.{attr}: bad alias {alias!r}")
    if not options["description"] or len(options["description"]) > 100:
        raise PluginLoadError(f"{plugin}.{attr}: a description of 1-100 characters is required")
    if not options["moderated"] and options["permission"] is None:
        raise PluginLoadError(
            f"{plugin}.{attr}: only commands that need a permission may skip moderation"
        )
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # unresolved forward references and the like
        raise PluginLoadError(f"{plugin}.{attr}: cannot resolve annotations: {exc}") from exc
    sig = inspect.signature(fn)
    raw = list(sig.parameters.values())
    if len(raw) < 2 or raw[0].name != "self":
        raise PluginLoadError(f"{plugin}.{attr}: signature must be (self, call, ...)")
    params: list[ParamSpec] = []
    for p in raw[2:]:
        if p.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            raise PluginLoadError(f"{plugin}.{attr}: *args/**kwargs are not supported ({p.name})")
        if p.name not in hints:
            raise PluginLoadError(f"{plugin}.{attr}: parameter {p.name!r} needs a type annotation")
        params.append(_param_spec(plugin, attr, p, hints[p.name]))
    rests = [i for i, p in enumerate(params) if p.rest]
    if len(rests) > 1 or any(params[i].type is not str for i in rests):
        raise PluginLoadError(
            f"{plugin}.{attr}: only one str parameter may take the rest of the line"
        )
    if rests and any(p.required for p in params[rests[0] + 1 :]):
        raise PluginLoadError(
            f"{plugin}.{attr}: parameters after the rest-of-line parameter must be optional "
            "(they are given by name, e.g. mode=vote)"
        )
    seen_optional = False
    for spec in params:
        if not spec.required:
            seen_optional = True
        elif seen_optional:
            raise PluginLoadError(
                f"{plugin}.{attr}: required parameter {spec.name!r} follows an optional one"
            )
    return CommandSpec(
        path=path,
        description=options["description"],
        params=tuple(params),
        handler_name=attr,
        plugin=plugin,
        permission=options["permission"],
        cooldown=options["cooldown"],
        aliases=tuple(" ".join(a.split()) for a in options["aliases"]),
        examples=tuple(options["examples"]),
        guild_only=options["guild_only"],
        defer=options["defer"],
        moderated=options["moderated"],
    )


def _param_spec(plugin: str, attr: str, p: inspect.Parameter, hint: Any) -> ParamSpec:
    meta = Param()
    if typing.get_origin(hint) is typing.Annotated:
        base, *extras = typing.get_args(hint)
        for extra in extras:
            if isinstance(extra, Param):
                meta = extra
        hint = base
    optional_none = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise PluginLoadError(
                f"{plugin}.{attr}: parameter {p.name!r}: unions are not supported"
            )
        hint, optional_none = args[0], True
    choices = meta.choices
    if typing.get_origin(hint) is Literal:
        lits = typing.get_args(hint)
        kinds = {type(v) for v in lits}
        if len(kinds) != 1 or next(iter(kinds)) not in (str, int):
            raise PluginLoadError(
                f"{plugin}.{attr}: Literal choices of {p.name!r} must be all str or all int"
            )
        hint, choices = next(iter(kinds)), tuple(lits)
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = tuple(str(m.value) for m in hint)
        hint = str
    if hint not in _SCALARS:
        raise PluginLoadError(
            f"{plugin}.{attr}: parameter {p.name!r} has unsupported type {hint!r} "
            "(use str, int, float, bool, Upload, Literal[...] or an Enum)"
        )
    required = p.default is inspect.Parameter.empty
    if required and optional_none:
        raise PluginLoadError(f"{plugin}.{attr}: optional parameter {p.name!r} needs a default")
    return ParamSpec(
        name=p.name,
        type=hint,
        description=meta.description or p.name.replace("_", " "),
        required=required,
        default=None if required else p.default,
        choices=choices,
        min=meta.min,
        max=meta.max,
        rest=meta.rest,
        autocomplete=meta.autocomplete,
    )
