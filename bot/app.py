"""The composition root: builds every service from Settings, starts and stops them in order."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.builtin.core import CorePlugin
from bot.builtin.moderation import ModerationPlugin
from bot.config import Settings
from bot.generation.service import GenerationService, build_generation_service
from bot.moderation.mod_log import ModLogSink
from bot.moderation.pipeline import ModerationPipeline
from bot.moderation.rules_store import RULES_KEY as RULES_KEY
from bot.moderation.rules_store import RULES_NAMESPACE as RULES_NAMESPACE
from bot.moderation.rules_store import StoreRulesProvider as StoreRulesProvider
from bot.moderation.types import AuditEvent
from bot.observability.metrics import BotMetrics
from bot.observability.server import MetricsServer
from bot.plugin import Plugin, PluginContext
from bot.ratelimit import Limit
from bot.records import ModerationDirection
from bot.registry import PluginRegistry, discover
from bot.router import Router, RouterLimits
from bot.writer import ModeratedWriter
from storage import Store, open_store

log = logging.getLogger(__name__)


class StoreAuditSink:
    """Writes moderation blocks and flags to the audit table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(self, event: AuditEvent) -> None:
        await self._store.moderation.record(
            guild_id=event.guild_id,
            channel_id=event.channel_id,
            user_id=event.user_id,
            direction=ModerationDirection(event.direction.value),
            rule=event.rule,
            category=event.category,
            action=event.action.value,
            text=event.text,
            score=event.score,
        )


@dataclass(slots=True)
class App:
    """A running storyloom: settings, store, generation, moderation, plugins and the router."""

    settings: Settings
    store: Store
    generation: GenerationService
    moderation: ModerationPipeline
    mod_log: ModLogSink
    """Audit sink that also posts mod-log summaries; adapters attach their poster."""
    registry: PluginRegistry
    router: Router
    writer: ModeratedWriter
    _contexts: dict[str, PluginContext] = field(default_factory=dict)
    metrics: BotMetrics = field(default_factory=BotMetrics)
    """Prometheus metrics, served with ``/healthz`` on ``[metrics] host:port`` when enabled."""
    metrics_server: MetricsServer | None = None

    @classmethod
    async def create(
        cls, settings: Settings, *, plugins: Iterable[type[Plugin]] | None = None
    ) -> App:
        """Open the store (migrating it), load the model, load plugins, and return a ready app.

        ``plugins`` replaces entry-point discovery (tests, embedding); the core plugin is always on.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        metrics = BotMetrics()
        endpoint = MetricsServer(settings.metrics, metrics)
        await endpoint.start()  # first: /healthz answers 503 while the model loads
        try:
            store = await open_store(
                settings.resolved_storage(), observer=metrics.storage_operation
            )
        except BaseException:
            await endpoint.close()
            raise
        generation = build_generation_service(settings.generation)
        try:
            await generation.start()
            app = await cls._assemble(settings, store, generation, plugins, metrics)
        except BaseException:
            await generation.close()
            await store.close()
            await endpoint.close()
            raise
        app.metrics_server = endpoint
        metrics.watch(app)
        endpoint.ready(app)
        return app

    @classmethod
    async def _assemble(
        cls,
        settings: Settings,
        store: Store,
        generation: GenerationService,
        plugins: Iterable[type[Plugin]] | None,
        metrics: BotMetrics,
    ) -> App:
        rules = StoreRulesProvider(store)
        fallback = settings.discord.mod_log_channel_id
        mod_log = ModLogSink(
            StoreAuditSink(store),
            rules,
            fallback_channel_id=str(fallback) if fallback is not None else None,
        )
        moderation = ModerationPipeline(
            settings.moderation,
            rules_provider=rules,
            audit=mod_log,
            observer=metrics.moderation_verdict,
        )
        writer = ModeratedWriter(
            generation, moderation, max_attempts=settings.moderation.max_regen_attempts + 1
        )
        registry = PluginRegistry()
        contexts: dict[str, PluginContext] = {}
        seed_source = random.Random()

        def context_for(name: str) -> PluginContext:
            ctx = contexts.get(name)
            if ctx is None:
                ctx = contexts[name] = PluginContext(
                    plugin_name=name,
                    settings=dict(settings.plugins.get(name, {})),
                    writer=writer,
                    store=store,
                    model=generation,
                    random=random.Random(seed_source.random()),
                )
            return ctx

        router_settings = settings.router
        router = Router(
            registry,
            moderator=moderation,
            switches=store.settings,
            limits=RouterLimits(
                user=Limit(router_settings.user_rate, router_settings.user_per_s),
                channel=Limit(router_settings.channel_rate, router_settings.channel_per_s),
                stream_edit_interval_s=router_settings.stream_edit_interval_s,
                max_message_chars=router_settings.max_message_chars,
                prefixes=router_settings.prefixes,
            ),
            contexts=context_for,
            recorder=store.messages,
            metrics=metrics,
        )
        registry.add(
            CorePlugin,
            context_for,
            build=lambda ctx: CorePlugin(
                ctx, registry=registry, switches=store.settings, users=store.users
            ),
        )
        registry.add(
            ModerationPlugin,
            context_for,
            build=lambda ctx: ModerationPlugin(
                ctx, rules=rules, audit=store.moderation, defaults=moderation.settings
            ),
        )
        sources: list[tuple[str, Callable[[], type[Plugin]]]]
        if plugins is None:
            sources = discover(settings.enabled_plugins or None)
        else:
            sources = [(p.name or p.__name__, (lambda p=p: p)) for p in plugins]  # type: ignore[misc]
        registry.load(sources, context_for)
        app = cls(
            settings=settings,
            store=store,
            generation=generation,
            moderation=moderation,
            mod_log=mod_log,
            registry=registry,
            router=router,
            writer=writer,
            metrics=metrics,
            _contexts=contexts,
        )
        for name, plugin in list(registry.plugins.items()):
            try:
                await plugin.setup()
            except Exception as exc:
                log.exception("plugin %s failed in setup; it is unloaded", name)
                registry.unload(name, reason=f"setup failed: {exc}")
        log.info(
            "storyloom ready: %d plugins, model %s", len(registry.plugins), generation.model_name
        )
        return app

    async def close(self, *, drain_timeout: float = 30.0) -> None:
        """Finish (or cancel) in-flight work, then stop plugins, generation and the store."""
        if self.metrics_server is not None:
            self.metrics_server.stopping()
        await self.router.drain(drain_timeout)
        await self.mod_log.drain()
        for name, plugin in self.registry.plugins.items():
            try:
                await plugin.teardown()
            except Exception:
                log.exception("plugin %s failed in teardown", name)
        await self.generation.close()
        await self.store.close()
        if self.metrics_server is not None:
            await self.metrics_server.close()

    @classmethod
    @asynccontextmanager
    async def running(
        cls, settings: Settings, *, plugins: Iterable[type[Plugin]] | None = None
    ) -> AsyncIterator[App]:
        app = await cls.create(settings, plugins=plugins)
        try:
            yield app
        finally:
            await app.close()
