"""Dictionary words, made-up words and content overlap."""

from __future__ import annotations

from plugins.kit.words import content_words, is_dictionary_word, made_up_words, shared_content


def test_made_up_words_are_the_ones_no_dictionary_or_prompt_knows() -> None:
    text = "Hewant went to the Presentian castle, where Larkkoni and Lily's well-known dog waited."
    assert made_up_words(text) == ["Hewant", "Presentian", "Larkkoni"]
    assert made_up_words(text, known=["Larkkoni", "hewant"]) == ["Presentian"]


def test_dictionary_words_allow_possessives_contractions_and_hyphens() -> None:
    for word in ("dragon", "Dragon", "dragons'", "didn't", "Lily's", "well-known", "it’s"):
        assert is_dictionary_word(word), word
    for word in ("", "ll", "Applee", "ashter", "well-zorb"):
        assert not is_dictionary_word(word), word


def test_content_words_skip_stop_words_and_match_plurals() -> None:
    assert content_words("The dragons were flying over the castle") == {"dragon", "fly", "castle"}
    assert shared_content("A dragon landed.", "Two dragons and a castle") == {"dragon"}
    assert shared_content("She went home.", "A dragon and a castle") == set()


def test_short_abbreviations_are_not_words_but_names_are() -> None:
    from plugins.kit.words import made_up_words

    # The CMU dictionary lists "har" and "st"; nobody would call them words in a poem.
    assert made_up_words("Har all in all sorts of white. We st have not come.") == ["Har", "st"]
    # Names: inside a sentence, or opening one as its subject; invented ones stay made up.
    assert made_up_words("Then Ben and Tim went home. Jill ran. Mr. Ted was ok.") == []
    assert made_up_words("Larkkoni came to the park.") == ["Larkkoni"]
    assert made_up_words("\"Oh,\" said Mia. I'm sure it's fine, okay?") == []
