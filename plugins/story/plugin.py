"""The story plugin: collaborative story games in a channel.

Players start a story, take turns (``/story add`` or just typing), ask the storyteller to
continue, retry and swipe between versions, undo and edit, vote on what happens next, and steer
the story with memory, an author's note and lore. Three modes: ``free`` (anyone, any time),
``round-robin`` (players in join order, a timeout skips absent ones) and ``vote`` (the
storyteller offers 2-3 continuations, players vote).

Guarantees: a player's turn is committed before the storyteller answers; a blocked or failed
generation changes nothing (the storyteller's turn is added only after its final text passed
moderation); bad input gets a usage message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from bot.errors import NotFound, PermissionDenied, StaleState, StateError, UsageError
from bot.generation.types import GenerationRequest, SamplingParams
from bot.moderation.types import Direction, ModerationContext
from bot.plugin import Call, Param, Plugin, PluginContext, action, command, trigger
from bot.types import Attachment, Author, ButtonStyle, ChannelRef, Incoming, Permission, Reply
from plugins.kit import textcraft
from plugins.kit.locks import KeyedLocks
from plugins.kit.rerank import Candidate, rank
from plugins.kit.words import words
from plugins.story.config import (
    GUILD_KEYS,
    MODES,
    SAMPLING_PRESETS,
    SETTINGS_NAMESPACE,
    STORY_PRESETS,
    StorySettings,
    sampling_params,
)
from plugins.story.game import GameState, Player, tally
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
from storage.records import PromptPartKind, Story, StoryStatus, Turn, TurnKind

log = logging.getLogger(__name__)

BOT_ID = "storyloom"
"""``author_id`` of the storyteller's turns."""
OOC_PREFIXES = ("(", "//", "((", "ooc", "OOC", "#")
"""Plain messages starting with these are table talk, not story turns."""
MESSAGE_ROOM = textcraft.DISCORD_LIMIT - 150
"""Room for a continuation in one message (leaves space for a header line)."""
WRITE_ATTEMPTS = 3
_CACHE_SWEEP_AT = 1024
"""Cached stories kept before expired entries are swept out."""
"""How often a version-checked write is retried on a fresh read when another writer came first."""
USAGE_NO_STORY = "There's no story in this channel yet. Start one with `/story start <premise>`."


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40] or "story"


def _names(names: list[str]) -> str:
    if not names:
        return "nobody"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _when_all_voted(voters: int) -> str:
    if voters >= 3:
        return f" or when all {voters} players have voted."
    return " or when both players have voted." if voters == 2 else "."


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))}s"
    return f"{round(seconds / 60)} min"


@dataclass(frozen=True, slots=True)
class _Added:
    """A stored turn: is the storyteller due, and what to say after its answer."""

    due: bool
    after: tuple[str, ...] = ()


class StoryPlugin(Plugin):
    """Write stories together in a channel."""

    name: ClassVar[str] = "story"
    description: ClassVar[str] = "Write stories together: take turns, vote, retry, undo, export."

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.config = context.settings_as(StorySettings)
        self.clock: Callable[[], float] = time.time
        """Wall-clock seconds; tests replace it to move time forward."""
        self._locks = KeyedLocks()
        self._gen_locks = KeyedLocks()
        self._stories: dict[str, tuple[float, Story | None]] = {}
        """Channel key -> (expires, its running story or None): the hot path reads no database."""
        self._pending: dict[str, list[str]] = {}
        self._watched: dict[str, ChannelRef] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def setup(self) -> None:
        c = self.config
        self.context.store.settings.register_defaults(
            SETTINGS_NAMESPACE,
            auto_continue_every=c.auto_continue_every,
            turn_timeout_s=c.turn_timeout_s,
            vote_window_s=c.vote_window_s,
            sampling_preset=c.sampling_preset,
            temperature=None,
            max_new_tokens=c.max_new_tokens,
        )
        if self.config.tick_interval_s > 0:
            self._ticker = asyncio.create_task(self._tick_forever(self.config.tick_interval_s))

    async def teardown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    async def _tick_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:  # keep ticking; tick() logs per channel already
                log.exception("story tick failed")

    # -- plumbing ---------------------------------------------------------------------------
    def _lock(self, channel: ChannelRef) -> AbstractAsyncContextManager[None]:
        """Held while a channel's story is read-and-changed (never while generating)."""
        return self._locks.hold(channel.key)

    def _gen_lock(self, channel: ChannelRef) -> AbstractAsyncContextManager[None]:
        """Held while the storyteller writes for a channel (taken before ``_lock``)."""
        return self._gen_locks.hold(channel.key)

    # The running story of each channel is cached in memory (``active_cache_s``) and updated
    # by every change made through this plugin, so the hot paths (a turn, ``/story show``,
    # "is this plain message a turn?") read nothing from the database; the other commands
    # read the story fresh. Another process (PostgreSQL deployments) may change a story
    # behind the cache: every state write carries the version it was based on (StaleState
    # when it moved on, after which the entry is dropped and the turn retried on a fresh
    # read), and turns are refused for an ended story. ``/story show`` may show what another
    # process changed up to ``active_cache_s`` late; turns are never lost or misplaced.
    def _remember(self, key: str, story: Story | None) -> None:
        ttl = self.config.active_cache_s
        if ttl > 0:
            now = time.monotonic()
            if len(self._stories) >= _CACHE_SWEEP_AT:  # keep memory to the channels in use
                self._stories = {k: v for k, v in self._stories.items() if v[0] > now}
            self._stories[key] = (now + ttl, story)
        else:
            self._stories.pop(key, None)

    def _forget(self, channel: ChannelRef) -> None:
        self._stories.pop(channel.key, None)

    async def _current(self, channel: ChannelRef, *, fresh: bool = False) -> Story | None:
        """The channel's running story (cached unless ``fresh``), or None."""
        if not fresh:
            cached = self._stories.get(channel.key)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        story = await self.context.store.stories.get_active(channel)
        self._remember(channel.key, story)
        return story

    async def _story(self, channel: ChannelRef, *, cached: bool = False) -> Story:
        """The running story, read from the database unless ``cached`` (the hot paths)."""
        story = await self._current(channel, fresh=not cached)
        if story is None:
            raise StateError(USAGE_NO_STORY)
        if story.mode in ("round-robin", "vote"):
            self._watched[channel.key] = channel
        return story

    async def _guild(self, channel: ChannelRef) -> dict[str, Any]:
        return await self.context.store.settings.get_all(
            SETTINGS_NAMESPACE, guild_id=channel.guild_id, channel_id=channel.channel_id
        )

    async def _save(self, story: Story, state: GameState) -> Story:
        try:
            saved = await self.context.store.stories.update_state(
                story.id, state.to_dict(), expected_version=story.state_version
            )
        except (StateError, NotFound):  # StaleState included: another writer came first
            self._stories.pop(story.channel_key, None)
            raise
        self._remember(saved.channel_key, saved)
        return saved

    async def _add_with_state(
        self,
        story: Story,
        state: GameState,
        *,
        author_id: str,
        author_name: str,
        kind: TurnKind,
        text: str,
    ) -> tuple[Turn, Story]:
        """Store a turn and the story's new mode state in one transaction (version-checked)."""
        data = state.to_dict()
        try:
            turn = await self.context.store.turns.add(
                story.id,
                author_id=author_id,
                author_name=author_name,
                kind=kind,
                text=text,
                state=data,
                expected_version=story.state_version,
            )
        except (StateError, NotFound):  # stale version, or the story ended elsewhere
            self._stories.pop(story.channel_key, None)
            raise
        story = dataclasses.replace(story, state=data, state_version=story.state_version + 1)
        self._remember(story.channel_key, story)
        return turn, story

    @staticmethod
    def _is_mod(author: Author) -> bool:
        return author.has(Permission.MANAGE_MESSAGES)

    def _require_manager(self, story: Story, author: Author, what: str) -> None:
        if story.created_by_id != author.id and not self._is_mod(author):
            raise PermissionDenied(
                f"Only {story.created_by_name} (who started the story) or a moderator can "
                f"change the {what}."
            )

    async def _say(self, call: Call, lines: list[str]) -> None:
        text = "\n".join(line for line in lines if line)
        for part in textcraft.split_message(text) if text.strip() else []:
            await call.reply(part)

    def _take_pending(self, channel: ChannelRef) -> list[str]:
        return self._pending.pop(channel.key, [])

    # -- timers: lazy catch-up and tick() ---------------------------------------------------
    async def _needs_catch_up(self, channel: ChannelRef, story: Story, state: GameState) -> bool:
        """Would :meth:`_catch_up` change or announce anything now?"""
        if self._pending.get(channel.key):
            return True
        now = self.clock()
        if state.vote is not None and state.vote.deadline <= now:
            return True
        if story.mode == "round-robin":
            guild = await self._guild(channel)
            new_state, _ = state.skip_expired(
                now=now, timeout=float(guild["turn_timeout_s"]), actor_id=None
            )
            return new_state != state
        return False

    async def _catch_up(
        self, channel: ChannelRef, story: Story, state: GameState, actor_id: str | None
    ) -> tuple[Story, GameState, list[str]]:
        """Apply what time did: skip timed-out players, close an expired vote."""
        notes = self._take_pending(channel)
        guild = await self._guild(channel)
        now = self.clock()
        if story.mode == "round-robin":
            new_state, skipped = state.skip_expired(
                now=now, timeout=float(guild["turn_timeout_s"]), actor_id=actor_id
            )
            if new_state != state:
                story = await self._save(story, new_state)
                state = new_state
            if skipped:
                who = _names([p.name for p in skipped])
                nxt = state.current_player
                notes.append(
                    f"⏰ {who} didn't write in time and {'was' if len(skipped) == 1 else 'were'} "
                    f"skipped. It's **{nxt.name if nxt else '?'}**'s turn now."
                )
        if state.vote is not None and state.vote.deadline <= now:
            story, state, note = await self._close_vote(story, state)
            notes.append(note)
        return story, state, notes

    async def tick(self) -> int:
        """Advance timed games in every channel this process has seen.

        Skips round-robin players whose turn timed out and closes expired votes; what happened
        is announced with the next reply in that channel (a plugin cannot post on its own).
        The plugin calls it every ``tick_interval_s`` on its own (started in :meth:`setup`).
        Returns the number of channels that changed.
        """
        changed = 0
        for key, channel in list(self._watched.items()):
            try:
                async with self._lock(channel):
                    story = await self._current(channel, fresh=True)
                    if story is None or story.mode not in ("round-robin", "vote"):
                        self._watched.pop(key, None)
                        continue
                    state = GameState.from_dict(story.state)
                    before = story.state_version
                    story, state, notes = await self._catch_up(channel, story, state, None)
                    if notes:
                        self._pending.setdefault(key, []).extend(notes)
                    if story.state_version != before:
                        changed += 1
            except Exception:
                log.exception("story tick failed in %s", key)
        return changed

    # -- prompts and generation -------------------------------------------------------------
    async def _sampling(
        self,
        channel: ChannelRef,
        state: GameState,
        *,
        offset: int = 0,
        max_new_tokens: int | None = None,
    ) -> SamplingParams:
        guild = await self._guild(channel)
        preset = state.sampling_preset or str(guild["sampling_preset"])
        overrides = dict(self.config.sampling)
        if guild.get("temperature") is not None:
            overrides["temperature"] = float(guild["temperature"])
        seed = None if self.config.seed is None else self.config.seed + offset
        return sampling_params(
            preset,
            overrides=overrides,
            max_new_tokens=max_new_tokens or int(guild["max_new_tokens"]),
            seed=seed,
        )

    def _player_names(self, story: Story, state: GameState) -> list[str]:
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
        gen = self.context.generation
        chat = gen.is_chat_model
        head = header(story)
        budget = prompt_budget(
            max_context_tokens=gen.max_context_tokens,
            max_new_tokens=max_new_tokens,
            fixed_text=head + ("\n\n" + "x" * 60 if recap else ""),
            count_tokens=gen.count_tokens,
            chat=chat,
        )
        if budget < 16:
            raise UsageError(
                "The model's context is too small for this story's premise. "
                "Try a shorter premise or fewer new tokens."
            )
        cue = "" if (chat or recap) else self.config.base_cue
        prose = self.config.prose_prompt and not chat
        context = await self.context.store.assemble_context(
            story,
            budget,
            gen.count_tokens,
            author_note_depth=self.config.author_note_depth,
            lore_scan_turns=self.config.lore_scan_turns,
            cue=cue,
            prose=prose,
        )
        sep = "\n\n" if prose else "\n"
        text = (
            context.text
            if exclude_turn_id is None
            else without_turn(context, exclude_turn_id, separator=sep)
        )
        prompt: Any
        if recap:
            prompt = chat_recap(head, text) if chat else base_recap(head, text)
        elif chat:
            prompt = chat_continuation(
                story,
                text,
                player_names=self._player_names(story, state),
                allow_player_voice=self.config.allow_player_voice,
            )
        else:
            prompt = base_continuation(head, text, separator=sep)
            if not cue.strip():
                prompt += sep
        built = BuiltPrompt(
            prompt=prompt, text=base_continuation(head, text, separator=sep), context=context
        )
        return built

    def _cleaner(
        self, story: Story, state: GameState, built: BuiltPrompt, limit: int
    ) -> tuple[Callable[[str], str], Callable[[str], str]]:
        kwargs: dict[str, Any] = {
            "prompt": built.text,
            "player_names": self._player_names(story, state),
            "own_labels": (self.config.narrator_name, "Narrator", "Storyteller", "Story"),
            "allow_player_voice": self.config.allow_player_voice,
            "limit": limit,
        }
        return (
            lambda raw: textcraft.clean_continuation(raw, **kwargs),
            lambda raw: textcraft.clean_partial(raw, **kwargs),
        )

    def _request(self, call: Call, built: BuiltPrompt, params: SamplingParams) -> GenerationRequest:
        return GenerationRequest(
            prompt=built.prompt,
            params=params,
            channel_key=call.channel.key,
            deadline_s=self.config.generation_deadline_s,
        )

    async def _passes(self, call: Call, text: str) -> bool:
        verdict = await self.context.moderation.check(
            text,
            ModerationContext.for_channel(Direction.OUTPUT, call.channel, call.author.id),
        )
        return not verdict.blocked

    async def _write(
        self,
        call: Call,
        story: Story,
        state: GameState,
        *,
        exclude_turn_id: int | None = None,
        seed_offset: int = 0,
        prefix: str = "",
    ) -> tuple[str, Any, list[str]]:
        """Generate one continuation. Returns (clean text, message, runners-up); the text is ""
        when nothing usable (or nothing allowed) came out.

        With ``best_of > 1`` that many candidates are written at once (the service batches
        them), ranked by :func:`plugins.kit.rerank.rank` and the best is posted; the runners-up
        (best first) are returned so the caller keeps them as versions. With ``best_of == 1``
        and ``stream`` the text is shown as it is written."""
        params = await self._sampling(call.channel, state, offset=seed_offset)
        built = await self.build_prompt(
            story, state, max_new_tokens=params.max_new_tokens, exclude_turn_id=exclude_turn_id
        )
        clean, partial = self._cleaner(story, state, built, MESSAGE_ROOM)
        nothing = (
            "I couldn't come up with anything useful this time. "
            "Try `/story continue` again, or add a turn to steer me."
        )
        if self.config.best_of > 1:
            async with call.typing():
                ranked = await self._best_of(call, story, built, params, clean)
            text = ranked[0] if ranked else ""
            posted = await call.reply(prefix + text if text else nothing)
            return text, posted, ranked[1:]
        request = self._request(call, built, params)
        if self.config.stream:
            raw, message = await call.stream_reply(
                request,
                render=lambda raw: (prefix + partial(raw)) if partial(raw) else "",
                final=lambda raw: Reply(text=(prefix + clean(raw)) if clean(raw) else nothing),
            )
        else:
            result = await self.context.writer.complete(
                request, channel=call.channel, user_id=call.author.id
            )
            raw = result.text
            message = await call.reply(prefix + clean(raw) if clean(raw) else nothing)
        text = clean(raw)
        if text and not await self._passes(call, text):
            log.info("a cleaned continuation was blocked in %s", call.channel.key)
            text = ""
        return text, message, []

    async def _best_of(
        self,
        call: Call,
        story: Story,
        built: BuiltPrompt,
        params: SamplingParams,
        clean: Callable[[str], str],
    ) -> list[str]:
        """``best_of`` cleaned, allowed candidates, best first (duplicates dropped)."""

        async def one(i: int) -> Candidate | None:
            seed = None if params.seed is None else params.seed + 101 * i
            request = self._request(call, built, dataclasses.replace(params, seed=seed))
            result = await self.context.writer.complete(
                request, channel=call.channel, user_id=call.author.id
            )
            text = clean(result.text)
            if not text or not await self._passes(call, text):
                return None
            return Candidate(text, result.mean_logprob)

        outcomes = await asyncio.gather(
            *(one(i) for i in range(self.config.best_of)), return_exceptions=True
        )
        candidates = [c for c in outcomes if isinstance(c, Candidate)]
        if not candidates:
            errors = [e for e in outcomes if isinstance(e, BaseException)]
            if errors:
                raise errors[0]
            return []
        recent = [p.text for p in built.context.parts if p.kind is PromptPartKind.TURN][-3:]
        steer = "\n".join([story.premise, story.memory, story.author_note, *recent])
        ranked = rank(candidates, context=steer, known=words(built.text))
        log.debug(
            "best of %d in %s: scores %s",
            len(ranked),
            call.channel.key,
            [round(r.score, 2) for r in ranked],
        )
        return list(dict.fromkeys(r.candidate.text for r in ranked))

    def _turn_buttons(
        self, turn: Turn, alternatives: int = 0, selected: int = 0
    ) -> tuple[Any, ...]:
        buttons = [
            self.button("continue", "Continue", style=ButtonStyle.PRIMARY),
            self.button("retry", "Retry", str(turn.id)),
            self.button("undo", "Undo", str(turn.id), style=ButtonStyle.DANGER),
        ]
        if alternatives > 1:
            prev_index = (selected - 1) % alternatives
            next_index = (selected + 1) % alternatives
            buttons.insert(1, self.button("swipe", "◀", f"{turn.id}:{prev_index + 1}"))
            buttons.insert(2, self.button("swipe", "▶", f"{turn.id}:{next_index + 1}"))
        return tuple(buttons)

    async def _continue_now(self, call: Call, *, auto: bool) -> None:
        """Write the storyteller's next part (``auto``: only if still due after a turn).

        Continuations of a channel run one at a time (its generation lock); the channel lock
        is held only to read the story and to store the result, so turns and ``/story show``
        go on while the model writes.
        """
        async with self._gen_lock(call.channel):
            async with self._lock(call.channel):
                story = await self._story(call.channel)
                story, state, notes = await self._catch_up(
                    call.channel, story, GameState.from_dict(story.state), call.author.id
                )
                if auto and not self._bot_due(story, state, await self._guild(call.channel)):
                    await self._say(call, notes)
                    return
            await self._say(call, notes)
            if state.vote is not None:
                raise StateError(f"Vote #{state.vote.number} is still open — `/story vote <n>`.")
            await self._continue(call, story, state)

    async def _continue(self, call: Call, story: Story, state: GameState) -> None:
        """The storyteller's next part (or, in vote mode, a vote on it); call it without the
        channel lock."""
        if story.mode == "vote":
            await self._open_vote(call, story, state)
            return
        text, message, others = await self._write(call, story, state)
        if not text:
            return
        versions = 1
        async with self._lock(call.channel):
            turn = await self._store_bot_turn(call, story.id, text)
            if turn is not None and others:
                for other in others:  # the runners-up become versions (swipes)
                    await self.context.store.alternatives.add(
                        story.id, turn.id, other, select_it=False
                    )
                versions = len(await self.context.store.alternatives.all(story.id, turn.id))
        if turn is None:
            reply = Reply(
                text=f"{text}\n-# (Nothing was added: the story ended while I was writing.)"
            )
        else:
            reply = Reply(text=text, buttons=self._turn_buttons(turn, versions, 0))
        if message is not None:
            await call.edit(message, reply)
        else:
            await call.reply(reply)

    async def _store_bot_turn(
        self,
        call: Call,
        story_id: int,
        text: str,
        change: Callable[[GameState], GameState] = lambda state: _with(state, since_bot=0),
    ) -> Turn | None:
        """Store the storyteller's turn with ``change`` applied to the story's latest state
        (re-read and retried when someone else changed it meanwhile); None when the story
        ended. Call it with the channel lock held."""
        for attempt in range(WRITE_ATTEMPTS):
            current = await self._current(call.channel, fresh=attempt > 0)
            if current is None or current.id != story_id:
                return None
            try:
                turn, _ = await self._add_with_state(
                    current,
                    change(GameState.from_dict(current.state)),
                    author_id=BOT_ID,
                    author_name=self.config.narrator_name,
                    kind=TurnKind.BOT,
                    text=text,
                )
            except (StateError, NotFound):
                if attempt + 1 == WRITE_ATTEMPTS:
                    raise
                continue
            return turn
        return None

    async def _open_vote(self, call: Call, story: Story, state: GameState) -> None:
        if state.vote is not None:
            raise StateError(
                f"A vote is already open — pick one with `/story vote <1-"
                f"{len(state.vote.candidates)}>`."
            )
        k = self.config.vote_candidates
        params = await self._sampling(call.channel, state)
        built = await self.build_prompt(story, state, max_new_tokens=params.max_new_tokens)
        clean, _ = self._cleaner(story, state, built, (MESSAGE_ROOM - 200) // k)
        requests = [
            self._request(
                call,
                built,
                params.replace(seed=None if params.seed is None else params.seed + 101 * i),
            )
            for i in range(k)
        ]
        async with call.typing():
            results = await asyncio.gather(
                *(
                    self.context.writer.complete(r, channel=call.channel, user_id=call.author.id)
                    for r in requests
                ),
                return_exceptions=True,
            )
        candidates: list[str] = []
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.info(
                    "a vote candidate failed in %s: %s", call.channel.key, type(result).__name__
                )
                continue
            text = clean(result.text)
            if text and text not in candidates and await self._passes(call, text):
                candidates.append(text)
        if not candidates:
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures and len(failures) == len(results):
                raise failures[0]
            await call.reply(
                "I couldn't write any options this time. Try `/story continue` "
                "again, or add a turn to steer me."
            )
            return
        if len(candidates) == 1:
            async with self._lock(call.channel):
                turn = await self._store_bot_turn(call, story.id, candidates[0])
            if turn is None:
                raise StateError("The story ended while I was writing.")
            await call.reply(
                Reply(
                    text="Only one option came out, so here it is:\n\n" + candidates[0],
                    buttons=self._turn_buttons(turn),
                )
            )
            return
        guild = await self._guild(call.channel)
        window = float(guild["vote_window_s"])
        async with self._lock(call.channel):
            for attempt in range(WRITE_ATTEMPTS):
                current = await self._current(call.channel, fresh=attempt > 0)
                if current is None or current.id != story.id:
                    raise StateError("The story ended while I was writing.")
                state = GameState.from_dict(current.state)
                if state.vote is not None:
                    raise StateError(f"Vote #{state.vote.number} is already open.")
                state = state.open_vote(tuple(candidates), now=self.clock(), window=window)
                try:
                    await self._save(current, state)
                except StaleState:
                    if attempt + 1 == WRITE_ATTEMPTS:
                        raise
                    continue
                break
        assert state.vote is not None
        voters = len(state.players)
        lines = [
            f"🗳️ **Vote #{state.vote.number}: what happens next?** Vote with the buttons or "
            f"`/story vote <n>`. Closes in {_minutes(window)}" + _when_all_voted(voters)
        ]
        for i, text in enumerate(candidates, 1):
            lines.append(f"\n**{i}.** {text}")
        buttons = tuple(
            self.button("vote", f"Vote {i}", f"{state.vote.number}:{i}")
            for i in range(1, len(candidates) + 1)
        )
        await call.reply(Reply(text=textcraft.fit_message("\n".join(lines)), buttons=buttons))

    async def _close_vote(self, story: Story, state: GameState) -> tuple[Story, GameState, str]:
        vote = state.vote
        assert vote is not None
        outcome = tally(vote, seed=f"{story.id}:{vote.number}")
        winner = vote.candidates[outcome.winner]
        store = self.context.store
        state = _with(state, vote=None, since_bot=0)
        turn, story = await self._add_with_state(
            story,
            state,
            author_id=BOT_ID,
            author_name=self.config.narrator_name,
            kind=TurnKind.BOT,
            text=winner,
        )
        alt_ids: dict[int, int] = {}
        for i, text in enumerate(vote.candidates):
            if i != outcome.winner:
                alt = await store.alternatives.add(story.id, turn.id, text, select_it=False)
                alt_ids[i] = alt.id
        if alt_ids:
            alts = await store.alternatives.all(story.id, turn.id)
            alt_ids[outcome.winner] = next(a.id for a in alts if a.index == 0)
            for voter, choice in vote.votes.items():
                if choice in alt_ids:
                    await store.alternatives.vote(story.id, turn.id, alt_ids[choice], voter)
        counts = ", ".join(f"{i + 1}: {n}" for i, n in enumerate(outcome.counts))
        total = sum(outcome.counts)
        if outcome.tied:
            tied = " and ".join(str(i + 1) for i in outcome.tied)
            head = (
                f"🗳️ Vote #{vote.number} closed ({counts}). It's a tie between options "
                f"{tied}, so I drew one at random (draw `{outcome.seed}`): "
                f"**option {outcome.winner + 1}** wins."
            )
        else:
            head = (
                f"🗳️ Vote #{vote.number} closed ({counts}; {total} vote"
                f"{'s' if total != 1 else ''}). **Option {outcome.winner + 1}** wins."
            )
        return story, state, head + "\n\n" + winner

    # -- turns ------------------------------------------------------------------------------
    async def _add_turn(self, call: Call, text: str, *, typed_command: bool) -> _Added | None:
        """Add the author's turn; call it with the channel lock held.

        The turn and the story's new state are stored in one version-checked transaction
        (retried on a fresh read when another writer came first), so a turn is either stored
        with its state change or not at all. Returns None (doing nothing) for a plain message
        that is not a turn right now; else whether the storyteller is due (:meth:`_after_turn`
        lets it write once the lock is released) and the lines to post after its answer.
        """
        text = textcraft.normalize_space(text)
        if typed_command:  # a plain message is checked once it is known to be a turn
            self._check_turn_text(text)
        author = call.author
        notes: list[str] = []
        for attempt in range(WRITE_ATTEMPTS):
            found = await self._current(call.channel, fresh=attempt > 0)
            if found is None and not typed_command:
                return None
            story = await self._story(call.channel) if found is None else found
            if story.mode in ("round-robin", "vote"):
                self._watched[call.channel.key] = call.channel
            state = GameState.from_dict(story.state)
            story, state, more = await self._catch_up(call.channel, story, state, author.id)
            notes += more
            try:
                if state.vote is not None:
                    raise StateError(
                        f"A vote is open — pick what happens next first: `/story vote <1-"
                        f"{len(state.vote.candidates)}>`."
                    )
                if story.mode == "round-robin":
                    current = state.current_player
                    if not state.has(author.id):
                        raise StateError(
                            "This is a round-robin story: join with `/story join`, "
                            "then wait for your turn."
                        )
                    if current is not None and current.id != author.id:
                        raise StateError(
                            f"It's **{current.name}**'s turn right now — you're in the queue."
                        )
            except StateError:
                if notes:
                    await self._say(call, notes)
                if typed_command:
                    raise
                return None
            self._check_turn_text(text)
            guild = await self._guild(call.channel)
            now, timeout = self.clock(), float(guild["turn_timeout_s"])
            if story.mode == "round-robin":
                new_state = state.advance(now=now, timeout=timeout)
            else:
                new_state = state.join(Player(author.id, author.name), now=now, timeout=timeout)
            new_state = _with(new_state, since_bot=new_state.since_bot + 1)
            try:
                _, story = await self._add_with_state(
                    story,
                    new_state,
                    author_id=author.id,
                    author_name=author.name,
                    kind=TurnKind.PLAYER,
                    text=text,
                )
            except (StateError, NotFound):  # another writer came first: read again
                if attempt + 1 == WRITE_ATTEMPTS:
                    raise
                continue
            state = new_state
            break
        lines = list(notes)
        if typed_command:
            lines.append(f"**{author.name}:** {textcraft.fit_message(text, MESSAGE_ROOM)}")
        after: list[str] = []
        if story.mode == "round-robin" and state.current_player is not None:
            after.append(
                f"➡️ **{state.current_player.name}**, it's your turn ({_minutes(timeout)})."
            )
        if self._bot_due(story, state, guild):
            await self._say(call, lines)
            return _Added(due=True, after=tuple(after))
        await self._say(call, lines + after)
        return _Added(due=False)

    async def _after_turn(self, call: Call, added: _Added | None) -> None:
        """Let the storyteller answer a turn that made it due (without the channel lock)."""
        if added is not None and added.due:
            await self._continue_now(call, auto=True)
            await self._say(call, list(added.after))

    def _check_turn_text(self, text: str) -> None:
        if not text:
            raise UsageError("Your turn is empty.", usage="/story add <text>")
        if len(text) > self.config.max_turn_chars:
            raise UsageError(
                f"That turn is {len(text):,} characters; the limit is "
                f"{self.config.max_turn_chars:,}. Nothing was saved — please split it up.",
                usage="/story add <text>",
            )

    def _bot_due(self, story: Story, state: GameState, guild: dict[str, Any]) -> bool:
        if story.mode == "round-robin":
            # once per round: as many player turns as there are players (skips included)
            return (
                self.config.round_robin_bot_each_round
                and bool(state.players)
                and state.since_bot >= len(state.players)
            )
        every = int(guild["auto_continue_every"])
        return every > 0 and state.since_bot >= every

    async def wants_message(self, incoming: Incoming) -> bool:
        text = incoming.text.strip()
        if not text or text.startswith(OOC_PREFIXES):
            return False
        return await self._current(incoming.channel) is not None

    @trigger("turn")
    async def on_message(self, call: Call) -> bool:
        """A plain message in a channel with a running story is a turn."""
        async with self._lock(call.channel):
            added = await self._add_turn(call, call.incoming.text, typed_command=False)
        if added is None:
            return False
        await self._after_turn(call, added)
        return True

    # -- commands: lifecycle ----------------------------------------------------------------
    @command(
        "story start",
        description="Start a story in this channel.",
        aliases=("story new",),
        examples=(
            "/story start A shy dragon who is afraid of the dark",
            '/story start mode=round-robin title="The Lost Key" A key that opens any door',
            "/story start mode=vote preset=spooky An empty house on the hill",
        ),
    )
    async def start(
        self,
        call: Call,
        premise: Annotated[str, Param("What the story is about", rest=True, max=600)],
        title: Annotated[str, Param("A title for the story", max=100)] = "",
        mode: Annotated[
            Literal["free", "round-robin", "vote"],
            Param(
                "free: anyone, any time · round-robin: take turns · vote: "
                "players vote on what happens"
            ),
        ] = "free",
        preset: Annotated[str, Param("Genre and tone", choices=tuple(STORY_PRESETS))] = "",
    ) -> str:
        premise = textcraft.normalize_space(premise)
        if len(premise) < 3:
            raise UsageError(
                "Tell me what the story is about.",
                usage="/story start [title=...] [mode=free|round-robin|vote] "
                "[preset=...] <premise>",
            )
        if mode not in MODES:
            raise UsageError(f"`mode` must be one of {', '.join(MODES)}.")
        chosen = STORY_PRESETS.get(preset) if preset else None
        state = GameState(preset=preset, sampling_preset=chosen.sampling if chosen else "")
        guild = await self._guild(call.channel)
        state = state.join(
            Player(call.author.id, call.author.name),
            now=self.clock(),
            timeout=float(guild["turn_timeout_s"]),
        )
        async with self._lock(call.channel):
            try:
                story = await self.context.store.stories.create(
                    call.channel,
                    call.author,
                    title=title.strip(),
                    premise=premise,
                    mode=mode,
                    author_note=chosen.author_note if chosen else "",
                    state=state.to_dict(),
                )
            except StateError:  # one is running after all (started elsewhere)
                self._forget(call.channel)
                raise
            self._remember(call.channel.key, story)
        if mode != "free":
            self._watched[call.channel.key] = call.channel
        how = {
            "free": "Anyone can add to it: type a message or use `/story add`. "
            "`/story continue` asks me to write the next part.",
            "round-robin": f"Players take turns in the order they join. `/story join` to play; "
            f"it's **{call.author.name}**'s turn first.",
            "vote": "Add turns, then `/story continue`: I'll write a few options and you vote "
            "on what happens.",
        }[mode]
        name = f"**{story.title}**" if story.title else "A new story"
        tone = f" · {chosen.name}" if chosen else ""
        return f"📖 {name} begins ({mode}{tone}): *{premise}*\n{how}"

    @command(
        "story end",
        description="End the story in this channel.",
        aliases=("story stop",),
        examples=("/story end",),
    )
    async def end(self, call: Call) -> str:
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            self._require_manager(story, call.author, "story's status")
            turns = await self.context.store.turns.all(story.id)
            try:
                await self.context.store.stories.end(story.id, by_user_id=call.author.id)
            finally:
                self._forget(call.channel)
        self._watched.pop(call.channel.key, None)
        authors = sorted({t.author_name for t in turns if t.kind is TurnKind.PLAYER})
        name = f"*{story.title}*" if story.title else "The story"
        by = f" by {_names([*authors, 'me'])}" if authors else ""
        return (
            f"🏁 **The End.** {name} is finished: {len(turns)} turns{by}. "
            f"Download it with `/story export story={story.id}`."
        )

    @command(
        "story show",
        description="Show the story so far and whose turn it is.",
        aliases=("story status",),
        examples=("/story show",),
    )
    async def show(self, call: Call) -> None:
        # Read-only unless time changed the game (a skipped player, a vote to close): then
        # it catches up under the channel lock; otherwise it takes no lock at all.
        story = await self._story(call.channel, cached=True)
        state = GameState.from_dict(story.state)
        notes: list[str] = []
        if await self._needs_catch_up(call.channel, story, state):
            async with self._lock(call.channel):
                story = await self._story(call.channel)
                story, state, notes = await self._catch_up(
                    call.channel, story, GameState.from_dict(story.state), None
                )
        turns = await self.context.store.turns.window(story.id, limit=self.config.show_turns)
        total = await self.context.store.turns.count(story.id)
        lines = [
            f"📖 **{story.title or 'Untitled story'}** — {story.mode}, {total} turns, "
            f"started by {story.created_by_name}",
            f"*{story.premise}*",
        ]
        if state.players:
            lines.append("Players: " + ", ".join(p.name for p in state.players))
        if story.mode == "round-robin" and state.current_player is not None:
            lines.append(f"➡️ It's **{state.current_player.name}**'s turn.")
        if state.vote is not None:
            lines.append(
                f"🗳️ Vote #{state.vote.number} is open "
                f"({len(state.vote.votes)} of {len(state.players)} voted)."
            )
        turn_lines = [_render_turn(turn) for turn in turns]
        while True:
            hidden = total - len(turn_lines)
            more = [f"… {hidden} earlier turns (see `/story export`) …"] if hidden else []
            body = "\n".join([*lines, *more, *turn_lines])
            if len(body) <= textcraft.DISCORD_LIMIT or len(turn_lines) <= 1:
                break
            turn_lines.pop(0)
        await self._say(call, [*notes, textcraft.fit_message(body)])

    @command(
        "story list",
        description="List this channel's stories.",
        aliases=("story stories",),
        examples=("/story list",),
    )
    async def list_stories(self, call: Call) -> str:
        stories = await self.context.store.stories.list_for_channel(call.channel, limit=10)
        if not stories:
            return "No stories here yet. Start one with `/story start <premise>`."
        lines = ["📚 **Stories in this channel**"]
        for s in stories:
            count = await self.context.store.turns.count(s.id)
            status = "▶️ running" if s.status is not StoryStatus.ENDED else "ended"
            lines.append(
                f"`#{s.id}` **{s.title or s.premise[:40]}** — {s.mode}, {count} turns, "
                f"{status}, by {s.created_by_name}"
            )
        return textcraft.fit_message("\n".join(lines))

    # -- commands: turns --------------------------------------------------------------------
    @command(
        "story add",
        description="Add your turn to the story.",
        aliases=("story write",),
        examples=("/story add The door creaked open.",),
    )
    async def add(
        self, call: Call, text: Annotated[str, Param("Your part of the story", rest=True)] = ""
    ) -> None:
        if not text.strip():
            raise UsageError("Write your turn after the command.", usage="/story add <text>")
        async with self._lock(call.channel):
            added = await self._add_turn(call, text, typed_command=True)
        await self._after_turn(call, added)

    @command(
        "story continue",
        description="Ask the storyteller to write the next part.",
        aliases=("story next",),
        examples=("/story continue",),
    )
    async def continue_(self, call: Call) -> None:
        await self._continue_now(call, auto=False)

    @command(
        "story retry",
        description="Write my last part again (earlier versions are kept).",
        aliases=("story reroll",),
        examples=("/story retry",),
    )
    async def retry(self, call: Call) -> None:
        await self._retry(call, None)

    async def _retry(self, call: Call, turn_id: int | None) -> None:
        async with self._gen_lock(call.channel):
            await self._retry_locked(call, turn_id)

    async def _retry_locked(self, call: Call, turn_id: int | None) -> None:
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            state = GameState.from_dict(story.state)
            last = await self.context.store.turns.last(story.id)
            if last is None or last.kind is not TurnKind.BOT:
                raise StateError(
                    "The last turn isn't mine, so there's nothing to retry. "
                    "Use `/story continue` for a new part."
                )
            if turn_id is not None and last.id != turn_id:
                raise StateError("That part isn't the latest any more, so it can't be retried.")
            existing = await self.context.store.alternatives.all(story.id, last.id)
        text, message, _ = await self._write(
            call, story, state, exclude_turn_id=last.id, seed_offset=7 * (len(existing) or 1)
        )
        if not text:
            return
        async with self._lock(call.channel):
            newest = await self.context.store.turns.last(story.id)
            if newest is None or newest.id != last.id:
                gone = Reply(text=f"{text}\n-# (Nothing was added: the story moved on meanwhile.)")
                if message is not None:
                    await call.edit(message, gone)
                else:
                    await call.reply(gone)
                return
            await self.context.store.alternatives.add(story.id, last.id, text, select_it=True)
            alts = await self.context.store.alternatives.all(story.id, last.id)
        index = next(i for i, a in enumerate(alts) if a.selected)
        reply = Reply(
            text=f"{text}\n-# version {index + 1} of {len(alts)}",
            buttons=self._turn_buttons(last, len(alts), index),
        )
        if message is not None:
            await call.edit(message, reply)
        else:
            await call.reply(reply)

    @command(
        "story swipe",
        description="Switch my last part to another version.",
        aliases=("story version",),
        examples=("/story swipe 1", "/story swipe 2"),
    )
    async def swipe(
        self, call: Call, n: Annotated[int, Param("Version number", min=1, max=100)]
    ) -> Reply:
        async with self._lock(call.channel):
            return await self._swipe(call, None, n)

    async def _swipe(self, call: Call, turn_id: int | None, n: int) -> Reply:
        story = await self._story(call.channel)
        last = await self.context.store.turns.last(story.id)
        if last is None or last.kind is not TurnKind.BOT:
            raise StateError("The last turn isn't mine, so there are no versions to switch.")
        if turn_id is not None and last.id != turn_id:
            raise StateError("That part isn't the latest any more.")
        alts = await self.context.store.alternatives.all(story.id, last.id)
        if len(alts) < 2:
            raise StateError("My last part has only one version. `/story retry` writes another.")
        if not 1 <= n <= len(alts):
            raise UsageError(f"Pick a version from 1 to {len(alts)}.", usage="/story swipe <n>")
        turn = await self.context.store.alternatives.select(story.id, last.id, alts[n - 1].id)
        return Reply(
            text=f"{turn.text}\n-# version {n} of {len(alts)}",
            buttons=self._turn_buttons(turn, len(alts), n - 1),
        )

    @command(
        "story undo",
        description="Take back the last turn (yours, or any as a moderator).",
        examples=("/story undo",),
    )
    async def undo(self, call: Call) -> str:
        async with self._lock(call.channel):
            return await self._undo(call, None)

    async def _undo(self, call: Call, turn_id: int | None) -> str:
        story = await self._story(call.channel)
        state = GameState.from_dict(story.state)
        last = await self.context.store.turns.last(story.id)
        if last is None:
            raise StateError("There's nothing to undo yet.")
        if turn_id is not None and last.id != turn_id:
            raise StateError("That turn isn't the latest any more, so it can't be undone.")
        mod = self._is_mod(call.author)
        if last.kind is TurnKind.BOT:
            if not (mod or state.has(call.author.id) or story.created_by_id == call.author.id):
                raise PermissionDenied("Only the story's players or a moderator can undo my part.")
            only = None if mod else BOT_ID
        else:
            if last.author_id != call.author.id and not mod:
                raise PermissionDenied(
                    f"That's {last.author_name}'s turn — only they or a moderator can undo it."
                )
            only = None if mod else call.author.id
        undone = await self.context.store.turns.undo(
            story.id, by_user_id=call.author.id, only_author_id=only
        )
        if undone.kind is TurnKind.PLAYER:
            guild = await self._guild(call.channel)
            if story.mode == "round-robin":
                state = state.turn_to(
                    undone.author_id, now=self.clock(), timeout=float(guild["turn_timeout_s"])
                )
            state = _with(state, since_bot=max(0, state.since_bot - 1))
            await self._save(story, state)
            whose = "your" if undone.author_id == call.author.id else f"{undone.author_name}'s"
            tail = (
                f" It's **{undone.author_name}**'s turn again."
                if story.mode == "round-robin"
                else ""
            )
            return f"↩️ Undid {whose} turn.{tail}"
        return "↩️ Undid my last part. `/story continue` writes a new one."

    @command(
        "story edit",
        description="Rewrite your own last turn.",
        examples=("/story edit The door creaked open slowly.",),
    )
    async def edit(
        self, call: Call, text: Annotated[str, Param("The new text", rest=True)] = ""
    ) -> str:
        text = textcraft.normalize_space(text)
        if not text:
            raise UsageError("Write the new text after the command.", usage="/story edit <text>")
        if len(text) > self.config.max_turn_chars:
            raise UsageError(
                f"That turn is too long (limit {self.config.max_turn_chars:,} characters).",
                usage="/story edit <text>",
            )
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            last = await self.context.store.turns.last(story.id)
            if last is None or last.author_id != call.author.id:
                raise StateError("You can only edit your own turn while it's the latest one.")
            await self.context.store.turns.edit_last(story.id, author_id=call.author.id, text=text)
        return f"✏️ Updated your turn: **{call.author.name}:** {textcraft.fit_message(text, 1800)}"

    # -- commands: players and votes --------------------------------------------------------
    @command("story join", description="Join the story as a player.", examples=("/story join",))
    async def join(self, call: Call) -> str:
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            story, state, notes = await self._catch_up(
                call.channel, story, GameState.from_dict(story.state), call.author.id
            )
            if state.has(call.author.id):
                return "\n".join([*notes, "You're already playing in this story."])
            guild = await self._guild(call.channel)
            state = state.join(
                Player(call.author.id, call.author.name),
                now=self.clock(),
                timeout=float(guild["turn_timeout_s"]),
            )
            await self._save(story, state)
        lines = [*notes, f"👋 **{call.author.name}** joined ({len(state.players)} players)."]
        if story.mode == "round-robin":
            order = " → ".join(p.name for p in state.players)
            current = state.current_player
            lines.append(f"Order: {order}. It's **{current.name if current else '?'}**'s turn.")
        return "\n".join(lines)

    @command(
        "story leave",
        description="Leave the story (your turns stay in it).",
        examples=("/story leave",),
    )
    async def leave(self, call: Call) -> str:
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            story, state, notes = await self._catch_up(
                call.channel, story, GameState.from_dict(story.state), call.author.id
            )
            if not state.has(call.author.id):
                return "\n".join([*notes, "You're not playing in this story."])
            guild = await self._guild(call.channel)
            state = state.leave(
                call.author.id, now=self.clock(), timeout=float(guild["turn_timeout_s"])
            )
            story = await self._save(story, state)
            lines = [*notes, f"👋 **{call.author.name}** left the story."]
            if story.mode == "round-robin" and state.current_player is not None:
                lines.append(f"➡️ It's **{state.current_player.name}**'s turn.")
            if state.vote is not None and state.everyone_voted():
                story, state, note = await self._close_vote(story, state)
                lines.append(note)
        return "\n".join(lines)

    @command(
        "story vote",
        description="Vote for what happens next (vote mode).",
        examples=("/story vote 2",),
    )
    async def vote(
        self, call: Call, n: Annotated[int, Param("The option's number", min=1, max=3)]
    ) -> None:
        async with self._lock(call.channel):
            await self._vote(call, None, n)

    async def _vote(self, call: Call, round_number: int | None, n: int) -> None:
        story = await self._story(call.channel)
        state = GameState.from_dict(story.state)
        story, state, notes = await self._catch_up(call.channel, story, state, call.author.id)
        await self._say(call, notes)
        if state.vote is None or (round_number is not None and state.vote.number != round_number):
            raise StateError(
                "That vote is closed."
                if round_number is not None or notes
                else "There's no vote open right now."
            )
        if not 1 <= n <= len(state.vote.candidates):
            raise UsageError(
                f"Pick an option from 1 to {len(state.vote.candidates)}.", usage="/story vote <n>"
            )
        changed = call.author.id in state.vote.votes
        guild = await self._guild(call.channel)
        state = state.join(
            Player(call.author.id, call.author.name),
            now=self.clock(),
            timeout=float(guild["turn_timeout_s"]),
        )
        state = state.cast_vote(call.author.id, n - 1)
        story = await self._save(story, state)
        votes = len(state.vote.votes) if state.vote is not None else 0
        if state.everyone_voted():
            story, state, note = await self._close_vote(story, state)
            await self._say(call, [note])
            return
        verb = "changed to" if changed else "is in for"
        await call.notice(
            f"Your vote {verb} option {n} ({votes} of {len(state.players)} players voted)."
        )

    # -- commands: steering -----------------------------------------------------------------
    async def _set_field(self, call: Call, field: str, label: str, text: str) -> str:
        text = textcraft.normalize_space(text)
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            current = getattr(story, field)
            if not text:
                shown = f"*{current}*" if current else "(empty)"
                return f"{label}: {shown}"
            self._require_manager(story, call.author, label.lower())
            value = "" if text.lower() in ("clear", "none", "-") else text
            try:
                updated = await self.context.store.stories.update(
                    story.id, by_user_id=call.author.id, **{field: value}
                )
            except (StateError, NotFound):
                self._forget(call.channel)
                raise
            self._remember(call.channel.key, updated)
        return f"📝 {label} {'cleared' if not value else 'updated'}."

    @command(
        "story memory",
        description="Facts the storyteller always keeps in mind.",
        examples=(
            "/story memory Spark is a small green dragon who loves cocoa.",
            "/story memory clear",
            "/story memory",
        ),
    )
    async def memory(
        self,
        call: Call,
        text: Annotated[str, Param("New memory ('clear' empties it)", rest=True, max=1000)] = "",
    ) -> str:
        return await self._set_field(call, "memory", "Memory", text)

    @command(
        "story note",
        description="Author's note: steer the tone or direction.",
        aliases=("story authors-note",),
        examples=("/story note Keep it funny; the dragon should find a friend.",),
    )
    async def note(
        self,
        call: Call,
        text: Annotated[str, Param("New note ('clear' empties it)", rest=True, max=500)] = "",
    ) -> str:
        return await self._set_field(call, "author_note", "Author's note", text)

    @command(
        "story title",
        description="Rename the story.",
        examples=("/story title The Brave Little Dragon",),
    )
    async def retitle(
        self, call: Call, text: Annotated[str, Param("The new title", rest=True, max=100)] = ""
    ) -> str:
        return await self._set_field(call, "title", "Title", text)

    @command(
        "story lore",
        description="Add a fact that comes up when a keyword is mentioned.",
        examples=(
            "/story lore Spark,dragon Spark is a small green dragon afraid of the dark.",
            "/story lore list",
            "/story lore remove 3",
        ),
    )
    async def lore(
        self,
        call: Call,
        keys: Annotated[str, Param("Keywords, separated by commas")],
        text: Annotated[str, Param("The fact", rest=True, max=1000)] = "",
    ) -> str:
        text = textcraft.normalize_space(text)
        words = [k.strip() for k in keys.split(",") if k.strip()]
        if not text or not words:
            raise UsageError("Give keywords and the fact.", usage="/story lore <key1,key2> <text>")
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            self._require_manager(story, call.author, "lore")
            entry = await self.context.store.lore.add(
                story.id, words, text, created_by_id=call.author.id
            )
        return f"📚 Lore `#{entry.id}` saved; it comes up when someone mentions {', '.join(entry.keys)}."

    @command(
        "story lore list",
        description="List the story's lore entries.",
        examples=("/story lore list",),
    )
    async def lore_list(self, call: Call) -> str:
        story = await self._story(call.channel)
        entries = await self.context.store.lore.all(story.id)
        if not entries:
            return "No lore yet. Add some: `/story lore <key1,key2> <fact>`."
        lines = ["📚 **Lore**"] + [f"`#{e.id}` [{', '.join(e.keys)}] {e.text}" for e in entries]
        return textcraft.fit_message("\n".join(lines))

    @command(
        "story lore remove", description="Remove a lore entry.", examples=("/story lore remove 3",)
    )
    async def lore_remove(
        self,
        call: Call,
        entry: Annotated[int, Param("The entry's number (see /story lore list)", min=1)],
    ) -> str:
        async with self._lock(call.channel):
            story = await self._story(call.channel)
            self._require_manager(story, call.author, "lore")
            await self.context.store.lore.remove(story.id, entry)
        return f"🗑️ Lore `#{entry}` removed."

    @command(
        "story changes",
        description="Who changed the story's memory, note or title.",
        aliases=("story history",),
        examples=("/story changes",),
    )
    async def changes(self, call: Call) -> str:
        story = await self._story(call.channel)
        edits = await self.context.store.stories.history(story.id)
        if not edits:
            return "Nothing has been changed since the story started."
        names = {p.id: p.name for p in GameState.from_dict(story.state).players}
        names.setdefault(story.created_by_id, story.created_by_name)
        lines = ["🕓 **Changes**"]
        for e in edits[-10:]:
            who = names.get(e.user_id, e.user_id)
            new = (e.new_value or "").strip() or "(empty)"
            lines.append(
                f"{e.created_at:%Y-%m-%d %H:%M} · {who} set **{e.field}** to "
                f"{textcraft.fit_message(new, 120)}"
            )
        return textcraft.fit_message("\n".join(lines))

    # -- commands: recap, export, import ----------------------------------------------------
    @command(
        "story recap",
        description="A short summary of the story so far.",
        aliases=("story summary",),
        examples=("/story recap",),
    )
    async def recap(self, call: Call) -> str:
        # read-only: no lock; the story is read fresh for the prompt
        story = await self._story(call.channel)
        state = GameState.from_dict(story.state)
        turns = await self.context.store.turns.window(story.id, limit=3)
        if not turns:
            return f"📜 Nothing has happened yet. The story is about: *{story.premise}*"
        params = await self._sampling(
            call.channel, state, max_new_tokens=self.config.recap_max_new_tokens
        )
        params = params.replace(temperature=min(params.temperature, 0.6))
        built = await self.build_prompt(
            story, state, max_new_tokens=params.max_new_tokens, recap=True
        )
        summary = ""
        try:
            async with call.typing():
                result = await self.context.writer.complete(
                    self._request(call, built, params),
                    channel=call.channel,
                    user_id=call.author.id,
                )
            summary = textcraft.clean_continuation(
                result.text,
                prompt=built.text,
                player_names=self._player_names(story, state),
                limit=900,
            )
        except Exception as exc:  # a recap falls back to the story's own words
            log.info("recap generation failed in %s: %s", call.channel.key, type(exc).__name__)
        first = await self.context.store.turns.all(story.id)
        if not _usable_recap(summary, [story.premise, *(t.text for t in first)]):
            summary = ""
        title = story.title or "the story"
        if summary:
            return f"📜 **Recap of {title}:** {summary}"
        opening = first[:2]
        latest = [t for t in first[-3:] if t.id not in {o.id for o in opening}]
        lines = [f"📜 **The story so far** — it's about: *{story.premise}*", "**It began:**"]
        lines += [_render_turn(t, 300) for t in opening]
        if latest:
            lines.append("**Latest:**")
            lines += [_render_turn(t, 300) for t in latest]
        return textcraft.fit_message("\n".join(lines))

    @command(
        "story export",
        description="Download a story as Markdown or JSON.",
        examples=("/story export", "/story export json", "/story export md 12"),
    )
    async def export(
        self,
        call: Call,
        format: Annotated[Literal["md", "json"], Param("File format")] = "md",
        story: Annotated[
            int, Param("Story number (see /story list); default: the current one", min=0)
        ] = 0,
    ) -> Reply:
        store = self.context.store
        if story:
            chosen = await store.stories.get(story, call.channel)
        else:
            active = await store.stories.get_active(call.channel)
            recent = active or next(
                iter(await store.stories.list_for_channel(call.channel, limit=1)), None
            )
            if recent is None:
                raise NotFound("There's no story in this channel to export yet.")
            chosen = recent
        data = await store.export_story(chosen, format)
        name = f"{_slug(chosen.title or chosen.premise)}-{chosen.id}.{format}"
        kind = "text/markdown" if format == "md" else "application/json"
        label = "Markdown" if format == "md" else "JSON"
        return Reply(
            text=f"📎 *{chosen.title or 'Story'}* `#{chosen.id}` as {label}.",
            attachments=(Attachment(name, data.encode("utf-8"), kind),),
        )

    @command(
        "story import",
        description="Start a story from an exported JSON file's text.",
        examples=('/story import {"format": "storyloom.story", ...}',),
    )
    async def import_(
        self, call: Call, data: Annotated[str, Param("The exported JSON", rest=True)] = ""
    ) -> str:
        if not data.strip():
            raise UsageError(
                "Paste the JSON from `/story export json` after the command.",
                usage="/story import <json>",
            )
        async with self._lock(call.channel):
            if await self._current(call.channel, fresh=True) is not None:
                raise StateError("A story is already running here. End it first with `/story end`.")
            story = await self.context.store.import_story(data, call.channel, call.author)
            count = await self.context.store.turns.count(story.id)
            state = GameState.from_dict(story.state).join(
                Player(call.author.id, call.author.name),
                now=self.clock(),
                timeout=self.config.turn_timeout_s,
            )
            await self._save(story, state)
        return (
            f"📥 Imported *{story.title or 'the story'}* ({count} turns, {story.mode}). "
            "It's the running story here now — `/story show` to catch up."
        )

    # -- commands: settings -----------------------------------------------------------------
    @command(
        "story settings",
        description="Show or change this server's story settings.",
        permission=Permission.MANAGE_GUILD,
        examples=(
            "/story settings",
            "/story settings auto_continue_every 2",
            "/story settings sampling_preset creative",
            "/story settings temperature default",
        ),
    )
    async def settings(
        self,
        call: Call,
        key: Annotated[str, Param("Setting name", choices=tuple(GUILD_KEYS))] = "",
        value: Annotated[str, Param("New value, or 'default'")] = "",
    ) -> str:
        store = self.context.store.settings
        if not key:
            values = await self._guild(call.channel)
            lines = ["⚙️ **Story settings here**"]
            lines += [f"`{k}` = {values.get(k)!s}" for k in GUILD_KEYS]
            lines.append(f"Presets: {', '.join(SAMPLING_PRESETS)}")
            return "\n".join(lines)
        if not value:
            raise UsageError("Give a value (or `default`).", usage="/story settings <key> <value>")
        if value.lower() == "default":
            await store.clear(SETTINGS_NAMESPACE, key, guild_id=call.channel.guild_id)
            return f"⚙️ `{key}` is back to its default."
        kind = GUILD_KEYS[key]
        try:
            parsed: Any = kind(value)
        except ValueError:
            raise UsageError(
                f"`{key}` needs a {kind.__name__} value.", usage="/story settings <key> <value>"
            ) from None
        if key == "sampling_preset" and parsed not in SAMPLING_PRESETS:
            raise UsageError(f"Presets: {', '.join(SAMPLING_PRESETS)}.")
        limits = {
            "auto_continue_every": (0, 50),
            "turn_timeout_s": (5, 86400),
            "vote_window_s": (5, 86400),
            "temperature": (0, 2),
            "max_new_tokens": (8, 1000),
        }
        if key in limits and not limits[key][0] <= parsed <= limits[key][1]:
            low, high = limits[key]
            raise UsageError(f"`{key}` must be between {low} and {high}.")
        await store.set(SETTINGS_NAMESPACE, key, parsed, guild_id=call.channel.guild_id)
        return f"⚙️ `{key}` is now {parsed} in this server."

    # -- buttons ----------------------------------------------------------------------------
    @action("continue")
    async def press_continue(self, call: Call, arg: str) -> None:
        await self.continue_(call)

    @action("retry")
    async def press_retry(self, call: Call, arg: str) -> None:
        await self._retry(call, _int(arg))

    @action("undo")
    async def press_undo(self, call: Call, arg: str) -> str:
        async with self._lock(call.channel):
            return await self._undo(call, _int(arg))

    @action("swipe")
    async def press_swipe(self, call: Call, arg: str) -> Reply:
        turn_id, _, n = arg.partition(":")
        async with self._lock(call.channel):
            return await self._swipe(call, _int(turn_id), _int(n) or 1)

    @action("vote")
    async def press_vote(self, call: Call, arg: str) -> None:
        round_number, _, n = arg.partition(":")
        async with self._lock(call.channel):
            await self._vote(call, _int(round_number), _int(n) or 0)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _with(state: GameState, **changes: Any) -> GameState:
    import dataclasses

    return dataclasses.replace(state, **changes)


# fmt: off
_STOPWORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "had", "has", "have",
        "he", "her", "him", "his", "i", "in", "is", "it", "its", "of", "on", "or", "she", "so",
        "that", "the", "their", "them", "then", "there", "they", "this", "to", "was", "were", "what",
        "when", "who", "will", "with", "you", "your", "one", "day", "very", "little", "big", "said",
    )
)
# fmt: on


def _usable_recap(summary: str, story_texts: list[str]) -> bool:
    """A summary is worth showing when it is a few finished sentences about this story."""
    words = re.findall(r"[a-z']+", summary.lower())
    if len(words) < 6 or summary.endswith(textcraft.ELLIPSIS) or textcraft.is_degenerate(summary):
        return False
    story_words = {
        w
        for t in story_texts
        for w in re.findall(r"[a-z']+", t.lower())
        if len(w) > 3 and w not in _STOPWORDS
    }
    return len(story_words.intersection(words)) >= 2


def _render_turn(turn: Turn, limit: int = 400) -> str:
    text = textcraft.fit_message(turn.text, limit)
    if turn.kind is TurnKind.PLAYER:
        return f"**{turn.author_name}:** {text}"
    return text
