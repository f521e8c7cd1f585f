"""Key terms: what a text is about, names first; nouns told apart by the lexicon and context."""

from __future__ import annotations

from plugins.kit.keywords import key_terms
from plugins.kit.words import parts_of_speech


def nouns(text: str) -> set[str]:
    return {t.text for t in key_terms(text, limit=12) if t.noun}


def test_the_lexicon_knows_parts_of_speech() -> None:
    assert parts_of_speech("robot") == {"NOUN"}
    assert {"NOUN", "VERB"} <= parts_of_speech("map")
    assert "NOUN" not in parts_of_speech("quickly")
    assert parts_of_speech("Zorblat") == frozenset()


def test_nouns_come_from_the_lexicon_and_the_words_around_them() -> None:
    found = nouns("A robot wakes up alone on a quiet spaceship. The robot walked down the hall.")
    assert {"robot", "spaceship", "hall"} <= found
    assert not found & {"wakes", "alone", "walked"}
    found = nouns("Two friends want to map the island. They find a treasure map in the attic.")
    assert {"map", "island", "attic", "treasure"} <= found  # "a treasure map", "the island"
    assert "find" not in found and "want" not in found


def test_names_are_found_at_sentence_starts_too() -> None:
    terms = {t.text: t for t in key_terms("Emma put her ear to the wall. It was cold.", limit=8)}
    assert terms["Emma"].is_name and terms["Emma"].noun
    assert not terms["cold"].noun if "cold" in terms else True
