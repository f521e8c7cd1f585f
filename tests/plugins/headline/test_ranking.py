"""Headline cleaning, scoring, ranking and the extractive fallback."""

from __future__ import annotations

from plugins.headline.prompts import base_headline_prompt, parse_chat_answer
from plugins.headline.ranking import (
    clean_headline,
    extractive_headline,
    rank_headlines,
    score_headline,
    score_subheadline,
    title_case,
)
from plugins.kit.keywords import key_terms

STORY = (
    "Lily found a small green dragon in her garden. The dragon was scared of the rain, "
    "so Lily gave the dragon her red umbrella. Now the dragon and Lily have tea every day."
)


async def allow_all(text: str) -> bool:
    return True


def test_title_case() -> None:
    assert title_case("girl finds a dragon in the garden") == "Girl Finds a Dragon in the Garden"
    assert title_case("the end of the road") == "The End of the Road"
    assert title_case("NASA sends a cat to the moon") == "NASA Sends a Cat to the Moon"
    assert title_case("lily's well-kept secret") == "Lily's Well-Kept Secret"


def test_clean_headline() -> None:
    assert (
        clean_headline(' "Dragon Gets an Umbrella."\nSub-headline: x') == "Dragon Gets an Umbrella"
    )
    assert clean_headline("Headline: **Tea Time for Dragons**") == "Tea Time for Dragons"
    assert clean_headline("\n\n") == ""


def test_score_rejects_unusable_candidates() -> None:
    assert score_headline("", STORY) is None
    assert score_headline("Dragon", STORY) is None  # too short
    assert score_headline(" ".join(["word"] * 20), STORY) is None  # too long
    # A copy of the first sentence is not a headline.
    assert score_headline("Lily found a small green dragon in her garden", STORY) is None
    assert score_headline("Lily found a small green dragon", STORY) is None
    assert score_headline("!!! ??? ... ###", STORY) is None
    # Off topic: none of the story's key words.
    assert score_headline("Local Team Wins the Big Football Match", STORY) is None
    assert score_headline("Dragons Love Umbrellas", STORY) is not None  # plural still matches


def test_score_prefers_title_case_and_no_quotes() -> None:
    good = score_headline("Girl Shares Umbrella With Shy Dragon", STORY)
    lower = score_headline("girl shares umbrella with shy dragon", STORY)
    quoted = score_headline('Girl Shares "Umbrella" With Shy Dragon', STORY)
    dangling = score_headline("Girl Shares Umbrella With the", STORY)
    assert good is not None and lower is not None and quoted is not None and dangling is not None
    assert good.score > lower.score
    assert good.score > quoted.score and "quotes" in quoted.reasons
    assert quoted.text == "Girl Shares Umbrella with Shy Dragon"  # shown without the quotes
    assert good.score > dangling.score
    assert lower.text == "Girl Shares Umbrella with Shy Dragon"  # shown in title case


async def test_rank_orders_dedupes_and_moderates() -> None:
    candidates = [
        "once upon a time there was a girl",
        "Girl Shares Umbrella With Shy Dragon",
        "girl shares umbrella with shy dragon",
        "Lily found a small green dragon in her garden.",
        "Dragon and Lily Drink Tea Every Day",
        "The",
        "Rainy Day Brings Trouble for Everyone",
    ]

    async def no_trouble(text: str) -> bool:
        return "Trouble" not in text

    ranked = await rank_headlines(candidates, STORY, no_trouble)
    texts = [r.text for r in ranked]
    assert texts[0] in {
        "Girl Shares Umbrella With Shy Dragon",
        "Dragon and Lily Drink Tea Every Day",
    }
    assert len(texts) == len({t.lower() for t in texts})
    assert "Rainy Day Brings Trouble for Everyone" not in texts
    assert all("found a small green dragon" not in t.lower() for t in texts)
    assert "Once Upon a Time There Was a Girl" not in texts  # no key word of the story
    assert len(texts) == 2


async def test_rank_of_nothing_usable_is_empty() -> None:
    assert (
        await rank_headlines(["", "the", "Lily found a small green dragon"], STORY, allow_all) == []
    )


def test_extractive_fallback_uses_key_words() -> None:
    assert extractive_headline(STORY) == "Lily, the Dragon and the Garden"
    assert (
        extractive_headline("The rocket went up and up and the rocket went far.")
        == "The Rocket: A Story Worth Telling"
    )
    assert extractive_headline("and then it was so") == "A Story Worth Telling"


def test_key_terms_put_names_and_frequent_words_first() -> None:
    terms = key_terms(STORY, limit=3)
    assert [t.text for t in terms] == ["dragon", "Lily", "garden"]
    assert terms[1].is_name and not terms[0].is_name


def test_subheadline_scoring() -> None:
    head = "Girl Shares Umbrella With Shy Dragon"
    assert score_subheadline("Girl Shares Umbrella With Shy Dragon", head, STORY) is None
    assert score_subheadline("Too short", head, STORY) is None
    good = score_subheadline(
        "The rain no longer scares the little dragon in Lily's garden", head, STORY
    )
    assert good is not None


def test_prompts() -> None:
    prompt = base_headline_prompt("A cat found a hat.")
    assert prompt.endswith("Story: A cat found a hat.\nHeadline:")
    assert prompt.count("Headline:") == 3
    assert parse_chat_answer("Cat Finds Hat\n\nA happy day for a cat\n") == (
        "Cat Finds Hat",
        "A happy day for a cat",
    )
    assert parse_chat_answer("") == ("", "")


def test_the_fallback_names_only_words_the_text_uses_as_nouns() -> None:
    from plugins.headline.ranking import extractive_headline

    text = (
        "They built a tall tower in the city. Everyone built and built. The city won the contest."
    )
    head = extractive_headline(text)
    assert "Built" not in head and "Won" not in head and "Tall" not in head
    assert "the city" in head.lower()


def test_headlines_from_the_models_clause() -> None:
    from plugins.headline.ranking import headline_from_clause, story_subjects

    source = "Spark the dragon hid in his cave. A little owl flew into the cave and sang to Spark."
    subjects = story_subjects(source)
    assert subjects[0] == "Spark" and "the cave" in subjects
    assert headline_from_clause("the owl", " learned to fly so high in the") == (
        "How the Owl Learned to Fly So High"
    )
    assert headline_from_clause("Spark", "oly went home") is None  # glued to the subject
    assert headline_from_clause("Spark", " was") is None  # not a clause of its own
    assert headline_from_clause("Spark", ' said "hi"') is None
    # Not a clause: no verb after the subject ("the singer thing the old man had given").
    assert headline_from_clause("the singer", " thing the old man had given") is None
    # Endings that need more after them are trimmed, or the clause is dropped.
    assert headline_from_clause("the rabbit", " was happy that everyone knew about") is None
    assert headline_from_clause("the plants", " were no longer") is None
    assert headline_from_clause("the dragon", " finally found his way home") == (
        "How the Dragon Finally Found His Way Home"
    )
