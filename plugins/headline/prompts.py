"""Headline prompt templates: few-shot continuation for base models, messages for chat models."""

from __future__ import annotations

from bot.generation.types import ChatMessage

__all__ = [
    "EXAMPLES",
    "base_clause_prompt",
    "base_headline_prompt",
    "base_subheadline_prompt",
    "chat_headline_prompt",
    "parse_chat_answer",
]

EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "Tom found a small puppy in the rain. He took it home, gave it warm milk and named it Lucky.",
        "Boy Rescues Puppy From the Rain",
        "Tom gives the little dog a warm home and a lucky new name",
    ),
    (
        "The king's crown was missing. The whole castle looked for it until a little mouse found it "
        "under the royal bed.",
        "Tiny Mouse Finds the King's Lost Crown",
        "The castle searched all day, but the smallest helper solved the mystery",
    ),
)

_INTRO = "The Story Times: news from the land of stories."


def _block(story: str, headline: str = "", sub: str = "") -> str:
    lines = [f"Story: {story}", f"Headline:{' ' + headline if headline else ''}"]
    if sub:
        lines.append(f"Sub-headline: {sub}")
    return "\n".join(lines)


def base_headline_prompt(source: str, *, examples: int = 2) -> str:
    """Ends with ``Headline:``; the model writes the headline (stop at the newline)."""
    blocks = [_INTRO, *(_block(*example) for example in EXAMPLES[:examples]), _block(source)]
    return "\n\n".join(blocks)


STORY_OF_CUE = "This is the story of how"


def base_clause_prompt(source: str, subject: str) -> str:
    """The story, then ``This is the story of how <subject>``: a base story model completes
    the sentence in words it knows; the plugin makes the headline from that clause."""
    return f"{source.strip()}\n\n{STORY_OF_CUE} {subject}"


def base_subheadline_prompt(source: str, headline: str, *, examples: int = 2) -> str:
    """Ends with ``Sub-headline:`` after the chosen headline."""
    return f"{base_headline_prompt(source, examples=examples)} {headline}\nSub-headline:"


_SYSTEM = (
    "You are a newspaper editor for children's stories. You write short, lively "
    "headlines in title case, without quotes."
)


def chat_headline_prompt(source: str, *, subheadline: bool) -> tuple[ChatMessage, ...]:
    """Ask a chat model for a headline (line 1) and optionally a sub-headline (line 2)."""
    ask = (
        "Write a news-style headline (4-10 words, title case, no quotes) for the story below. "
        "Do not copy its first sentence."
    )
    if subheadline:
        ask += " On a second line, write a one-sentence sub-headline."
    ask += " Reply with the lines only.\n\nStory: " + source
    return (ChatMessage("system", _SYSTEM), ChatMessage("user", ask))


def parse_chat_answer(text: str) -> tuple[str, str]:
    """(headline, sub-headline) from a chat model's answer (the sub-headline may be empty)."""
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]
    headline = lines[0] if lines else ""
    sub = lines[1] if len(lines) > 1 else ""
    return headline, sub
