import pytest

from bot.errors import ConfigError
from bot.moderation.keywords import KeywordSet, allow_list, builtin_keywords, custom_keywords
from bot.moderation.normalize import normalize


def hits(words: tuple[str, ...], text: str) -> list[str]:
    return [h.entry for h in custom_keywords(words).find_normalized(normalize(text))]


@pytest.mark.parametrize(
    ("entry", "matches", "misses"),
    [
        ("grape", ["grape", "a GRAPE!", "grrraaape"], ["grapes", "grapefruit", "agrape"]),
        ("grape*", ["grape", "grapefruit"], ["agrape", "sugrapes"]),
        ("*grape", ["grape", "agrape"], ["grapes", "grapefruit"]),
        ("*grape*", ["grape", "agrapes", "grapefruit"], ["grap", "g rape s"]),
        ("red wine", ["red wine", "red   wine"], ["redwine", "red whine"]),
    ],
)
def test_custom_words_follow_automod_wildcards(
    entry: str, matches: list[str], misses: list[str]
) -> None:
    for text in matches:
        assert hits((entry,), text) == [entry], text
    for text in misses:
        assert hits((entry,), text) == [], text


def test_custom_words_see_through_obfuscation() -> None:
    assert hits(("grape",), "ɡ.r.а.p.е") == ["grape"]
    assert hits(("grape",), "gr4pe") == ["grape"]


def test_invalid_wildcard_entry_is_rejected() -> None:
    with pytest.raises(ConfigError):
        KeywordSet([("custom", "gr*pe")])


def test_allow_list_exempts_matching_words_only() -> None:
    words = custom_keywords(("*ass*",))
    allowed = allow_list(("class", "pass*"))
    text = normalize("class passage assault")
    found = words.find_normalized(text)
    exempt = [h for h in found if allowed.exempts(h, text.plain)]
    assert [text.plain[h.start : h.end] for h in found] == ["ass", "ass", "ass"]
    assert len(exempt) == 2  # class, passage; "assault" is still caught


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe",
        "the assassin waited",
        "a cocktail party",
        "Dick Grayson",
        "kill the dragon",
        "go to hell",
        "God help us",
        "the knight slew the dragon",
        "a chink in the armour",
        "shiitake mushrooms",
        "Penistone and Cockburn",
        "classic bass passage",
        "summa cum laude",
    ],
)
def test_builtin_list_leaves_story_words_alone(text: str) -> None:
    assert builtin_keywords().find_normalized(normalize(text)) == []


@pytest.mark.parametrize(
    ("text", "category"),
    [("fuck off", "profanity"), ("bullshit", "profanity"), ("motherfucker", "profanity")],
)
def test_builtin_list_catches_profanity(text: str, category: str) -> None:
    assert [h.category for h in builtin_keywords().find_normalized(normalize(text))][:1] == [
        category
    ]


def test_article_before_split_letters_does_not_hide_the_word() -> None:
    assert builtin_keywords().find_normalized(normalize("what a c u n t")) != []
    assert builtin_keywords().find_normalized(normalize("i s-h-i-t you not")) != []


def test_i_and_l_lookalikes_match_each_other() -> None:
    # Cyrillic palochka is listed as a look-alike of "i", yet it is drawn like "l".
    assert builtin_keywords().find_normalized(normalize("bӏowjob")) != []
    assert builtin_keywords().find_normalized(normalize("buiishit")) != []
