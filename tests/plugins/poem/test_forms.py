"""Form checkers on hand-written valid and invalid poems."""

from __future__ import annotations

import pytest

from plugins.poem.forms import PoemForm, check_poem, layout, parse_form
from plugins.poem.prompts import EXAMPLES

HAIKU = ["An old silent pond", "A frog jumps into the pond", "Splash! Silence again"]
LIMERICK = [
    "There once was a man from Peru",
    "Who dreamed he was eating his shoe",
    "He woke with a fright",
    "In the middle of the night",
    "To find that his dream had come true",
]


@pytest.mark.parametrize(("form", "examples"), list(EXAMPLES.items()))
def test_every_prompt_example_keeps_its_form(form: PoemForm, examples: tuple) -> None:
    for _topic, word, lines in examples:
        check = check_poem(form, lines, word=word)
        assert check.valid, (form, lines, check.problems)


def test_haiku() -> None:
    assert check_poem(PoemForm.HAIKU, HAIKU).valid
    bad = check_poem(PoemForm.HAIKU, [HAIKU[0], "A frog jumps into the water", HAIKU[2]])
    assert not bad.valid
    assert bad.problems == ("the second line has 8 syllables, not 7",)
    assert not check_poem(PoemForm.HAIKU, HAIKU[:2]).valid
    # "fire" has one or two syllables: either reading may satisfy the count.
    assert check_poem(PoemForm.HAIKU, ["The fire is so warm", *HAIKU[1:]]).valid
    assert check_poem(PoemForm.HAIKU, ["The fire is warm now", *HAIKU[1:]]).valid


def test_limerick() -> None:
    assert check_poem(PoemForm.LIMERICK, LIMERICK).valid
    no_rhyme = [*LIMERICK[:4], "To find that his dream was a dog"]
    check = check_poem(PoemForm.LIMERICK, no_rhyme)
    assert not check.valid and "the fifth line should rhyme with the first (A)" in check.problems
    long_middle = [
        *LIMERICK[:2],
        "He woke with a terrible fright",
        "In the middle of that very night",
        LIMERICK[4],
    ]
    assert not check_poem(PoemForm.LIMERICK, long_middle).valid
    # B lines must rhyme with each other, not with A.
    b_broken = [*LIMERICK[:3], "In the middle of the day", LIMERICK[4]]
    assert (
        "the fourth line should rhyme with the third (B)"
        in check_poem(PoemForm.LIMERICK, b_broken).problems
    )


def test_acrostic() -> None:
    lines = ["Moonlight on the hill", "Owls are calling", "Over the dark lake", "Night is here"]
    assert check_poem(PoemForm.ACROSTIC, lines, word="moon").valid
    assert check_poem(PoemForm.ACROSTIC, lines, word="MOON!").valid
    check = check_poem(PoemForm.ACROSTIC, lines, word="mean")
    assert not check.valid and "the second line should start with E" in check.problems
    assert not check_poem(PoemForm.ACROSTIC, lines, word="").valid
    assert not check_poem(PoemForm.ACROSTIC, lines[:3], word="moon").valid


def test_couplet_and_quatrain() -> None:
    assert check_poem(
        PoemForm.COUPLET,
        ["The moon came out to see the night", "It filled the garden with its light"],
    ).valid
    assert not check_poem(
        PoemForm.COUPLET,
        ["The moon came out to see the night", "It filled the garden with its glow"],
    ).valid
    abab = [
        "The cat sat on the garden wall",
        "And watched the sparrows in the tree",
        "She did not like to hear them call",
        "They sang too loud for her to see",
    ]
    check = check_poem(PoemForm.QUATRAIN, abab)
    assert check.valid and check.scheme == "ABAB"
    abcb = [
        "The cat sat on the garden fence",
        "And watched the sparrows in the tree",
        "She did not like to hear them call",
        "They sang too loud for her to see",
    ]
    assert check_poem(PoemForm.QUATRAIN, abcb).scheme == "ABCB"
    unrhymed = [
        "The cat sat on the garden fence",
        "And watched the sparrows on the roof",
        "She did not like to hear them call",
        "They sang too loud for her to sleep",
    ]
    assert not check_poem(PoemForm.QUATRAIN, unrhymed).valid


def test_free_verse_and_repeats() -> None:
    assert check_poem(PoemForm.FREE, ["Snow falls", "The street turns white", "We laugh"]).valid
    assert not check_poem(PoemForm.FREE, ["Snow falls", "We laugh"]).valid
    assert not check_poem(PoemForm.FREE, ["Snow falls", "Snow falls!", "We laugh"]).valid
    too_long = ["This line goes on and on and on about so many things that it never ends"]
    assert not check_poem(PoemForm.FREE, too_long * 3).valid


def test_layout_and_names() -> None:
    assert [r.target for r in layout(PoemForm.HAIKU)] == [5, 7, 5]
    assert [r.rhyme for r in layout(PoemForm.LIMERICK)] == ["A", "A", "B", "B", "A"]
    assert [r.initial for r in layout(PoemForm.ACROSTIC, word="Sun")] == ["s", "u", "n"]
    assert [r.rhyme for r in layout(PoemForm.QUATRAIN, scheme="abcb")] == [None, "B", None, "B"]
    assert len(layout(PoemForm.FREE, lines=20)) == 8
    assert parse_form("Haiku") is PoemForm.HAIKU
    assert parse_form("free-verse") is PoemForm.FREE
    assert parse_form("limericks") is PoemForm.LIMERICK
    assert parse_form("sonnet") is None
