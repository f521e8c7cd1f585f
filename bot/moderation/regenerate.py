"""Model output that trips a filter is regenerated (up to N times), then refused: never posted."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.moderation.mentions import sanitize_output
from bot.moderation.pipeline import ModerationPipeline
from bot.moderation.types import ModerationContext, Verdict

log = logging.getLogger(__name__)

Generate = Callable[[int, tuple[str, ...]], Awaitable[str]]
"""``generate(attempt, rejected_texts)``: produce a candidate; ``rejected_texts`` are earlier
candidates that were blocked (a backend may turn them into bad-words ids or a stronger prompt)."""


@dataclass(frozen=True, slots=True)
class CheckedOutput:
    """What may be posted: ``text`` is sanitised, or the refusal when ``refused`` is True."""

    text: str
    verdict: Verdict
    attempts: int
    refused: bool


async def generate_checked(
    pipeline: ModerationPipeline,
    generate: Generate,
    ctx: ModerationContext,
    *,
    max_regen_attempts: int | None = None,
) -> CheckedOutput:
    """Generate, moderate, and regenerate blocked candidates; a blocked text is never returned.

    Runs ``1 + max_regen_attempts`` generations at most (default from the settings); if every
    candidate is blocked the result is the configured refusal message.
    """
    retries = (
        pipeline.settings.max_regen_attempts if max_regen_attempts is None else max_regen_attempts
    )
    rejected: list[str] = []
    verdict = Verdict.allow()
    for attempt in range(retries + 1):
        candidate = await generate(attempt, tuple(rejected))
        verdict = await pipeline.check(candidate, ctx)
        if not verdict.blocked:
            return CheckedOutput(sanitize_output(candidate), verdict, attempt + 1, refused=False)
        log.info("generated text blocked by %s (attempt %d)", verdict.rule, attempt + 1)
        rejected.append(candidate)
    return CheckedOutput(pipeline.settings.refusal_message, verdict, retries + 1, refused=True)
