"""The composer's selection, cutting, rhyme repair and retries, with scripted model outputs.

A scripted ``generate`` stands in for the model here so that each rule is exercised exactly;
``test_poem_e2e.py`` runs the same code with the real bundled model.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bot.generation.types import GenerationRequest
from plugins.poem.composer import (
    ComposerSettings,
    PoemComposer,
    clean_line,
    line_cuts,
)
from plugins.poem.forms import LineRule, PoemForm
from plugins.poem.prompts import PoemPrompt


class Script:
    """Answers requests from a function of (request, call number); records the requests."""

    def __init__(self, answer: Callable[[GenerationRequest, int], str | None]) -> None:
        self.answer = answer
        self.requests: list[GenerationRequest] = []

    async def __call__(self, request: GenerationRequest) -> str | None:
        self.requests.append(request)
        return self.answer(request, len(self.requests) - 1)


def composer(
    script: Script, *, chat: bool = False, candidates: int = 3, attempts: int = 2
) -> PoemComposer:
    return PoemComposer(
        script,
        chat=chat,
        rng=random.Random(1),
        settings=ComposerSettings(candidates=candidates, max_attempts=attempts),
    )


def test_clean_line() -> None:
    assert clean_line('  1. "Soft rain on the roof,"\nnext') == "Soft rain on the roof"
    assert clean_line("\n\n- The moon is bright") == "The moon is bright"
    assert clean_line("A haiku about the sea:") == ""
    assert clean_line("") == ""


def test_line_cuts_end_at_words_that_fit() -> None:
    rule = LineRule(5, 5)
    assert line_cuts("The big red dog ran to the park", rule) == [("The big red dog ran", False)]
    assert line_cuts("Soft rain on the roof", rule) == [("Soft rain on the roof", True)]
    assert line_cuts("Too short", rule) == []
    # "fire" has one or two syllables, so several cuts may fit.
    assert line_cuts("The fire, the fire, the end", LineRule(4, 5)) == [
        ("The fire, the", False),
        ("The fire, the fire", False),
        ("The fire, the fire, the", False),
    ]


async def test_haiku_lines_are_cut_to_their_syllable_budget() -> None:
    texts = [
        " the little dog ran all the way home to see his mother again",
        " he wanted to play with a ball in the garden with friends",
        " the sun was so warm and bright on the grass that day",
    ]
    script = Script(lambda r, n: texts[n % 3])
    poem = await composer(script).compose(PoemPrompt(PoemForm.HAIKU, "a dog"))
    assert poem.valid, poem.check.problems
    assert poem.lines[0] == "The little dog ran"
    assert poem.attempts == 1
    # Base-model prompts: few-shot text ending where the line starts, one line per request.
    first = script.requests[0]
    assert isinstance(first.prompt, str) and first.prompt.endswith("A haiku about a dog:\n")
    assert first.params.stop == ("\n",) and first.params.max_new_tokens == 2 * 5 + 6


async def test_candidates_are_ranked_natural_and_on_topic_first() -> None:
    # Two candidates start freely, the third after a plain opening ("The", "In the", ...).
    answers = ["Moon is so big and", "The moon is shining bright", "the the the the the"]
    script = Script(lambda r, n: answers[n % 3])
    poem = await composer(script, attempts=1).compose(
        PoemPrompt(PoemForm.FREE, "the moon"), lines=3
    )
    assert poem.lines[0] == "The moon is shining bright"


async def test_missing_rhyme_is_repaired_with_a_rhyming_word() -> None:
    lines = iter(["The cat sat down upon the mat", "She looked outside and saw a dog"] * 10)
    script = Script(lambda r, n: next(lines))
    poem = await composer(script, candidates=1).compose(PoemPrompt(PoemForm.COUPLET, "a cat"))
    assert poem.valid, poem.check.problems
    assert poem.repairs == 1
    assert poem.lines[1].startswith("She looked outside and saw a ")
    assert poem.lines[1].split()[-1] in {
        "cat",
        "hat",
        "that",
        "sat",
        "rat",
        "bat",
        "flat",
        "fat",
        "pat",
    }


async def test_a_rhyming_candidate_beats_repair() -> None:
    answers = {
        0: "The cat sat down upon the mat",
        1: "She looked outside and saw a dog",
        2: "And then she wore a funny hat",
    }
    script = Script(lambda r, n: answers.get(n, "she ran"))
    poem = await composer(script, candidates=2).compose(PoemPrompt(PoemForm.COUPLET, "a cat"))
    assert poem.valid and poem.repairs == 0
    assert poem.lines[1] == "And then she wore a funny hat"


async def test_a_poem_that_never_fits_is_retried_then_returned_as_approximate() -> None:
    script = Script(lambda r, n: "")
    poem = await composer(script, candidates=2, attempts=3).compose(
        PoemPrompt(PoemForm.HAIKU, "rain")
    )
    assert not poem.valid and poem.attempts == 3
    assert poem.check.problems


async def test_blocked_candidates_are_skipped() -> None:
    texts = ["rain falls on the roof, birds sing too", "puddles for my boots, I splash and play"]
    script = Script(lambda r, n: None if n % 2 == 0 else texts["Rain falls" in str(r.prompt)])
    poem = await composer(script, candidates=4).compose(PoemPrompt(PoemForm.HAIKU, "rain"))
    assert poem.valid


async def test_acrostic_lines_start_with_the_letters() -> None:
    script = Script(lambda r, n: " is for the way we play")
    poem = await composer(script, candidates=3).compose(
        PoemPrompt(PoemForm.ACROSTIC, "the sun", word="sun")
    )
    assert [line[0] for line in poem.lines] == ["S", "U", "N"]
    assert poem.valid
    # The base prompt ends with the line's prefix (the letter, or a word that starts with it).
    assert all(
        isinstance(r.prompt, str) and r.prompt.rsplit("\n", 1)[-1][:1] in "SUN"
        for r in script.requests
    )


async def test_chat_model_draft_is_kept_when_it_fits() -> None:
    draft = "Soft rain on the roof\nThe little bird hides and sings\nPuddles for my boots"
    script = Script(lambda r, n: draft if n == 0 else "never used")
    poem = await composer(script, chat=True).compose(PoemPrompt(PoemForm.HAIKU, "rain"))
    assert poem.valid and poem.lines == tuple(draft.split("\n"))
    assert len(script.requests) == 1
    messages = script.requests[0].prompt
    assert isinstance(messages, tuple) and messages[-1].role == "user"
    assert (
        "haiku about rain" in messages[-1].content and "line 2: 7 syllables" in messages[-1].content
    )


async def test_chat_model_lines_that_miss_are_rewritten_line_by_line() -> None:
    draft = "Soft rain on the roof\nThe bird hides\nPuddles for my boots"

    def answer(request: GenerationRequest, n: int) -> str:
        return draft if n == 0 else "The little bird hides and sings"

    script = Script(answer)
    poem = await composer(script, chat=True, candidates=2).compose(
        PoemPrompt(PoemForm.HAIKU, "rain")
    )
    assert poem.valid
    assert poem.lines[1] == "The little bird hides and sings"
    follow_up = script.requests[1].prompt
    assert isinstance(follow_up, tuple) and follow_up[-1].role == "assistant"
    assert follow_up[-1].content == "Soft rain on the roof\n"


async def test_chat_draft_with_a_title_keeps_the_lines_that_fit() -> None:
    draft = (
        "The Rain\n\nSoft rain on the roof\nThe little bird hides and sings\nPuddles for my boots\n"
    )
    script = Script(lambda r, n: draft if n == 0 else "never used")
    poem = await composer(script, chat=True).compose(PoemPrompt(PoemForm.HAIKU, "rain"))
    assert poem.valid and poem.lines[0] == "Soft rain on the roof"
    assert len(script.requests) == 1


async def test_lines_with_made_up_words_dangling_ends_or_leading_punctuation_are_refused() -> None:
    """Candidates that break a word, stop on "with" or start with a comma never become lines
    while a clean candidate exists."""
    texts = [
        ", soft rain falls on the old roof",
        "the zorblaxy rain falls on the roof",
        "there he saw the rain fall with",
        "soft rain falls on the old roof today",
    ]
    script = Script(lambda r, n: texts[n % 4])
    poem = await composer(script, candidates=4).compose(PoemPrompt(PoemForm.HAIKU, "rain"))
    for line in poem.lines:
        assert line[0].isalpha(), line
        assert "zorblaxy" not in line.lower()
        assert line.split()[-1].lower().strip(".,!?") not in {"with", "the", "on"}, line


async def test_a_poem_that_misses_its_topic_is_written_again() -> None:
    """The first attempt's lines never name the topic; the next attempt's do, and win."""
    off = ["the old man sat by the door", "he looked at the sky and he sighed", "then he went home"]
    on = ["rain falls on the roof, birds sing too", "puddles for my boots, I splash and play"]

    def answer(request: GenerationRequest, n: int) -> str:
        return off[n % 3] if n < 24 else on["Rain falls" in str(request.prompt)]

    script = Script(answer)
    poem = await composer(script, candidates=4, attempts=3).compose(
        PoemPrompt(PoemForm.HAIKU, "rain")
    )
    assert any("rain" in line.lower() for line in poem.lines)


async def test_base_model_line_requests_favour_the_topics_words() -> None:
    script = Script(lambda request, n: "the quiet sea was blue and deep")
    favoured = PoemComposer(
        script,
        chat=False,
        rng=random.Random(1),
        settings=ComposerSettings(candidates=2, max_attempts=1, favour=3.0),
    )
    await favoured.compose(PoemPrompt(PoemForm.HAIKU, "a lighthouse by the sea"))
    assert script.requests
    for request in script.requests:
        assert request.params.favour == 3.0
        assert set(request.params.favoured_words) == {"lighthouse", "sea"}

    plain = Script(lambda request, n: "the quiet sea was blue and deep")
    await composer(plain).compose(PoemPrompt(PoemForm.HAIKU, "a lighthouse by the sea"))
    assert all(not r.params.favoured_words for r in plain.requests)
