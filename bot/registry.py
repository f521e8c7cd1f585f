"""Plugin discovery and validated registration (all-or-nothing per plugin)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from bot.errors import PluginLoadError
from bot.plugin import ActionSpec, CommandSpec, Plugin, PluginContext, TriggerSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "storyloom.plugins"


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A plugin that could not be loaded, and why (shown by ``/plugins`` and in the log)."""

    name: str
    reason: str


@dataclass(slots=True)
class PluginRegistry:
    """The loaded plugins and their command, trigger and action tables."""

    plugins: dict[str, Plugin] = field(default_factory=dict)
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    """Every command path and alias -> its spec."""
    triggers: list[TriggerSpec] = field(default_factory=list)
    actions: dict[tuple[str, str], ActionSpec] = field(default_factory=dict)
    failures: list[LoadFailure] = field(default_factory=list)

    def add(
        self,
        cls: type[Plugin],
        context_for: Callable[[str], PluginContext],
        *,
        build: Callable[[PluginContext], Plugin] | None = None,
    ) -> Plugin:
        """Validate ``cls`` and register it, or raise PluginLoadError and register nothing.

        ``build(context)`` constructs it (default ``cls(context)``): built-ins that need more
        than a context get it at construction."""
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            raise PluginLoadError(f"{cls!r} is not a storyloom Plugin subclass")
        decl = cls.declarations()
        if cls.name in self.plugins:
            raise PluginLoadError(f"a plugin named {cls.name!r} is already loaded")
        clashes = [n for c in decl.commands for n in (c.path, *c.aliases) if n in self.commands]
        if clashes:
            owner = self.commands[clashes[0]].plugin
            raise PluginLoadError(
                f"command '/{clashes[0]}' is already provided by plugin {owner!r}"
            )
        try:
            plugin = (build or cls)(context_for(cls.name))
        except Exception as exc:
            raise PluginLoadError(f"{cls.name}: constructor failed: {exc}") from exc
        self.plugins[cls.name] = plugin
        for c in decl.commands:
            for name in (c.path, *c.aliases):
                self.commands[name] = c
        self.triggers.extend(decl.triggers)
        self.triggers.sort(key=lambda t: -t.priority)
        for a in decl.actions:
            self.actions[(cls.name, a.name)] = a
        return plugin

    def load(
        self,
        classes: Iterable[tuple[str, Callable[[], type[Plugin]]]],
        context_for: Callable[[str], PluginContext],
    ) -> None:
        """Load plugins from ``(name, loader)`` pairs; failures are recorded and logged."""
        for name, loader in classes:
            try:
                self.add(loader(), context_for)
            except Exception as exc:
                reason = (
                    str(exc) if isinstance(exc, PluginLoadError) else f"{type(exc).__name__}: {exc}"
                )
                log.error(
                    "plugin %s failed to load: %s",
                    name,
                    reason,
                    exc_info=not isinstance(exc, PluginLoadError),
                )
                self.failures.append(LoadFailure(name, reason))

    def unload(self, name: str, *, reason: str) -> None:
        """Remove a loaded plugin and everything it declared; record why."""
        self.plugins.pop(name, None)
        self.commands = {k: c for k, c in self.commands.items() if c.plugin != name}
        self.triggers = [t for t in self.triggers if t.plugin != name]
        self.actions = {k: a for k, a in self.actions.items() if a.plugin != name}
        self.failures.append(LoadFailure(name, reason))

    def unique_commands(self) -> list[CommandSpec]:
        """Each command once (aliases folded), sorted by path."""
        return sorted({c.path: c for c in self.commands.values()}.values(), key=lambda c: c.path)

    def resolve(self, words: str) -> tuple[CommandSpec, str] | None:
        """Longest command path that starts ``words``; returns the spec and the remaining text."""
        parts = words.split(maxsplit=3)
        for n in (3, 2, 1):
            if len(parts) >= n:
                key = " ".join(parts[:n]).lower()
                spec = self.commands.get(key)
                if spec is not None:
                    rest = words.strip()
                    for _ in range(n):
                        rest = rest.split(maxsplit=1)[1] if len(rest.split(maxsplit=1)) > 1 else ""
                    return spec, rest
        return None

    def suggest(self, word: str) -> str | None:
        """The closest command name to an unknown one, for 'did you mean'."""
        import difflib

        match = difflib.get_close_matches(word.lower(), list(self.commands), n=1, cutoff=0.6)
        return match[0] if match else None


def discover(enabled: Iterable[str] | None = None) -> list[tuple[str, Callable[[], type[Plugin]]]]:
    """Plugins registered under the ``storyloom.plugins`` entry-point group."""
    wanted = set(enabled) if enabled is not None else None
    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if wanted is None or ep.name in wanted:
            found.append((ep.name, ep.load))
    return found
