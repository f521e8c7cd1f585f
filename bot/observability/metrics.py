"""The bot process's Prometheus metrics: events and commands, generation, moderation, storage.

One :class:`BotMetrics` per app, with its own registry (several apps in one process, as in the
tests, never mix their counts). The components expose small hooks and :meth:`instrument` attaches
to them; nothing here runs unless those components call it. Label values are declared names
(plugin, command path, filter family), never what people wrote, so the series stay few.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from bot import __version__
from bot.errors import (
    Blocked,
    GenerationTimeout,
    Overloaded,
    PermissionDenied,
    PluginDisabled,
    RateLimited,
    UnknownCommand,
    UsageError,
    UserFacingError,
)
from bot.observability.scope import current_scope

if TYPE_CHECKING:
    from bot.app import App
    from bot.moderation.types import ModerationContext, Verdict

_OUTCOMES: tuple[tuple[type[BaseException], str], ...] = (
    (Blocked, "blocked"),
    (RateLimited, "rate_limited"),
    (PermissionDenied, "denied"),
    (PluginDisabled, "disabled"),
    (UnknownCommand, "unknown"),
    (UsageError, "usage"),
    (Overloaded, "busy"),
    (GenerationTimeout, "timeout"),
    (UserFacingError, "refused"),
    (asyncio.CancelledError, "cancelled"),
)
"""How an event ended, by the exception that ended it (first match); anything else is ``error``."""

COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
GENERATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STORAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def outcome_of(exc: BaseException | None) -> str:
    """``ok``, ``blocked``, ``rate_limited``, ``denied``, ``usage``, ``busy``, … or ``error``."""
    if exc is None:
        return "ok"
    return next((label for cls, label in _OUTCOMES if isinstance(exc, cls)), "error")


def filter_of(rule: str) -> str:
    """The filter family of a verdict's rule: ``keyword:builtin``, ``regex``, ``classifier``,
    ``personal_data``, ``invite``, ``mention``, ``length``; ``none`` when nothing matched."""
    if not rule:
        return "none"
    parts = rule.split(":")
    return ":".join(parts[:2]) if parts[0] == "keyword" else parts[0]


class BotMetrics:
    """Counters, histograms and gauges of one app (names in the README, "Operating")."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        kw: dict[str, Any] = {"registry": self.registry}
        self.events = Counter(
            "storyloom_events", "Incoming events the router handled, by kind", ["kind"], **kw
        )
        self.commands = Counter(
            "storyloom_commands",
            "Events a plugin handler took (commands, buttons, triggers) or that failed before "
            "one did, by plugin, command and outcome",
            ["plugin", "command", "outcome"],
            **kw,
        )
        self.command_seconds = Histogram(
            "storyloom_command_seconds",
            "Time from an event reaching the router to its answer being posted",
            ["plugin", "command"],
            buckets=COMMAND_BUCKETS,
            **kw,
        )
        self.in_flight = Gauge("storyloom_events_in_flight", "Events being handled", **kw)
        self.generation_queue_depth = Gauge(
            "storyloom_generation_queue_depth", "Generation requests waiting in the queue", **kw
        )
        self.generation_active = Gauge(
            "storyloom_generation_active", "Generation requests being generated", **kw
        )
        self.generation_wait = Histogram(
            "storyloom_generation_queue_wait_seconds",
            "Time a generation request waited in the queue before the backend took it",
            buckets=WAIT_BUCKETS,
            **kw,
        )
        self.generation_seconds = Histogram(
            "storyloom_generation_request_seconds",
            "Time from a generation request's submission to its end, by outcome",
            ["outcome"],
            buckets=GENERATION_BUCKETS,
            **kw,
        )
        self.moderation_verdicts = Counter(
            "storyloom_moderation_verdicts",
            "Moderation verdicts on recorded texts, by direction, deciding filter and verdict",
            ["direction", "filter", "verdict"],
            **kw,
        )
        self.storage_seconds = Histogram(
            "storyloom_storage_seconds",
            "Time a storage transaction took (read, write, or a batched group commit)",
            ["operation"],
            buckets=STORAGE_BUCKETS,
            **kw,
        )
        self.build = Info("storyloom_build", "storyloom's version and the model it serves", **kw)
        self.build.info({"version": __version__, "model": ""})

    # -- hooks the components call ------------------------------------------------------------

    @contextmanager
    def track_event(self) -> Iterator[None]:
        """Count the event handled in the block, its outcome (from the exception that leaves
        the block, if any) and its time, under the plugin and command its scope names."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            yield
        except BaseException as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            scope = current_scope()
            self.events.labels(kind=scope.kind if scope else "message").inc()
            if scope is not None and (scope.command or outcome != "ok"):
                labels = {"plugin": scope.plugin, "command": scope.command}
                self.commands.labels(outcome=outcome, **labels).inc()
                self.command_seconds.labels(**labels).observe(time.perf_counter() - started)

    def moderation_verdict(self, verdict: Verdict, ctx: ModerationContext) -> None:
        self.moderation_verdicts.labels(
            direction=ctx.direction.value, filter=filter_of(verdict.rule), verdict=verdict.action
        ).inc()

    def generation_finished(
        self, outcome: str, wait_s: float | None, total_s: float | None
    ) -> None:
        if wait_s is not None:
            self.generation_wait.observe(wait_s)
        if total_s is not None:
            self.generation_seconds.labels(outcome=outcome).observe(total_s)

    def storage_operation(self, operation: str, seconds: float) -> None:
        self.storage_seconds.labels(operation=operation).observe(seconds)

    # -- wiring ---------------------------------------------------------------------------------

    def watch(self, app: App) -> None:
        """Read ``app``'s queue, work in flight and model (the router, moderation pipeline and
        store are given these metrics when the app builds them)."""
        generation = app.generation
        generation.metrics.add_observer(self.generation_finished)
        self.generation_queue_depth.set_function(lambda: generation.stats().queue_depth)
        self.generation_active.set_function(lambda: generation.stats().active)
        self.in_flight.set_function(lambda: app.router.in_flight)
        self.build.info({"version": __version__, "model": generation.model_name})

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
