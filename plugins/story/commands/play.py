"""Playing: turns, the storyteller, versions, undo and edit, players and votes, and the
buttons under the storyteller's turns."""

from __future__ import annotations

from typing import Annotated

from bot.errors import UsageError
from bot.plugin import Call, Param, action, command
from bot.records import Story
from bot.types import Reply
from plugins.story.base import StoryBase
from plugins.story.game import GameState, Player
from plugins.story.render import as_int, say


class PlayCommands(StoryBase):
    """``/story add|continue|retry|swipe|undo|edit|join|leave|vote`` and the buttons."""

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
        async with self.sessions.lock(call.channel):
            added = await self.turns.add(call, text, typed_command=True)
        await self.turns.after(call, added)

    @command(
        "story continue",
        description="Ask the storyteller to write the next part.",
        aliases=("story next",),
        examples=("/story continue",),
    )
    async def continue_(self, call: Call) -> None:
        await self.turns.continue_now(call, auto=False)

    @command(
        "story retry",
        description="Write my last part again (earlier versions are kept).",
        aliases=("story reroll",),
        examples=("/story retry",),
    )
    async def retry(self, call: Call) -> None:
        await self.turns.retry(call, None)

    @command(
        "story swipe",
        description="Switch my last part to another version.",
        aliases=("story version",),
        examples=("/story swipe 1", "/story swipe 2"),
    )
    async def swipe(
        self, call: Call, n: Annotated[int, Param("Version number", min=1, max=100)]
    ) -> Reply:
        async with self.sessions.lock(call.channel):
            return await self.turns.swipe(call, None, n)

    @command(
        "story undo",
        description="Take back the last turn (yours, or any as a moderator).",
        examples=("/story undo",),
    )
    async def undo(self, call: Call) -> str:
        async with self.sessions.lock(call.channel):
            return await self.turns.undo(call, None)

    @command(
        "story edit",
        description="Rewrite your own last turn.",
        examples=("/story edit The door creaked open slowly.",),
    )
    async def edit(
        self, call: Call, text: Annotated[str, Param("The new text", rest=True)] = ""
    ) -> str:
        return await self.turns.edit(call, text)

    # -- players and votes ------------------------------------------------------------------
    @command("story join", description="Join the story as a player.", examples=("/story join",))
    async def join(self, call: Call) -> str:
        async with self.sessions.lock(call.channel):
            story, state, notes = await self._caught_up(call)
            if state.has(call.author.id):
                return "\n".join([*notes, "You're already playing in this story."])
            guild = await self.sessions.guild(call.channel)
            state = state.join(
                Player(call.author.id, call.author.name),
                now=self.env.now(),
                timeout=float(guild["turn_timeout_s"]),
            )
            await self.sessions.save(story, state)
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
        async with self.sessions.lock(call.channel):
            story, state, notes = await self._caught_up(call)
            if not state.has(call.author.id):
                return "\n".join([*notes, "You're not playing in this story."])
            guild = await self.sessions.guild(call.channel)
            state = state.leave(
                call.author.id, now=self.env.now(), timeout=float(guild["turn_timeout_s"])
            )
            story = await self.sessions.save(story, state)
            lines = [*notes, f"👋 **{call.author.name}** left the story."]
            if story.mode == "round-robin" and state.current_player is not None:
                lines.append(f"➡️ It's **{state.current_player.name}**'s turn.")
            if state.vote is not None and state.everyone_voted():
                story, state, note = await self.votes.close(story, state)
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
        await self._vote(call, None, n)

    async def _vote(self, call: Call, round_number: int | None, n: int) -> None:
        async with self.sessions.lock(call.channel):
            story, state, notes = await self._caught_up(call)
            await say(call, notes)
            await self.votes.cast(call, story, state, round_number, n, caught_up=bool(notes))

    async def _caught_up(self, call: Call) -> tuple[Story, GameState, list[str]]:
        """The channel's story (read fresh) with what time did applied."""
        story = await self.sessions.story(call.channel)
        return await self.timers.catch_up(
            call.channel, story, GameState.from_dict(story.state), call.author.id
        )

    # -- buttons ----------------------------------------------------------------------------
    @action("continue")
    async def press_continue(self, call: Call, arg: str) -> None:
        await self.turns.continue_now(call, auto=False)

    @action("retry")
    async def press_retry(self, call: Call, arg: str) -> None:
        await self.turns.retry(call, as_int(arg))

    @action("undo")
    async def press_undo(self, call: Call, arg: str) -> str:
        async with self.sessions.lock(call.channel):
            return await self.turns.undo(call, as_int(arg))

    @action("swipe")
    async def press_swipe(self, call: Call, arg: str) -> Reply:
        turn_id, _, n = arg.partition(":")
        async with self.sessions.lock(call.channel):
            return await self.turns.swipe(call, as_int(turn_id), as_int(n) or 1)

    @action("vote")
    async def press_vote(self, call: Call, arg: str) -> None:
        round_number, _, n = arg.partition(":")
        await self._vote(call, as_int(round_number), as_int(n) or 0)
