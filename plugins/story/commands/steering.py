"""Steering: memory, author's note, title, lore, the change history and the server's story
settings."""

from __future__ import annotations

from typing import Annotated, Any

from bot.errors import NotFound, StateError, UsageError
from bot.plugin import Call, Param, command
from bot.types import Permission
from plugins.kit import textcraft
from plugins.story.base import StoryBase
from plugins.story.config import GUILD_KEYS, SAMPLING_PRESETS, SETTINGS_NAMESPACE
from plugins.story.game import GameState

GUILD_LIMITS: dict[str, tuple[float, float]] = {
    "auto_continue_every": (0, 50),
    "turn_timeout_s": (5, 86400),
    "vote_window_s": (5, 86400),
    "temperature": (0, 2),
    "max_new_tokens": (8, 1000),
}
CLEAR_WORDS = ("clear", "none", "-")


class SteeringCommands(StoryBase):
    """``/story memory|note|title|lore|changes|settings``."""

    async def _set_field(self, call: Call, field: str, label: str, text: str) -> str:
        text = textcraft.normalize_space(text)
        async with self.sessions.lock(call.channel):
            story = await self.sessions.story(call.channel)
            current = getattr(story, field)
            if not text:
                shown = f"*{current}*" if current else "(empty)"
                return f"{label}: {shown}"
            self.require_manager(story, call.author, label.lower())
            value = "" if text.lower() in CLEAR_WORDS else text
            try:
                updated = await self.context.store.stories.update(
                    story.id, by_user_id=call.author.id, **{field: value}
                )
            except (StateError, NotFound):
                self.sessions.forget(call.channel)
                raise
            self.sessions.remember(call.channel.key, updated)
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
        async with self.sessions.lock(call.channel):
            story = await self.sessions.story(call.channel)
            self.require_manager(story, call.author, "lore")
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
        story = await self.sessions.story(call.channel)
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
        async with self.sessions.lock(call.channel):
            story = await self.sessions.story(call.channel)
            self.require_manager(story, call.author, "lore")
            await self.context.store.lore.remove(story.id, entry)
        return f"🗑️ Lore `#{entry}` removed."

    @command(
        "story changes",
        description="Who changed the story's memory, note or title.",
        aliases=("story history",),
        examples=("/story changes",),
    )
    async def changes(self, call: Call) -> str:
        story = await self.sessions.story(call.channel)
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
            values = await self.sessions.guild(call.channel)
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
        if key in GUILD_LIMITS and not GUILD_LIMITS[key][0] <= parsed <= GUILD_LIMITS[key][1]:
            low, high = GUILD_LIMITS[key]
            raise UsageError(f"`{key}` must be between {low:g} and {high:g}.")
        await store.set(SETTINGS_NAMESPACE, key, parsed, guild_id=call.channel.guild_id)
        return f"⚙️ `{key}` is now {parsed} in this server."
