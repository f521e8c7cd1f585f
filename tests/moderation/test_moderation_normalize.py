import pytest

from bot.moderation.normalize import classifier_text, fold, normalize, squeeze


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ｆｕｃｋ", "fuck"),  # full-width
        ("𝐟𝐮𝐜𝐤", "fuck"),  # mathematical bold
        ("𝓯𝓾𝓬𝓴", "fuck"),  # mathematical script
        ("ⓕⓤⓒⓚ", "fuck"),  # circled
        ("🅵🆄🅲🅺", "fuck"),  # negative squared (no compatibility decomposition)
        ("ꜰᴜᴄᴋ", "fuck"),  # small capitals
        ("ѕһіт", "shit"),  # Cyrillic look-alikes
        ("fu\u200bck", "fuck"),  # zero-width space
        ("f\u200du\u00adck", "fuck"),  # zero-width joiner, soft hyphen
        ("f\u0336u\u0336c\u0336k", "fuck"),  # combining strike-through
        ("ＦＵＣＫ", "fuck"),  # case folded
        ("naïve café", "naive cafe"),
    ],
)
def test_fold_maps_styled_and_lookalike_letters(text: str, expected: str) -> None:
    assert fold(text) == expected


def test_fold_keeps_ascii_text_apart_from_case() -> None:
    assert fold("The Knight, 42 swords!") == "the knight, 42 swords!"


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("sh1t", "shit"),
        ("@ss", "ass"),
        ("b!tch", "bitch"),
        ("a$$hole", "asshole"),
        ("n1gg3r", "nigger"),
    ],
)
def test_leetspeak_inside_words_is_mapped(text: str, plain: str) -> None:
    assert normalize(text).plain == plain


def test_digits_and_punctuation_outside_words_are_kept() -> None:
    assert normalize("I have 2 cats and 100 dogs!").plain == "i have 2 cats and 100 dogs!"
    assert normalize("hello!!").plain == "hello!!"
    assert normalize("h3ll0 w0rld").plain == "hello world"


@pytest.mark.parametrize(
    "text", ["f.u.c.k", "f u c k", "f-u-c-k", "f_u_c_k", "f . u . c . k", "f|u|c|k", "f/u/c/k"]
)
def test_split_letters_are_joined(text: str) -> None:
    assert normalize(text).joined == "fuck"


def test_separator_inside_word_is_removed() -> None:
    assert normalize("sh.it happens").joined == "shit happens"


def test_ordinary_words_are_not_joined() -> None:
    assert normalize("a cat in a hat").joined == "a cat in a hat"


def test_stretched_letters_are_squeezed_for_the_classifier() -> None:
    assert squeeze("fuuuuuck yooooou") == "fuuck yoou"
    assert classifier_text("ＳＨＵＴ up!!!!!") == "shut up!!"
