"""Prompt assembly, KoboldAI-style, within an exact token budget.

Order of the prompt, one part per line::

    memory
    lore entries triggered by keywords in the last ``lore_scan_turns`` turns
    older turns ...
    [Author's note: ...]        <- ``author_note_depth`` turns before the end
    the newest ``author_note_depth`` turns
    cue

Player turns are tagged with their author (``Alice: I open the door.``); the bot's turns are the
narration and stay untagged; system turns (joins, mode changes) are not part of the prompt.

``prose=True`` is the form for a base (non-chat) model, which was trained on plain stories: every
turn is an untagged paragraph, parts are separated by blank lines, and the author's note is left
out (a base model cannot follow an instruction; it would copy it into the story; the story plugin
steers by it when it ranks candidates instead).
Memory, author's note and cue always go in; lore next; then turns newest first until the budget
is spent (the window is contiguous: it stops at the first turn that does not fit).

Cost: turns are read newest first in small pages through the (story_id, position) index, so
assembly reads only the window it uses, however long the story is. Token counts of rendered
turns are cached in ``turns.token_count``. The final text is counted once more with
``count_tokens`` and trimmed if needed, so ``total_tokens <= budget_tokens`` holds for any
tokenizer (even one whose counts are not additive across lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.errors import PromptTooLong
from bot.records import (
    LoreEntry,
    PromptContext,
    PromptPart,
    PromptPartKind,
    Story,
    Turn,
    TurnKind,
)
from storage.repositories import LoreRepository, TurnRepository

SEPARATOR = "\n"
PROSE_SEPARATOR = "\n\n"
FIRST_PAGE = 32
MAX_PAGE = 512


_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029\x0b\x0c\x85]+\s*")


def prompt_safe(text: str) -> str:
    """One line, with no square-bracket tags: a turn cannot start a new speaker's line
    ("\nAlice: ...", "\nSystem: ...") or fake an author's note in the prompt."""
    return _LINE_BREAKS.sub(" ", text).replace("[", "(").replace("]", ")").strip()


def render_turn(turn: Turn, *, prose: bool = False) -> str | None:
    """How a turn reads in the prompt (None: not part of the prompt)."""
    text = prompt_safe(turn.text)
    if turn.kind == TurnKind.PLAYER and not prose:
        return f"{turn.author_name}: {text}"
    if turn.kind in (TurnKind.BOT, TurnKind.PLAYER):
        return text
    return None


def render_author_note(note: str) -> str:
    return f"[Author's note: {note.strip()}]"


def triggered_lore(entries: Sequence[LoreEntry], recent_texts: Sequence[str]) -> list[LoreEntry]:
    """Entries with a keyword appearing (case-insensitive, whole word) in ``recent_texts``."""
    haystack = "\n".join(recent_texts)
    found = []
    for entry in entries:
        for key in entry.keys:
            if re.search(rf"(?<!\w){re.escape(key)}(?!\w)", haystack, re.IGNORECASE):
                found.append(entry)
                break
    return found


async def assemble_context(
    turns: TurnRepository,
    lore: LoreRepository,
    story: Story,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    *,
    author_note_depth: int = 3,
    lore_scan_turns: int = 4,
    cue: str = "",
    prose: bool = False,
) -> PromptContext:
    """Build the prompt for the next continuation of ``story`` within ``budget_tokens``.

    ``count_tokens`` must be the generating model's tokenizer (it may be called on a worker
    thread by the caller; it is called here directly, on small texts only). Raises
    PromptTooLong when memory, author's note and cue alone do not fit.
    """
    separator = PROSE_SEPARATOR if prose else SEPARATOR
    sep = count_tokens(separator)

    def part(kind: PromptPartKind, text: str, ref: int | None = None) -> PromptPart:
        return PromptPart(kind, text, count_tokens(text), ref)

    memory = part(PromptPartKind.MEMORY, story.memory.strip()) if story.memory.strip() else None
    note = (
        part(PromptPartKind.AUTHOR_NOTE, render_author_note(story.author_note))
        if story.author_note.strip() and not prose
        else None
    )
    cue_part = part(PromptPartKind.CUE, cue.strip()) if cue.strip() else None
    fixed = [p for p in (memory, note, cue_part) if p is not None]
    used = sum(p.tokens for p in fixed) + sep * max(len(fixed) - 1, 0)
    if used > budget_tokens:
        raise PromptTooLong(prompt_tokens=used, limit=budget_tokens)

    def cost(tokens: int, parts_so_far: int) -> int:
        return tokens + (sep if parts_so_far else 0)

    n_parts = len(fixed)
    pages = _TurnPages(turns, story.id)
    first = await pages.peek(max(lore_scan_turns, 1))
    lore_parts: list[PromptPart] = []
    entries = await lore.all(story.id)
    if entries and lore_scan_turns > 0:
        recent = [t.text for t in first[:lore_scan_turns]]
        for entry in triggered_lore(entries, recent):
            candidate = part(PromptPartKind.LORE, entry.text.strip(), entry.id)
            if used + cost(candidate.tokens, n_parts) <= budget_tokens:
                lore_parts.append(candidate)
                used += cost(candidate.tokens, n_parts)
                n_parts += 1

    turn_parts: list[PromptPart] = []  # newest first
    computed: dict[int, int] = {}
    truncated = False
    async for turn in pages:
        text = render_turn(turn, prose=prose)
        if text is None:
            continue
        tokens = turn.token_count
        if tokens is None:
            tokens = computed[turn.id] = count_tokens(text)
        if used + cost(tokens, n_parts) > budget_tokens:
            truncated = True
            break
        turn_parts.append(PromptPart(PromptPartKind.TURN, text, tokens, turn.id))
        used += cost(tokens, n_parts)
        n_parts += 1
    if computed:
        await turns.cache_token_counts(computed)

    while True:
        ordered = _order(memory, lore_parts, turn_parts[::-1], note, cue_part, author_note_depth)
        text = separator.join(p.text for p in ordered)
        total = count_tokens(text)
        if total <= budget_tokens:
            break
        # The tokenizer is not additive across lines: give up the oldest turn, then lore.
        truncated = True
        if turn_parts:
            turn_parts.pop()
        elif lore_parts:
            lore_parts.pop()
        else:
            raise PromptTooLong(prompt_tokens=total, limit=budget_tokens)
    return PromptContext(
        parts=tuple(ordered),
        text=text,
        total_tokens=total,
        budget_tokens=budget_tokens,
        turn_ids=tuple(p.ref_id for p in reversed(turn_parts) if p.ref_id is not None),
        lore_ids=tuple(p.ref_id for p in lore_parts if p.ref_id is not None),
        truncated=truncated,
    )


def _order(
    memory: PromptPart | None,
    lore: list[PromptPart],
    turns_oldest_first: list[PromptPart],
    note: PromptPart | None,
    cue: PromptPart | None,
    depth: int,
) -> list[PromptPart]:
    parts: list[PromptPart] = [memory] if memory else []
    parts.extend(lore)
    split = max(len(turns_oldest_first) - max(depth, 0), 0)
    parts.extend(turns_oldest_first[:split])
    if note:
        parts.append(note)
    parts.extend(turns_oldest_first[split:])
    if cue:
        parts.append(cue)
    return parts


class _TurnPages:
    """Visible turns of a story, newest first, fetched in growing pages."""

    def __init__(self, turns: TurnRepository, story_id: int) -> None:
        self._turns = turns
        self._story_id = story_id
        self._buffer: list[Turn] = []
        self._before: int | None = None
        self._page = FIRST_PAGE
        self._exhausted = False
        self._index = 0

    async def _fetch(self) -> None:
        window = await self._turns.window(
            self._story_id, limit=self._page, before_position=self._before
        )
        if len(window) < self._page:
            self._exhausted = True
        if window:
            self._before = window[0].position
            self._buffer.extend(reversed(window))
        self._page = min(self._page * 2, MAX_PAGE)

    async def peek(self, n: int) -> list[Turn]:
        while len(self._buffer) < n and not self._exhausted:
            await self._fetch()
        return self._buffer[:n]

    def __aiter__(self) -> _TurnPages:
        self._index = 0
        return self

    async def __anext__(self) -> Turn:
        if self._index >= len(self._buffer):
            if self._exhausted:
                raise StopAsyncIteration
            await self._fetch()
            if self._index >= len(self._buffer):
                raise StopAsyncIteration
        turn = self._buffer[self._index]
        self._index += 1
        return turn
