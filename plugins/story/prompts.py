"""Prompt templates: plain continuation text for base models, system + user messages for chat
models. Context assembly (memory, lore, turns tagged with their authors, author's note, cue) is
the store's; this module adds the premise and the model-specific framing around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.generation.types import ChatMessage
from bot.records import PromptContext, PromptPartKind, Story

CHAT_OVERHEAD_TOKENS = 48
"""Room left for a chat template's role markers."""

CHAT_SYSTEM = (
    "You are the narrator of a story that several players write together in a chat. "
    "{about}Continue the story from where it stops with one or two short paragraphs of "
    "narration (under 120 words). Stay consistent with the facts given. Do not repeat earlier "
    "text. {voice}Reply with the story text only."
)
CHAT_USER = "The story so far:\n\n{context}\n\nWrite what happens next."
RECAP_SYSTEM = (
    "You summarise a story for a player who just joined. Reply with two or three plain "
    "sentences about the main characters and what has happened. No lists, no titles."
)
RECAP_USER = "Story:\n\n{context}\n\nSummary:"
RECAP_BASE_CUE = "In short, this is the story so far:"


@dataclass(frozen=True, slots=True)
class BuiltPrompt:
    """A prompt ready for a GenerationRequest, and the plain text it was built from."""

    prompt: str | tuple[ChatMessage, ...]
    text: str
    """The assembled context (premise, memory, lore, turns, note, cue) as plain text."""
    context: PromptContext


def header(story: Story) -> str:
    """What the story is about, kept at the very top of every prompt."""
    return story.premise.strip()


def without_turn(context: PromptContext, turn_id: int, *, separator: str = "\n") -> str:
    """The context text with one turn left out (a retry writes that turn again)."""
    return separator.join(
        p.text for p in context.parts if not (p.kind is PromptPartKind.TURN and p.ref_id == turn_id)
    )


def base_continuation(head: str, context_text: str, *, separator: str = "\n") -> str:
    return separator.join(t for t in (head, context_text) if t.strip())


def chat_continuation(
    story: Story, context_text: str, *, player_names: Sequence[str], allow_player_voice: bool
) -> tuple[ChatMessage, ...]:
    about = f'The story is called "{story.title}". ' if story.title else ""
    if story.premise.strip():
        about += f"Premise: {story.premise.strip()} "
    names = ", ".join(player_names)
    if allow_player_voice:
        voice = ""
    elif names:
        voice = f"Never write words or actions for the players ({names}); they write their own. "
    else:
        voice = "Never write words or actions for the players; they write their own. "
    return (
        ChatMessage("system", CHAT_SYSTEM.format(about=about, voice=voice)),
        ChatMessage("user", CHAT_USER.format(context=context_text.strip())),
    )


def chat_recap(head: str, context_text: str) -> tuple[ChatMessage, ...]:
    return (
        ChatMessage("system", RECAP_SYSTEM),
        ChatMessage("user", RECAP_USER.format(context=base_continuation(head, context_text))),
    )


def base_recap(head: str, context_text: str) -> str:
    return base_continuation(head, context_text) + "\n\n" + RECAP_BASE_CUE


def prompt_budget(
    *,
    max_context_tokens: int,
    max_new_tokens: int,
    fixed_text: str,
    count_tokens: Callable[[str], int],
    chat: bool,
) -> int:
    """Tokens left for assembled context after the answer, the fixed text and chat markers."""
    overhead = count_tokens(fixed_text) + 2 if fixed_text else 0
    if chat:
        overhead += CHAT_OVERHEAD_TOKENS
    return max_context_tokens - max_new_tokens - overhead
