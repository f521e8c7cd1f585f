"""Output hygiene helpers on known texts."""

from __future__ import annotations

import pytest

from plugins.kit import textcraft as tc


def test_trim_to_sentence_cuts_the_unfinished_tail() -> None:
    assert tc.trim_to_sentence("The fox ran. It was fast and") == "The fox ran."
    assert tc.trim_to_sentence('She said "Run!" and then') == 'She said "Run!"'
    assert tc.trim_to_sentence("Wait... the door") == "Wait..."
    assert tc.trim_to_sentence("no ending at all") == ""


def test_trim_to_sentence_skips_abbreviations_and_initials() -> None:
    assert tc.trim_to_sentence("Mr. Fox came home. Then Dr. Owl") == "Mr. Fox came home."
    assert tc.trim_to_sentence("J. R. walked") == ""


def test_strip_echo_drops_restated_prompt() -> None:
    prompt = "Alice: The dragon slept in the cave under the hill.\nStory:"
    out = tc.strip_echo("The dragon slept in the cave under the hill. Then a bird sang.", prompt)
    assert out == "Then a bird sang."
    # leading overlap with the prompt's very end
    assert tc.strip_echo("the hill.\nStory: A cat came.", prompt) == "A cat came."
    # short common sentences stay
    assert tc.strip_echo("He smiled. They left.", "He smiled.") == "He smiled. They left."


def test_strip_speaker_tags_cuts_at_fake_player_lines() -> None:
    text = "The sun rose over the town.\nAlice: I want to go home!\nBob: Me too."
    assert tc.strip_speaker_tags(text, ["Alice", "Bob"]) == "The sun rose over the town."
    inline = "The sun rose. Alice: I want to go home!"
    assert tc.strip_speaker_tags(inline, ["Alice"]) == "The sun rose."
    # the bot's own label is dropped, not cut
    assert (
        tc.strip_speaker_tags("Narrator: The end came.", [], own_labels=["Narrator"])
        == "The end came."
    )
    # only known names when any_label is off
    assert tc.strip_speaker_tags("Note: hi\nmore", [], any_label=False) == "Note: hi\nmore"


def test_cut_repetition_stops_loops() -> None:
    looped = "Tom had a ball. He liked the ball. Tom had a ball. He liked the ball."
    assert tc.cut_repetition(looped) == "Tom had a ball. He liked the ball."
    assert tc.cut_repetition("It was very very very very big.") == "It was very very very"
    grams = "and then they ran to the park, and then they ran to the park, and then they ran to the park"
    assert tc.cut_repetition(grams).count("they ran to the park") == 2
    assert tc.cut_repetition("A normal varied sentence here.") == "A normal varied sentence here."


def test_is_degenerate() -> None:
    assert tc.is_degenerate("the the the the the the the the the the")
    assert tc.is_degenerate("I like it. I like it. I like it. I like it. I like it.")
    assert not tc.is_degenerate("Lily found a shiny red ball in the garden and showed her mom.")


@pytest.mark.parametrize("limit", [50, 200, 2000])
def test_split_message_respects_the_limit_and_loses_nothing(limit: int) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(300))
    parts = tc.split_message(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert " ".join(parts).split() == text.split()
    if limit >= 50:
        assert all(p.endswith(".") for p in parts)


def test_split_message_hard_splits_giant_words() -> None:
    parts = tc.split_message("x" * 4500, 2000)
    assert [len(p) for p in parts] == [2000, 2000, 500]


def test_fit_message() -> None:
    text = "One two three. " * 300
    out = tc.fit_message(text, 2000)
    assert len(out) <= 2000 and out.endswith("three.…")
    assert tc.fit_message("short", 2000) == "short"


def test_clean_continuation_pipeline() -> None:
    prompt = "Alice: Lily went to the big park with her dog.\nNarrator:"
    raw = (
        "Narrator: Lily went to the big park with her dog. The dog ran after a red ball. "
        "It was happy.\nBob: Can I play too?\nThe end"
    )
    out = tc.clean_continuation(
        raw, prompt=prompt, player_names=["Alice", "Bob"], own_labels=["Narrator"]
    )
    assert out == "The dog ran after a red ball. It was happy."
    allowed = tc.clean_continuation(
        "They met Bob.\nBob: Hi there friend.", player_names=["Bob"], allow_player_voice=True
    )
    assert allowed == "They met Bob.\nBob: Hi there friend."
    # nothing finished and only a few words: nothing usable
    assert tc.clean_continuation("and the", prompt="x") == ""
    # no sentence end but enough words: whole words plus an ellipsis
    assert tc.clean_continuation("the cat walked slowly to the") == "The cat walked slowly to…"
    assert tc.clean_continuation('"and then?" he said.') == '"And then?" he said.'
    assert tc.clean_continuation("and so.", capitalize=False) == "and so."
    assert len(tc.clean_continuation("A word. " * 600)) <= 2000


def test_balance_quotes() -> None:
    assert tc.balance_quotes('"Hello, and the story.') == '"Hello, and the story."'
    assert tc.balance_quotes('She said "hi" twice.') == 'She said "hi" twice.'
    assert tc.balance_quotes("“Run!") == "“Run!”"
    assert tc.balance_quotes('"Can you see?”') == '"Can you see?”'  # mixed styles, closed
    assert (
        tc.clean_continuation('"Hello, and the story. She are so it') == '"Hello, and the story."'
    )


def test_continuations_use_one_quote_style() -> None:
    mixed = '“Oh, I know,” he answered. “You’re kind," she said. ‘Go.’'
    cleaned = tc.clean_continuation(mixed)
    assert cleaned == '"Oh, I know," he answered. "You\'re kind," she said. \'Go.\''
    assert tc.clean_partial("“Run") == '"Run'
    assert tc.straighten_quotes("plain 'text'") == "plain 'text'"


def test_join_broken_lines_keeps_paragraphs_and_sentence_breaks() -> None:
    assert tc.join_broken_lines("the o, and the\nwhey. Then") == "the o, and the whey. Then"
    assert tc.join_broken_lines("It ended.\nA new day.") == "It ended.\nA new day."
    # A paragraph break inside a sentence is the model's slip, not a paragraph.
    assert tc.join_broken_lines("One.\n\nTwo and\n\nthree") == "One.\n\nTwo and three"
    assert tc.join_broken_lines('"You are\n\nthe first."\n\nThen') == '"You are the first."\n\nThen'


def test_mend_quote_case_lowers_what_goes_on_the_sentence() -> None:
    assert tc.mend_quote_case('"Hi," She said.') == '"Hi," she said.'
    assert tc.mend_quote_case('"Run!" Said the robot.') == '"Run!" said the robot.'
    assert tc.mend_quote_case('"Where?" He asked.') == '"Where?" he asked.'
    assert tc.mend_quote_case('"Hi," Lily said.') == '"Hi," Lily said.'  # names stay
    assert tc.mend_quote_case('"Stop!" The dog ran.') == '"Stop!" The dog ran.'  # new sentence
    assert tc.mend_quote_case('"Hi," Anna said.', ["anna"]) == '"Hi," anna said.'


def test_clean_continuation_leaves_the_story_open() -> None:
    text = tc.clean_continuation('They went home. "Bye," Said mom.\n\nThe end.')
    assert text == 'They went home. "Bye," said mom.'
    assert tc.clean_continuation("The end of the road was near.") == "The end of the road was near."
