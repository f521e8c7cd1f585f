"""A story's life: start (in place or in a new thread), show, list, recap, end, export and
import (pasted JSON, or an attached ``.json`` or ``.md`` export)."""

from __future__ import annotations

from typing import Annotated, Literal

from bot.errors import NotFound, StateError, UsageError
from bot.plugin import Call, Param, command
from bot.records import StoryStatus, TurnKind
from bot.types import Attachment, Author, Reply, Upload
from plugins.kit import textcraft
from plugins.story.base import StoryBase
from plugins.story.config import MODES, STORY_PRESETS
from plugins.story.game import GameState, Player
from plugins.story.render import names, render_turn, say, slug, usable_recap
from plugins.story.session import BOT_ID

MAX_IMPORT_BYTES = 1_000_000
"""The largest story file ``/story import`` reads (a few thousand turns)."""
IMPORT_FORMATS = {"json": "json", "md": "md", "markdown": "md"}
THREAD_NAME_CHARS = 100
"""Discord's limit on a thread's name."""


class LifecycleCommands(StoryBase):
    """``/story start|end|show|list|recap|export|import``."""

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
        thread: Annotated[
            bool, Param("Open the story in a new thread (Discord; elsewhere it starts here)")
        ] = False,
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
        here, note = call, ""
        if thread:
            name = " ".join((title or premise).split())[:THREAD_NAME_CHARS]
            opened = await call.open_thread(name)
            if isinstance(opened, str):
                note = f"🧵 {opened}\n"
            else:
                here = opened
        opening = await self._begin(here, premise, title, mode, preset)
        if here is call:
            return note + opening
        await here.reply(opening)
        return f"🧵 The story goes on in the thread **{here.channel.name}**."

    async def _begin(self, call: Call, premise: str, title: str, mode: str, preset: str) -> str:
        """Create the story in ``call``'s channel; the opening message."""
        chosen = STORY_PRESETS.get(preset) if preset else None
        state = GameState(preset=preset, sampling_preset=chosen.sampling if chosen else "")
        guild = await self.sessions.guild(call.channel)
        state = state.join(
            Player(call.author.id, call.author.name),
            now=self.env.now(),
            timeout=float(guild["turn_timeout_s"]),
        )
        async with self.sessions.lock(call.channel):
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
                self.sessions.forget(call.channel)
                raise
            self.sessions.remember(call.channel.key, story)
        self.sessions.watch(call.channel, story)
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
        store = self.context.store
        async with self.sessions.lock(call.channel):
            story = await self.sessions.story(call.channel)
            self.require_manager(story, call.author, "story's status")
            turns = await store.turns.all(story.id)
            try:
                await store.stories.end(story.id, by_user_id=call.author.id)
            finally:
                self.sessions.forget(call.channel)
        self.sessions.watched.pop(call.channel.key, None)
        authors = sorted({t.author_name for t in turns if t.kind is TurnKind.PLAYER})
        name = f"*{story.title}*" if story.title else "The story"
        by = f" by {names([*authors, 'me'])}" if authors else ""
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
        story = await self.sessions.story(call.channel, cached=True)
        state = GameState.from_dict(story.state)
        notes: list[str] = []
        if await self.timers.needs_catch_up(call.channel, story, state):
            async with self.sessions.lock(call.channel):
                story = await self.sessions.story(call.channel)
                story, state, notes = await self.timers.catch_up(
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
        turn_lines = [render_turn(turn) for turn in turns]
        while True:
            hidden = total - len(turn_lines)
            more = [f"… {hidden} earlier turns (see `/story export`) …"] if hidden else []
            body = "\n".join([*lines, *more, *turn_lines])
            if len(body) <= textcraft.DISCORD_LIMIT or len(turn_lines) <= 1:
                break
            turn_lines.pop(0)
        await say(call, [*notes, textcraft.fit_message(body)])

    @command(
        "story list",
        description="List this channel's stories.",
        aliases=("story stories",),
        examples=("/story list",),
    )
    async def list_stories(self, call: Call) -> str:
        store = self.context.store
        stories = await store.stories.list_for_channel(call.channel, limit=10)
        if not stories:
            return "No stories here yet. Start one with `/story start <premise>`."
        lines = ["📚 **Stories in this channel**"]
        for s in stories:
            count = await store.turns.count(s.id)
            status = "▶️ running" if s.status is not StoryStatus.ENDED else "ended"
            lines.append(
                f"`#{s.id}` **{s.title or s.premise[:40]}** — {s.mode}, {count} turns, "
                f"{status}, by {s.created_by_name}"
            )
        return textcraft.fit_message("\n".join(lines))

    @command(
        "story recap",
        description="A short summary of the story so far.",
        aliases=("story summary",),
        examples=("/story recap",),
    )
    async def recap(self, call: Call) -> str:
        # read-only: no lock; the story is read fresh for the prompt
        story = await self.sessions.story(call.channel)
        turns = self.context.store.turns
        if not await turns.window(story.id, limit=3):
            return f"📜 Nothing has happened yet. The story is about: *{story.premise}*"
        summary = await self.writing.recap(call, story, GameState.from_dict(story.state))
        first = await turns.all(story.id)
        if summary and usable_recap(summary, [story.premise, *(t.text for t in first)]):
            return f"📜 **Recap of {story.title or 'the story'}:** {summary}"
        opening = first[:2]
        latest = [t for t in first[-3:] if t.id not in {o.id for o in opening}]
        lines = [f"📜 **The story so far** — it's about: *{story.premise}*", "**It began:**"]
        lines += [render_turn(t, 300) for t in opening]
        if latest:
            lines.append("**Latest:**")
            lines += [render_turn(t, 300) for t in latest]
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
        name = f"{slug(chosen.title or chosen.premise)}-{chosen.id}.{format}"
        kind = "text/markdown" if format == "md" else "application/json"
        label = "Markdown" if format == "md" else "JSON"
        return Reply(
            text=f"📎 *{chosen.title or 'Story'}* `#{chosen.id}` as {label}.",
            attachments=(Attachment(name, data.encode("utf-8"), kind),),
        )

    @command(
        "story import",
        description="Start a story from a /story export file (.json or .md) or pasted JSON.",
        examples=(
            "/story import  (with the .json or .md file from /story export attached)",
            '/story import {"format": "storyloom.story", ...}',
        ),
    )
    async def import_(
        self,
        call: Call,
        data: Annotated[str, Param("The exported JSON, pasted", rest=True)] = "",
        file: Annotated[
            Upload | None, Param("The .json or .md file that /story export wrote")
        ] = None,
    ) -> str:
        if file is not None and data.strip():
            raise UsageError("Attach the file or paste the JSON, not both.", usage=IMPORT_USAGE)
        if file is not None:
            text, fmt = await read_export(file)
        elif data.strip():
            text, fmt = data, "json"
        else:
            raise UsageError(
                "Attach the `.json` or `.md` file that `/story export` wrote (or paste the "
                "JSON after the command).",
                usage=IMPORT_USAGE,
            )

        async def screen(part: str) -> bool:
            return await self.context.writer.check(
                part, channel=call.channel, user_id=call.author.id
            )

        store = self.context.store
        async with self.sessions.lock(call.channel), call.typing():
            if await self.sessions.current(call.channel, fresh=True) is not None:
                raise StateError("A story is already running here. End it first with `/story end`.")
            # Every text passes the channel's filters first (about 10 ms a turn on a busy CPU).
            story = await store.import_story(
                text,
                call.channel,
                call.author,
                fmt=fmt,
                narrator=Author(BOT_ID, self.config.narrator_name),
                screen=screen,
            )
            count = await store.turns.count(story.id)
            state = GameState.from_dict(story.state).join(
                Player(call.author.id, call.author.name),
                now=self.env.now(),
                timeout=self.config.turn_timeout_s,
            )
            await self.sessions.save(story, state)
        return (
            f"📥 Imported *{story.title or 'the story'}* ({count} turns, {story.mode}). "
            "It's the running story here now — `/story show` to catch up."
        )


IMPORT_USAGE = "/story import [file] | /story import <json>"


async def read_export(file: Upload) -> tuple[str, str]:
    """The text of an attached export and its format (``json`` or ``md``); UsageError, saying
    what to attach instead, for another kind of file, one over :data:`MAX_IMPORT_BYTES`, or
    bytes that are not UTF-8 text."""
    fmt = IMPORT_FORMATS.get(file.extension)
    if fmt is None:
        raise UsageError(
            f"`{file.filename}` is not a story export: attach the `.json` or `.md` file that "
            "`/story export` wrote.",
            usage=IMPORT_USAGE,
        )
    raw = await file.read(MAX_IMPORT_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
    if not text or "\x00" in text:  # undecodable, empty, or binary that happens to decode
        raise UsageError(
            f"`{file.filename}` is empty or not a text file (not UTF-8 text). Attach the "
            f"file `/story export {fmt}` wrote, unchanged."
        )
    return text, fmt
