"""Moderated generation: the model's text is checked, exactly as it will be posted, before
anyone sees it.

One loop serves complete and streamed calls: an attempt generates, the plugin's ``post`` step
turns the raw text into the text to post, and that text is checked (streams: the ``partial``
text at word boundaries as well). A blocked attempt is regenerated (new seed, a little hotter)
up to ``max_attempts`` times, then refused with :class:`~bot.errors.Blocked` (the settings'
``refusal_message``). What passes is scrubbed of mentions and personal data and returned as a
:class:`~bot.ports.CheckedText`, which the router posts without checking it again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from bot.errors import Blocked
from bot.generation.service import GenerationService
from bot.generation.types import GenerationRequest, GenerationResult
from bot.moderation.mentions import sanitize_output
from bot.moderation.pipeline import ModerationPipeline
from bot.moderation.types import Direction, ModerationContext
from bot.ports import CheckedText
from bot.types import ChannelRef

log = logging.getLogger(__name__)

Chunks = AsyncGenerator[tuple[str, bool], None]
"""One attempt's raw text so far and whether it is the last (complete calls: one chunk)."""


def _same(text: str) -> str:
    return text


def _at_boundary(text: str) -> bool:
    return text[-1:].isspace() or text[-1:] in ".,;:!?\"'"


class ModeratedWriter:
    """Implements :class:`bot.ports.Writer` on top of the generation service and moderation."""

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

    async def _suppressing(
        self, request: GenerationRequest, ctx: ModerationContext
    ) -> GenerationRequest:
        """``request`` with the words that would block here as its ``banned_words``, so the
        model does not write them in the first place (the checks below stay the backstop)."""
        words = await self._moderation.words_to_suppress(ctx)
        if not words:
            return request
        banned = tuple(dict.fromkeys((*request.params.banned_words, *words)))
        return dataclasses.replace(request, params=request.params.replace(banned_words=banned))

    async def check(self, text: str, *, channel: ChannelRef, user_id: str | None = None) -> bool:
        verdict = await self._moderation.check(text, _output(channel, user_id))
        return not verdict.blocked

    async def complete(
        self,
        request: GenerationRequest,
        *,
        channel: ChannelRef,
        user_id: str | None = None,
        post: Callable[[str], str] = _same,
    ) -> GenerationResult:
        results: list[GenerationResult] = []

        async def one(attempt: GenerationRequest) -> Chunks:
            results.append(await self._generation.complete(attempt))
            yield results[-1].text, True

        text = CheckedText()
        async with aclosing(self._checked(request, one, channel, user_id, post, None)) as texts:
            async for checked in texts:
                text = checked
        return dataclasses.replace(results[-1], text=text)

    async def stream(
        self,
        request: GenerationRequest,
        *,
        channel: ChannelRef,
        user_id: str | None = None,
        post: Callable[[str], str] = _same,
        partial: Callable[[str], str] | None = None,
    ) -> AsyncGenerator[CheckedText, None]:
        async def chunks(attempt: GenerationRequest) -> Chunks:
            async with aclosing(self._generation.stream(attempt)) as stream:
                async for chunk in stream:
                    yield chunk.text, chunk.done

        checked = self._checked(request, chunks, channel, user_id, post, partial or post)
        async with aclosing(checked) as texts:
            async for text in texts:
                yield text

    async def _checked(
        self,
        request: GenerationRequest,
        generate: Callable[[GenerationRequest], Chunks],
        channel: ChannelRef,
        user_id: str | None,
        post: Callable[[str], str],
        partial: Callable[[str], str] | None,
    ) -> AsyncGenerator[CheckedText, None]:
        """The one regenerate loop: yields checked partial texts (streams), then the checked
        final text; raises Blocked when every attempt was blocked."""
        ctx = _output(channel, user_id)
        request = await self._suppressing(request, ctx)
        for attempt in range(self._max_attempts):
            blocked = False
            raw = ""
            last_check = 0.0
            async with aclosing(generate(self._attempt(request, attempt))) as chunks:
                async for raw, done in chunks:
                    now = time.monotonic()
                    if done or partial is None or now - last_check < self._check_interval_s:
                        continue
                    if not _at_boundary(raw):
                        continue
                    last_check = now
                    shown = sanitize_output(partial(raw))
                    if not shown.strip():
                        continue
                    if (await self._moderation.check(shown, ctx, record=False)).blocked:
                        await self._moderation.check(shown, ctx)  # audit the block (once)
                        blocked = True
                        break
                    yield CheckedText(shown)
            if not blocked:
                final = sanitize_output(post(raw))
                if not final.strip() or not (await self._moderation.check(final, ctx)).blocked:
                    yield CheckedText(final)
                    return
            log.info("generated text blocked in %s, attempt %d", channel.key, attempt + 1)
        refusal = self._moderation.settings.refusal_message
        raise Blocked(refusal, category="generated", rule="output")


def _output(channel: ChannelRef, user_id: str | None) -> ModerationContext:
    return ModerationContext.for_channel(Direction.OUTPUT, channel, user_id)
