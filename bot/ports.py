"""What a plugin may use, as narrow protocols: the store, the moderated writer, model facts.

A :class:`~bot.plugin.PluginContext` hands a plugin these ports and nothing wider: no database
engine, no user deletion, no audit log, no raw (unmoderated) generation service, no concrete
moderation pipeline. ``storage`` implements :class:`PluginStore`, ``bot.writer`` implements
:class:`Writer` and the generation service implements :class:`ModelFacts`; the dependency points
from them to here, never from the plugin API to them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.generation.types import GenerationRequest, GenerationResult
    from bot.records import (
        Alternative,
        ChannelMessage,
        LoreEntry,
        PromptContext,
        Story,
        StoryEdit,
        Turn,
        TurnKind,
    )
    from bot.types import Author, ChannelRef

__all__ = [
    "AlternativesPort",
    "CheckedText",
    "LorePort",
    "MessagesPort",
    "ModelFacts",
    "PluginStore",
    "ScopedSettingsPort",
    "StoriesPort",
    "TurnsPort",
    "Writer",
]


def _same(text: str) -> str:
    return text


class CheckedText(str):
    """A text that passed the output filters for the channel it was written for, exactly as it
    will be posted. Only the writer makes them; the router posts them without checking again
    (any change, such as ``text + "..."``, gives a plain ``str`` that is checked as usual)."""

    __slots__ = ()


class Writer(Protocol):
    """Moderated generation, the one guarantee for the model's output.

    ``post`` turns the model's raw text into the text to post (cleaning, trimming); the writer
    checks exactly that text, regenerates on a block (new seed, a little hotter) and raises
    :class:`~bot.errors.Blocked` after the last attempt. What it returns is a
    :class:`CheckedText` ("" when ``post`` left nothing, which is not checked).
    """

    async def complete(
        self,
        request: GenerationRequest,
        *,
        channel: ChannelRef,
        user_id: str | None = None,
        post: Callable[[str], str] = _same,
    ) -> GenerationResult:
        """One checked completion; ``result.text`` is the post-processed, checked text."""
        ...

    def stream(
        self,
        request: GenerationRequest,
        *,
        channel: ChannelRef,
        user_id: str | None = None,
        post: Callable[[str], str] = _same,
        partial: Callable[[str], str] | None = None,
    ) -> AsyncGenerator[CheckedText, None]:
        """Checked texts as the model writes: ``partial(raw so far)`` at word boundaries, then
        ``post(raw)`` last. After a block the text starts again from scratch."""
        ...

    async def check(self, text: str, *, channel: ChannelRef, user_id: str | None = None) -> bool:
        """Whether a text the plugin built itself would pass the output filters (blocks are
        audited). Use it to choose between candidates; what is posted is checked anyway."""
        ...


class ModelFacts(Protocol):
    """What a plugin may know about the model: how it counts, what prompts it takes."""

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes with the model's tokenizer."""
        ...

    @property
    def is_chat_model(self) -> bool:
        """True for chat models (messages, chat template); False for base models (plain text)."""
        ...

    @property
    def max_context_tokens(self) -> int:
        """Prompt plus generated tokens must fit in this many tokens."""
        ...

    @property
    def model_name(self) -> str: ...


class StoriesPort(Protocol):
    """Stories of a channel; at most one is running (not ended) per channel."""

    async def create(
        self,
        channel: ChannelRef,
        author: Author,
        *,
        title: str = "",
        premise: str = "",
        memory: str = "",
        author_note: str = "",
        mode: str = "free",
        state: Mapping[str, Any] | None = None,
    ) -> Story: ...

    async def get_active(self, channel: ChannelRef | str) -> Story | None: ...

    async def get(self, story_id: int, channel: ChannelRef | str) -> Story: ...

    async def list_for_channel(
        self, channel: ChannelRef | str, *, limit: int = 25
    ) -> list[Story]: ...

    async def update(
        self,
        story_id: int,
        *,
        by_user_id: str,
        title: str | None = None,
        premise: str | None = None,
        memory: str | None = None,
        author_note: str | None = None,
        mode: str | None = None,
    ) -> Story: ...

    async def end(self, story_id: int, *, by_user_id: str) -> Story: ...

    async def update_state(
        self, story_id: int, state: Mapping[str, Any], *, expected_version: int
    ) -> Story: ...

    async def history(self, story_id: int) -> list[StoryEdit]: ...


class TurnsPort(Protocol):
    """A story's turns, in order; undone turns stay stored but hidden."""

    async def add(
        self,
        story_id: int,
        *,
        author_id: str,
        author_name: str,
        kind: TurnKind,
        text: str,
        token_count: int | None = None,
        state: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Turn: ...

    async def last(self, story_id: int, *, include_removed: bool = False) -> Turn | None: ...

    async def window(
        self,
        story_id: int,
        *,
        limit: int = 20,
        before_position: int | None = None,
        include_removed: bool = False,
    ) -> list[Turn]: ...

    async def all(self, story_id: int, *, include_removed: bool = False) -> list[Turn]: ...

    async def count(self, story_id: int, *, include_removed: bool = False) -> int: ...

    async def undo(
        self, story_id: int, *, by_user_id: str, only_author_id: str | None = None
    ) -> Turn: ...

    async def edit_last(
        self, story_id: int, *, author_id: str, text: str, token_count: int | None = None
    ) -> Turn: ...


class AlternativesPort(Protocol):
    """Versions ("swipes") of the storyteller's turns, and votes on them."""

    async def add(
        self,
        story_id: int,
        turn_id: int,
        text: str,
        *,
        token_count: int | None = None,
        select_it: bool = True,
    ) -> Alternative: ...

    async def all(self, story_id: int, turn_id: int) -> list[Alternative]: ...

    async def select(self, story_id: int, turn_id: int, alternative_id: int) -> Turn: ...

    async def vote(
        self, story_id: int, turn_id: int, alternative_id: int, voter_id: str
    ) -> None: ...


class LorePort(Protocol):
    """Keyword-triggered facts of a story."""

    async def add(
        self, story_id: int, keys: Sequence[str], text: str, *, created_by_id: str
    ) -> LoreEntry: ...

    async def remove(self, story_id: int, entry_id: int) -> None: ...

    async def all(self, story_id: int) -> list[LoreEntry]: ...


class MessagesPort(Protocol):
    """A channel's recent conversation (what no plugin took), newest last."""

    async def recent(
        self, channel: ChannelRef | str, *, limit: int | None = None
    ) -> list[ChannelMessage]: ...


class ScopedSettingsPort(Protocol):
    """Settings by namespace: registered defaults, then per-guild, then per-channel values."""

    def register_defaults(self, namespace: str, **defaults: Any) -> None: ...

    async def get(
        self,
        namespace: str,
        key: str,
        *,
        guild_id: str | None = None,
        channel_id: str | None = None,
    ) -> Any: ...

    async def get_all(
        self, namespace: str, *, guild_id: str | None = None, channel_id: str | None = None
    ) -> dict[str, Any]: ...

    async def set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        guild_id: str | None,
        channel_id: str | None = None,
    ) -> None: ...

    async def update(
        self,
        namespace: str,
        key: str,
        change: Callable[[Any], Any],
        *,
        guild_id: str | None,
        channel_id: str | None = None,
    ) -> tuple[Any, Any]: ...

    async def clear(
        self,
        namespace: str,
        key: str | None = None,
        *,
        guild_id: str | None,
        channel_id: str | None = None,
    ) -> int: ...


class PluginStore(Protocol):
    """The part of storage a plugin may use: stories, turns, alternatives, lore, recent
    messages, scoped settings, context assembly, export and import. (No engine, no user
    deletion, no audit log: those belong to the core.)"""

    @property
    def stories(self) -> StoriesPort: ...

    @property
    def turns(self) -> TurnsPort: ...

    @property
    def alternatives(self) -> AlternativesPort: ...

    @property
    def lore(self) -> LorePort: ...

    @property
    def messages(self) -> MessagesPort: ...

    @property
    def settings(self) -> ScopedSettingsPort: ...

    async def assemble_context(
        self,
        story: Story | int,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
        *,
        author_note_depth: int = 3,
        lore_scan_turns: int = 4,
        cue: str = "",
        prose: bool = False,
    ) -> PromptContext:
        """The newest turns (plus memory, triggered lore, the author's note and ``cue``) that
        fit ``budget_tokens``; costs O(window), not O(story length)."""
        ...

    async def export_story(self, story: Story, fmt: str = "md") -> str:
        """The whole story as Markdown (``md``) or JSON (``json``), with authors."""
        ...

    async def import_story(
        self,
        data: str,
        channel: ChannelRef,
        by: Author,
        *,
        fmt: str = "json",
        narrator: Author | None = None,
        screen: Callable[[str], Awaitable[bool]] | None = None,
    ) -> Story:
        """A new running story in ``channel`` from an exported JSON or Markdown (``fmt="md"``)
        document, all or nothing; raises UsageError saying what is wrong with a bad one.
        Markdown names people but has no ids: the storyteller's turns take ``narrator``.
        ``screen`` sees every text first; one it refuses raises Blocked (nothing is stored)."""
        ...
