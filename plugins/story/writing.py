"""Writing: the storyteller's prompt, its generation and the cleaning of what the model wrote.

The cleaning is the writer's ``post`` step, so the cleaned text is exactly what the filters
checked and what is posted and stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bot.errors import UsageError
from bot.generation.types import ChatMessage, GenerationRequest, GenerationResult, SamplingParams
from bot.plugin import Call
from bot.records import PromptPartKind, Story
from bot.types import ChannelRef, SentMessage
from plugins.kit import textcraft
from plugins.kit.keywords import key_terms
from plugins.kit.rerank import Candidate, rank
from plugins.kit.words import words
from plugins.story.config import sampling_params
from plugins.story.env import StoryEnv
from plugins.story.game import GameState
from plugins.story.prompts import (
    BuiltPrompt,
    base_continuation,
    base_recap,
    chat_continuation,
    chat_recap,
    header,
    prompt_budget,
    without_turn,
)
from plugins.story.render import MESSAGE_ROOM, NOTHING_WRITTEN
from plugins.story.session import Sessions

log = logging.getLogger(__name__)

RECAP_CHARS = 900
FAVOURED_TERMS = 8


class StoryWriting:
    """Prompts, sampling and generation for one story plugin."""

    def __init__(self, env: StoryEnv, sessions: Sessions) -> None:
        self._env = env
        self._sessions = sessions

    async def sampling(
        self,
        channel: ChannelRef,
        state: GameState,
        *,
        offset: int = 0,
        max_new_tokens: int | None = None,
    ) -> SamplingParams:
        """The sampling parameters in force: the story's preset (or the server's), the
        settings file's overrides, the server's temperature and length."""
        config = self._env.config
        guild = await self._sessions.guild(channel)
        preset = state.sampling_preset or str(guild["sampling_preset"])
        overrides = dict(config.sampling)
        if guild.get("temperature") is not None:
            overrides["temperature"] = float(guild["temperature"])
        seed = None if config.seed is None else config.seed + offset
        return sampling_params(
            preset,
            overrides=overrides,
            max_new_tokens=max_new_tokens or int(guild["max_new_tokens"]),
            seed=seed,
        )

    @staticmethod
    def player_names(story: Story, state: GameState) -> list[str]:
        names = [p.name for p in state.players]
        if story.created_by_name not in names:
            names.append(story.created_by_name)
        return names

    async def build_prompt(
        self,
        story: Story,
        state: GameState,
        *,
        max_new_tokens: int,
        exclude_turn_id: int | None = None,
        recap: bool = False,
    ) -> BuiltPrompt:
        """The prompt for the next continuation (or a recap) of ``story``."""
        config = self._env.config
        model = self._env.context.model
        chat = model.is_chat_model
        head = header(story)
        budget = prompt_budget(
            max_context_tokens=model.max_context_tokens,
            max_new_tokens=max_new_tokens,
            fixed_text=head + ("\n\n" + "x" * 60 if recap else ""),
            count_tokens=model.count_tokens,
            chat=chat,
        )
        if budget < 16:
            raise UsageError(
                "The model's context is too small for this story's premise. "
                "Try a shorter premise or fewer new tokens."
            )
        cue = "" if (chat or recap) else config.base_cue
        prose = config.prose_prompt and not chat
        context = await self._env.context.store.assemble_context(
            story,
            budget,
            model.count_tokens,
            author_note_depth=config.author_note_depth,
            lore_scan_turns=config.lore_scan_turns,
            cue=cue,
            prose=prose,
        )
        sep = "\n\n" if prose else "\n"
        text = (
            context.text
            if exclude_turn_id is None
            else without_turn(context, exclude_turn_id, separator=sep)
        )
        prompt: str | tuple[ChatMessage, ...]
        if recap:
            prompt = chat_recap(head, text) if chat else base_recap(head, text)
        elif chat:
            prompt = chat_continuation(
                story,
                text,
                player_names=self.player_names(story, state),
                allow_player_voice=config.allow_player_voice,
            )
        else:
            prompt = base_continuation(head, text, separator=sep)
            if not cue.strip():
                prompt += sep
        return BuiltPrompt(
            prompt=prompt, text=base_continuation(head, text, separator=sep), context=context
        )

    def favouring(self, params: SamplingParams, story: Story, built: BuiltPrompt) -> SamplingParams:
        """``params`` nudged toward the story's key names and things (base models only)."""
        favour = self._env.config.favour
        if not favour or self._env.context.model.is_chat_model:
            return params
        recent = [p.text for p in built.context.parts if p.kind is PromptPartKind.TURN][-3:]
        about = "\n".join([story.premise, story.memory, *recent])
        terms = [t.text for t in key_terms(about, limit=4 * FAVOURED_TERMS) if t.noun]
        terms = terms[:FAVOURED_TERMS]
        return params.replace(favoured_words=tuple(terms), favour=favour) if terms else params

    def cleaner(
        self, story: Story, state: GameState, built: BuiltPrompt, limit: int
    ) -> tuple[Callable[[str], str], Callable[[str], str]]:
        """(clean a finished text, clean a text still being written)."""
        config = self._env.config
        kwargs: dict[str, Any] = {
            "prompt": built.text,
            "player_names": self.player_names(story, state),
            "own_labels": (config.narrator_name, "Narrator", "Storyteller", "Story"),
            "allow_player_voice": config.allow_player_voice,
            "limit": limit,
        }
        return (
            lambda raw: textcraft.clean_continuation(raw, **kwargs),
            lambda raw: textcraft.clean_partial(raw, **kwargs),
        )

    def request(
        self, call: Call, built: BuiltPrompt, params: SamplingParams, *, seed_step: int = 0
    ) -> GenerationRequest:
        """The generation request for ``built``; ``seed_step`` varies a seeded request."""
        if seed_step and params.seed is not None:
            params = params.replace(seed=params.seed + 101 * seed_step)
        return GenerationRequest(
            prompt=built.prompt,
            params=params,
            channel_key=call.channel.key,
            deadline_s=self._env.config.generation_deadline_s,
        )

    async def write(
        self,
        call: Call,
        story: Story,
        state: GameState,
        *,
        exclude_turn_id: int | None = None,
        seed_offset: int = 0,
    ) -> tuple[str, SentMessage | None, list[str]]:
        """Write and post one continuation. Returns (text, message, runners-up); the text is
        "" when nothing usable came out (the message then says so).

        With ``best_of > 1`` that many candidates are written at once (the service batches
        them), ranked by :func:`plugins.kit.rerank.rank` and the best is posted; the runners-up
        (best first) are returned so the caller keeps them as versions. With ``best_of == 1``
        and ``stream`` the text is shown as it is written."""
        config = self._env.config
        params = await self.sampling(call.channel, state, offset=seed_offset)
        built = await self.build_prompt(
            story, state, max_new_tokens=params.max_new_tokens, exclude_turn_id=exclude_turn_id
        )
        params = self.favouring(params, story, built)
        clean, partial = self.cleaner(story, state, built, MESSAGE_ROOM)
        if config.best_of > 1:
            async with call.typing():
                ranked = await self._best_of(call, story, built, params, clean)
            text = ranked[0] if ranked else ""
            return text, await call.reply(text or NOTHING_WRITTEN), ranked[1:]
        request = self.request(call, built, params)
        if config.stream:
            text, message = await call.stream_reply(
                request, render=partial, final=clean, empty=NOTHING_WRITTEN
            )
            return text, message, []
        result = await self._env.context.writer.complete(
            request, channel=call.channel, user_id=call.author.id, post=clean
        )
        return result.text, await call.reply(result.text or NOTHING_WRITTEN), []

    async def candidates(self, call: Call, story: Story, state: GameState, count: int) -> list[str]:
        """Up to ``count`` different continuations to vote on (each short enough that all fit
        one message); failures are logged and left out, unless nothing else came out."""
        params = await self.sampling(call.channel, state)
        built = await self.build_prompt(story, state, max_new_tokens=params.max_new_tokens)
        params = self.favouring(params, story, built)
        clean, _ = self.cleaner(story, state, built, (MESSAGE_ROOM - 200) // count)
        async with call.typing():
            results = await self._complete_many(call, built, params, clean, count)
        return list(dict.fromkeys(r.text for r in results))

    async def recap(self, call: Call, story: Story, state: GameState) -> str:
        """A short summary of the story ("" when the model wrote nothing usable)."""
        params = await self.sampling(
            call.channel, state, max_new_tokens=self._env.config.recap_max_new_tokens
        )
        params = params.replace(temperature=min(params.temperature, 0.6))
        built = await self.build_prompt(
            story, state, max_new_tokens=params.max_new_tokens, recap=True
        )
        names = self.player_names(story, state)
        try:
            async with call.typing():
                result = await self._env.context.writer.complete(
                    self.request(call, built, params),
                    channel=call.channel,
                    user_id=call.author.id,
                    post=lambda raw: textcraft.clean_continuation(
                        raw, prompt=built.text, player_names=names, limit=RECAP_CHARS
                    ),
                )
        except Exception as exc:  # a recap falls back to the story's own words
            log.info("recap generation failed in %s: %s", call.channel.key, type(exc).__name__)
            return ""
        return result.text

    async def _complete_many(
        self,
        call: Call,
        built: BuiltPrompt,
        params: SamplingParams,
        clean: Callable[[str], str],
        count: int,
    ) -> list[GenerationResult]:
        """``count`` checked, cleaned completions at once (the service batches them), those
        with text; when none has any, the first failure is raised (if there was one)."""
        writer = self._env.context.writer
        outcomes = await asyncio.gather(
            *(
                writer.complete(
                    self.request(call, built, params, seed_step=i),
                    channel=call.channel,
                    user_id=call.author.id,
                    post=clean,
                )
                for i in range(count)
            ),
            return_exceptions=True,
        )
        results: list[GenerationResult] = []
        failures: list[BaseException] = []
        for outcome in outcomes:
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                log.info("a candidate failed in %s: %s", call.channel.key, type(outcome).__name__)
                failures.append(outcome)
            elif outcome.text:
                results.append(outcome)
        if not results and failures:
            raise failures[0]
        return results

    async def _best_of(
        self,
        call: Call,
        story: Story,
        built: BuiltPrompt,
        params: SamplingParams,
        clean: Callable[[str], str],
    ) -> list[str]:
        """``best_of`` checked, cleaned candidates, best first (duplicates dropped)."""
        results = await self._complete_many(call, built, params, clean, self._env.config.best_of)
        if not results:
            return []
        recent = [p.text for p in built.context.parts if p.kind is PromptPartKind.TURN][-3:]
        steer = "\n".join([story.premise, story.memory, story.author_note, *recent])
        ranked = rank(
            [Candidate(r.text, r.mean_logprob) for r in results],
            context=steer,
            known=words(built.text),
        )
        log.debug(
            "best of %d in %s: scores %s",
            len(ranked),
            call.channel.key,
            [round(r.score, 2) for r in ranked],
        )
        return list(dict.fromkeys(r.candidate.text for r in ranked))
