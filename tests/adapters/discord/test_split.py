from __future__ import annotations

import pytest

from bot.adapters.discord.split import DISCORD_LIMIT, split_message


def test_short_text_is_one_part() -> None:
    assert split_message("Once upon a time.") == ["Once upon a time."]
    assert split_message("x" * DISCORD_LIMIT) == ["x" * DISCORD_LIMIT]


def test_paragraphs_are_kept_whole_and_nothing_is_lost() -> None:
    paragraphs = [f"Paragraph {i}. " + "The fox ran through the wood. " * 25 for i in range(8)]
    text = "\n\n".join(paragraphs)
    parts = split_message(text)
    assert len(parts) > 1
    assert all(len(p) <= DISCORD_LIMIT for p in parts)
    for part in parts:
        assert part.startswith("Paragraph ")
        assert part.rstrip().endswith("wood.")
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_one_huge_paragraph_breaks_at_sentence_ends() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(300))
    parts = split_message(text)
    assert len(parts) >= 3
    assert all(len(p) <= DISCORD_LIMIT for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text


def test_words_are_not_cut_when_spaces_exist() -> None:
    text = " ".join(["storyteller"] * 600)
    parts = split_message(text)
    assert all(len(p) <= DISCORD_LIMIT for p in parts)
    assert all(set(p.split()) == {"storyteller"} for p in parts)


def test_unbroken_text_is_cut_hard() -> None:
    parts = split_message("a" * 4500)
    assert [len(p) for p in parts][:2] == [DISCORD_LIMIT - 4, DISCORD_LIMIT - 4]
    assert "".join(parts) == "a" * 4500


def test_code_blocks_stay_balanced_and_keep_their_language() -> None:
    code = "```python\n" + "".join(f"print({i})\n" for i in range(600)) + "```\nThe end."
    parts = split_message("Here is the code:\n\n" + code)
    assert len(parts) >= 3
    for part in parts:
        assert len(part) <= DISCORD_LIMIT
        assert part.count("```") % 2 == 0
    assert parts[1].startswith("```python\n")
    assert parts[-1].endswith("The end.")
    body = [line for p in parts for line in p.splitlines() if line.startswith("print(")]
    assert body == [f"print({i})" for i in range(600)]


def test_limit_must_be_usable() -> None:
    with pytest.raises(ValueError):
        split_message("x", limit=10)
