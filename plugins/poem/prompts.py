"""Prompt templates for poems: few-shot continuation text for base models, messages for chat models.

Both formats build the prompt for *one line* of a poem: the lines written so far are part of the
prompt, and the model writes the next line (base models stop at the newline). Chat models also
get a whole-poem prompt for a first draft.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.generation.types import ChatMessage
from plugins.poem.forms import LineRule, PoemForm

__all__ = [
    "EXAMPLES",
    "PoemPrompt",
    "base_line_prompt",
    "chat_line_prompt",
    "chat_poem_prompt",
    "title",
]


@dataclass(frozen=True, slots=True)
class PoemPrompt:
    """What a poem is about: ``topic`` (a few words), ``word`` for acrostics, ``context``
    (a short excerpt of the story it comes from, may be empty)."""

    form: PoemForm
    topic: str
    word: str = ""
    context: str = ""


# Hand-written examples; tests check that every one keeps its form.
EXAMPLES: dict[PoemForm, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    PoemForm.HAIKU: (
        (
            "the rain",
            "",
            ("Soft rain on the roof", "The little bird hides and sings", "Puddles for my boots"),
        ),
        (
            "a cat",
            "",
            ("The cat naps in sun", "Her warm fur smells like the grass", "She dreams of a bird"),
        ),
    ),
    PoemForm.LIMERICK: (
        (
            "a frog",
            "",
            (
                "There once was a frog in a tree",
                "Who wanted to swim in the sea",
                "He hopped to the shore",
                "Then ran back for more",
                "And laughed with a splash full of glee",
            ),
        ),
        (
            "a kite",
            "",
            (
                "There was a young girl with a kite",
                "Who flew it from morning to night",
                "It danced in the sky",
                "Where the birds flutter by",
                "And she smiled at the wonderful sight",
            ),
        ),
    ),
    PoemForm.ACROSTIC: (
        (
            "the sun",
            "sun",
            ("Shining all day long", "Up above the trees", "Never cold, always warm"),
        ),
        (
            "a cat",
            "cat",
            ("Curled up on the bed", "Always soft and warm", "Tiny paws and a pink nose"),
        ),
    ),
    PoemForm.COUPLET: (
        (
            "the moon",
            "",
            ("The moon came out to see the night", "It filled the garden with its light"),
        ),
        ("a dog", "", ("My little dog runs after the ball", "He brings it back when I call")),
    ),
    PoemForm.QUATRAIN: (
        (
            "the sea",
            "",
            (
                "The sea is big and blue and wide",
                "The fishes swim from side to side",
                "The waves come rolling to the shore",
                "And then they go back out once more",
            ),
        ),
        (
            "a garden",
            "",
            (
                "The flowers grow in rows of red",
                "The bees are buzzing by my head",
                "The sun is warm, the sky is clear",
                "I love the garden every year",
            ),
        ),
    ),
    PoemForm.FREE: (
        (
            "snow",
            "",
            (
                "Snow falls without a sound",
                "The whole street turns white",
                "My dog jumps in and disappears",
                "We laugh until our noses are red",
            ),
        ),
        (
            "the old tree",
            "",
            (
                "The old tree holds the sky",
                "Birds sleep in its arms",
                "When the wind comes",
                "It tells long stories in leaves",
            ),
        ),
    ),
}

QUATRAIN_TARGET_SCHEME = "AABB"
"""The scheme the examples use and the generator aims at (the checker accepts the others)."""

_INTRO = "Here are some short poems for children."


def title(form: PoemForm, topic: str, word: str = "") -> str:
    """The heading line of a poem in the base prompt, e.g. ``A haiku about the rain:``."""
    if form is PoemForm.ACROSTIC:
        return f"An acrostic about {topic}, spelling {word.upper()}:"
    if form is PoemForm.FREE:
        return f"A free verse poem about {topic}:"
    return f"A {form.value} about {topic}:"


def base_line_prompt(
    prompt: PoemPrompt, lines: Sequence[str], prefix: str = "", *, examples: int = 2
) -> str:
    """A few-shot continuation prompt that ends where the next line begins (plus ``prefix``)."""
    blocks = [_INTRO]
    for topic, word, example in EXAMPLES[prompt.form][:examples]:
        blocks.append("\n".join([title(prompt.form, topic, word), *example]))
    blocks.append("\n".join([title(prompt.form, prompt.topic, prompt.word), *lines, prefix]))
    return "\n\n".join(blocks)


def _plan(rules: Sequence[LineRule]) -> str:
    parts: list[str] = []
    for i, rule in enumerate(rules, 1):
        size = (
            f"{rule.min_syllables} syllables"
            if rule.min_syllables == rule.max_syllables
            else f"{rule.min_syllables}-{rule.max_syllables} syllables"
        )
        extra = f", starting with {rule.initial.upper()}" if rule.initial else ""
        parts.append(f"line {i}: {size}{extra}")
    groups: dict[str, list[int]] = {}
    for i, rule in enumerate(rules, 1):
        if rule.rhyme:
            groups.setdefault(rule.rhyme, []).append(i)
    rhyme = [
        f"lines {', '.join(map(str, members))} rhyme"
        for members in groups.values()
        if len(members) > 1
    ]
    return "; ".join(parts) + (". " + "; ".join(rhyme).capitalize() if rhyme else "") + "."


_SYSTEM = (
    "You are a children's poet. You write short, simple, vivid poems and always keep "
    "the form exactly. You reply with the poem only: one line of verse per line, no title."
)


def _user(prompt: PoemPrompt, rules: Sequence[LineRule]) -> str:
    what = f"Write a {prompt.form.label} about {prompt.topic}"
    if prompt.form is PoemForm.ACROSTIC:
        what += f" whose lines start with the letters of {prompt.word.upper()}"
    text = f"{what}. Form: {prompt.form.summary}. Plan: {_plan(rules)}"
    if prompt.context:
        text += f"\n\nIt is about this story:\n{prompt.context}"
    return text


def chat_poem_prompt(prompt: PoemPrompt, rules: Sequence[LineRule]) -> tuple[ChatMessage, ...]:
    """Messages asking a chat model for the whole poem."""
    return (ChatMessage("system", _SYSTEM), ChatMessage("user", _user(prompt, rules)))


def chat_line_prompt(
    prompt: PoemPrompt, rules: Sequence[LineRule], lines: Sequence[str], prefix: str = ""
) -> tuple[ChatMessage, ...]:
    """Messages whose final assistant turn holds the poem so far; the model continues it."""
    partial = "".join(f"{line}\n" for line in lines) + prefix
    return (*chat_poem_prompt(prompt, rules), ChatMessage("assistant", partial))
