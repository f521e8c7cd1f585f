"""Moderated generation: the model's text is checked before anyone sees it.

A blocked completion is regenerated (new seed, a little hotter) up to ``max_attempts`` times,
then refused with :class:`~bot.errors.Blocked`. Streams are checked at word boundaries, so every
partial text a user sees has passed the filters.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator

from bot.errors import Blocked
from bot.generation.service import GenerationService
from bot.generation.types import GenerationRequest, GenerationResult
from bot.moderation.pipeline import ModerationPipeline
from bot.moderation.regenerate import generate_checked
from bot.moderation.types import Direction, ModerationContext
from bot.types import ChannelRef

log = logging.getLogger(__name__)

REFUSAL = "I couldn't write a continuation that passes this server's content rules. Try steering the story another way."


class ModeratedWriter:
    """Implements :class:`bot.plugin.Writer` on top of the generation service and moderation."""

    def __init__(
        self,
        generation: GenerationService,
        moderation: ModerationPipeline,
        *,
        max_attempts: int = 3,
        check_interval_s: float = 0.25,
    ) -> None:
        self._generation = generation
        self._moderation = moderation
        self._max_attempts = max(1, max_attempts)
        self._check_interval_s = check_interval_s

    def _attempt(self, request: GenerationRequest, attempt: int) -> GenerationRequest:
        if attempt == 0:
            return request
        params = request.params
        seed = None if params.seed is None else params.seed + 7919 * attempt
        params = dataclasses.replace(
            params, seed=seed, temperature=min(1.5, params.temperature + 0.1 * attempt)
        )
        return dataclasses.replace(request, params=params)

    def _ctx(self, channel: ChannelRef, user_id: str | None) -> ModerationContext:
        return ModerationContext.for_channel(Direction.OUTPUT, channel, user_id)

    async def complete(
        self, request: GenerationRequest, *, channel: ChannelRef, user_id: str | None = None
    ) -> GenerationResult:
        results: list[GenerationResult] = []

        async def generate(attempt: int, rejected: tuple[str, ...]) -> str:
            results.append(await self._generation.complete(self._attempt(request, attempt)))
            return results[-1].text

        checked = await generate_checked(
            self._moderation,
            generate,
            self._ctx(channel, user_id),
            max_regen_attempts=self._max_attempts - 1,
        )
        if checked.refused:
            log.info("generation refused in %s after %d attempts", channel.key, checked.attempts)
            raise Blocked(REFUSAL, category="generated", rule="output")
        return results[-1]

    async def stream(
        self, request: GenerationRequest, *, channel: ChannelRef, user_id: str | None = None
    ) -> AsyncIterator[str]:
        """Yield the cumulative text, checked. After a block the text restarts from scratch."""
        ctx = self._ctx(channel, user_id)
        for attempt in range(self._max_attempts):
            blocked = False
            last_check = 0.0
            text = ""
            stream = self._generation.stream(self._attempt(request, attempt))
            try:
                async for chunk in stream:
                    text = chunk.text
                    now = time.monotonic()
                    at_boundary = chunk.done or text[-1:].isspace() or text[-1:] in ".,;:!?\"'"
                    if not at_boundary or now - last_check < self._check_interval_s:
                        continue
                    last_check = now
                    if (await self._moderation.check(text, ctx, record=False)).blocked:
                        await self._moderation.check(text, ctx)  # audit the block (once)
                        blocked = True
                        break
                    yield text
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
            if not blocked:
                if (await self._moderation.check(text, ctx)).blocked:
                    blocked = True
                else:
                    yield text
                    return
            log.info("streamed text blocked in %s, attempt %d", channel.key, attempt + 1)
        raise Blocked(REFUSAL, category="generated", rule="output")
