"""The headline plugin: ``/headline [text]`` writes a news-style headline and sub-headline."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated, ClassVar

from bot.errors import Blocked, UsageError
from bot.generation.types import ChatMessage, GenerationRequest
from bot.plugin import Call, Cooldown, Param, Plugin, PluginContext, command
from bot.types import Permission, Reply
from plugins.headline.prompts import (
    base_clause_prompt,
    base_headline_prompt,
    base_subheadline_prompt,
    chat_headline_prompt,
    parse_chat_answer,
)
from plugins.headline.ranking import (
    Allowed,
    clean_headline,
    clean_subheadline,
    extractive_headline,
    headline_from_clause,
    rank_headlines,
    score_subheadline,
    story_subjects,
    title_case,
)
from plugins.headline.settings import HeadlineSettings
from plugins.kit import presets, words
from plugins.kit.textcraft import fit_message, normalize_space

__all__ = ["Headline", "HeadlinePlugin"]

log = logging.getLogger(__name__)

USAGE = "/headline [text]"
PRESET_USAGE = "/headline-preset [setting] [value|reset]"
_GENERIC = "A Story Worth Telling"
CLAUSE_STOPS = ("\n", ".", ",", "!", "?", ";", ":", '"', "“", "”")


@dataclass(frozen=True, slots=True)
class Headline:
    """A chosen headline; ``generated`` is False when the extractive fallback was used."""

    text: str
    subheadline: str
    generated: bool
    candidates: int


class HeadlinePlugin(Plugin):
    """Headlines for the story so far, for a given text, or for the channel's conversation."""

    name: ClassVar[str] = "headline"
    description: ClassVar[str] = "News-style headlines for your story or any text."

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.settings = context.settings_as(HeadlineSettings)

    async def setup(self) -> None:
        await asyncio.to_thread(words.load_lexicons)
        presets.register(self.context.store.settings, self.name)

    @command(
        "headline",
        description="A news-style headline for the story so far, for your text, or for the chat.",
        examples=("/headline", "/headline A dragon opened a bakery in the village square."),
        cooldown=Cooldown(rate=2, per=20.0),
    )
    async def headline(
        self,
        call: Call,
        text: Annotated[
            str,
            Param(
                "Text to headline (default: this channel's story, else its recent chat)",
                rest=True,
                max=4000,
            ),
        ] = "",
    ) -> Reply:
        """Write, rank and post a headline."""
        source = await self._source(call, normalize_space(text))
        async with call.typing():
            result = await self.write(call, source)
        lines = [f"📰 **{result.text}**"]
        if result.subheadline:
            lines.append(f"*{result.subheadline}*")
        return Reply(text=fit_message("\n".join(lines)))

    @command(
        "headline-preset",
        description="Show or change how headlines are sampled in this server.",
        permission=Permission.MANAGE_GUILD,
        examples=(
            "/headline-preset",
            "/headline-preset temperature 0.7",
            "/headline-preset temperature reset",
        ),
    )
    async def preset(
        self,
        call: Call,
        setting: Annotated[
            str, Param("temperature, top_k, top_p, repetition_penalty or no_repeat_ngram_size")
        ] = "",
        value: Annotated[str, Param("A number, or 'reset'")] = "",
    ) -> str:
        """Show the effective preset, or change one value for this server."""
        return await presets.preset_command(
            self.context.store.settings,
            self.name,
            self.settings.sampling,
            setting,
            value,
            guild_id=call.channel.guild_id,
            usage=PRESET_USAGE,
            label="Headline",
        )

    # -- the work -------------------------------------------------------------------------
    async def write(self, call: Call, source: str) -> Headline:
        """Generate candidates for ``source``, rank them, and fall back to an extractive one."""
        settings = self.settings
        preset = await presets.effective_preset(
            self.context.store.settings,
            self.name,
            settings.sampling,
            call.channel.guild_id,
            call.channel.channel_id,
        )
        chat = self.context.model.is_chat_model
        source = self._fit_source(source)
        count = settings.candidates
        subs: dict[str, str] = {}
        heads: list[str] = []
        if chat:
            prompt = chat_headline_prompt(source, subheadline=settings.subheadline)
            budget = settings.max_new_tokens * (3 if settings.subheadline else 1)
            for answer in await self._sample(call, prompt, preset, count, budget, ()):
                head, sub = parse_chat_answer(answer)
                heads.append(head)
                if sub:
                    subs.setdefault(head, sub)
        else:
            heads = await self._base_candidates(call, source, preset, count)
        allowed = self._allowed(call)
        ranked = await rank_headlines(heads, source, allowed)
        if not ranked:
            fallback = extractive_headline(source)
            text = fallback if await allowed(fallback) else _GENERIC
            log.info(
                "headline in %s: keyword fallback after %d model candidates",
                call.channel.key,
                len(heads),
            )
            return Headline(text, "", False, len(heads))
        best = ranked[0]
        sub = ""
        if settings.subheadline:
            raw_sub = next(
                (
                    s
                    for h, s in subs.items()
                    if title_case(clean_headline(h)).lower() == best.text.lower()
                ),
                "",
            )
            options = [raw_sub] if raw_sub else []
            if not chat:
                options = await self._sample(
                    call,
                    base_subheadline_prompt(source, best.text, examples=settings.examples),
                    preset,
                    max(2, count // 2),
                    settings.max_new_tokens + 8,
                    ("\n",),
                )
            sub = await self._best_sub(options, best.text, source, allowed)
        return Headline(best.text, sub, True, len(heads))

    async def _base_candidates(
        self, call: Call, source: str, preset: presets.SamplingPreset, count: int
    ) -> list[str]:
        """Headlines a base model writes: it completes "This is the story of how <subject>"
        for the story's main names and nouns; each clause becomes "How <subject> <clause>".
        Without a subject, the few-shot ``Headline:`` prompt."""
        subjects = story_subjects(source)
        if not subjects:
            prompt = base_headline_prompt(source, examples=self.settings.examples)
            return await self._sample(
                call, prompt, preset, count, self.settings.max_new_tokens, ("\n",)
            )
        per = max(1, -(-count // len(subjects)))
        batches = await asyncio.gather(
            *(
                self._sample(call, base_clause_prompt(source, s), preset, per, 12, CLAUSE_STOPS)
                for s in subjects
            )
        )
        heads = [
            headline_from_clause(subject, clause)
            for subject, clauses in zip(subjects, batches, strict=True)
            for clause in clauses
        ]
        return [h for h in heads if h]

    async def _best_sub(
        self, options: list[str], headline: str, source: str, allowed: Allowed
    ) -> str:
        scored = [(score_subheadline(o, headline, source), clean_subheadline(o)) for o in options]
        for _score, text in sorted(
            ((s, t) for s, t in scored if s is not None), key=lambda pair: -pair[0]
        ):
            if await allowed(text):
                return text[:1].upper() + text[1:]
        return ""

    async def _sample(
        self,
        call: Call,
        prompt: str | tuple[ChatMessage, ...],
        preset: presets.SamplingPreset,
        count: int,
        max_new_tokens: int,
        stop: tuple[str, ...],
    ) -> list[str]:
        base = preset.params()
        requests = [
            GenerationRequest(
                prompt=prompt,
                params=base.replace(
                    max_new_tokens=max_new_tokens, stop=stop, seed=call.random.randrange(2**31)
                ),
                channel_key=call.channel.key,
                priority=self.settings.priority,
                deadline_s=self.settings.deadline_s,
            )
            for _ in range(count)
        ]
        writer = self.context.writer

        async def one(request: GenerationRequest) -> str:
            try:
                result = await writer.complete(
                    request, channel=call.channel, user_id=call.author.id
                )
            except Blocked:
                return ""
            return result.text

        return list(await asyncio.gather(*(one(r) for r in requests)))

    def _allowed(self, call: Call) -> Allowed:
        writer = self.context.writer

        async def allowed(text: str) -> bool:
            return await writer.check(text, channel=call.channel, user_id=call.author.id)

        return allowed

    def _fit_source(self, source: str) -> str:
        """The newest part of ``source`` that fits ``source_tokens`` (whole words)."""
        limit = self.settings.source_tokens
        count = self.context.model.count_tokens
        if count(source) <= limit:
            return source
        words = source.split()
        low, high = 1, len(words)
        while low < high:  # the longest tail that fits
            mid = (low + high + 1) // 2
            if count(" ".join(words[-mid:])) <= limit:
                low = mid
            else:
                high = mid - 1
        return " ".join(words[-low:])

    async def _source(self, call: Call, text: str) -> str:
        if text.strip():
            return text.strip()
        store = self.context.store
        story = await store.stories.get_active(call.channel)
        if story is not None:
            turns = await store.turns.window(story.id, limit=self.settings.story_turns)
            told = " ".join(t.text.strip() for t in turns)
            source = f"{story.premise.strip()} {told}".strip()
            if source:
                return source
        messages = await store.messages.recent(call.channel, limit=self.settings.recent_messages)
        said = [
            m.text.strip()
            for m in messages
            if m.text.strip() and not m.text.lstrip().startswith(("/", "!"))
        ]
        if said:
            return " ".join(said)
        raise UsageError(
            "There is nothing to headline yet. Start a story, or give me some "
            "text: `/headline A cat found a hat`.",
            usage=USAGE,
        )
