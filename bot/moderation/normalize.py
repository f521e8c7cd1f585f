"""Normalisation of a *copy* of a text so that filters see through common obfuscation tricks.

The posted text is never changed by this module. Steps: Unicode NFKC/NFKD compatibility folding
(full-width and styled letters), removal of zero-width/invisible characters and combining marks,
look-alike letters from other scripts mapped to ASCII through Unicode's confusables data (shipped
by the ``confusable-homoglyphs`` package), case folding, digits and symbols used as letters inside
words mapped back to letters, and letters split by dots, spaces or dashes joined again. Stretched
letters ("fuuuuck") are handled by the matchers, which accept repeated letters; :func:`squeeze`
shortens long runs for the classifier.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import regex

# Characters that render as nothing (or as blank space) but are not Unicode format characters.
_INVISIBLE_LETTERS = "\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5"
_STRIP = regex.compile(r"[\p{Mn}\p{Me}\p{Cf}" + _INVISIBLE_LETTERS + "]+")
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
        "£": "l",
    }
)
_LEET_TOKEN = regex.compile(r"[a-z0-9@$!|+€£]+")
_LEET_SYMBOLS = "@$!|+€£"
_HAS_LETTER = regex.compile(r"[a-z]")
_PIPE_SPLIT = regex.compile(r"[a-z](?:\|[a-z]){2,}")
_SPLIT_LETTERS = regex.compile(r"(?<![a-z0-9])[a-z](?:[\s.\-_*,/\\|~·•:;]+[a-z](?![a-z0-9])){2,}")
_SEPARATORS = regex.compile(r"[\s.\-_*,/\\|~·•:;]+")
_INNER_SEPARATORS = regex.compile(r"(?<=[a-z])[.\-_*·•~:;]+(?=[a-z])")
_RUNS = regex.compile(r"(.)\1{2,}")
_LATIN_NAME = regex.compile(
    r"^(?:LATIN (?:LETTER SMALL CAPITAL|SMALL LETTER|CAPITAL LETTER)|MODIFIER LETTER (?:SMALL|CAPITAL))"
    r" ([A-Z])(?: WITH .*)?$"
)


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Views of one text, from least to most aggressive normalisation.

    ``folded``: compatibility-folded, invisible characters removed, look-alikes mapped, lower case.
    ``plain``: ``folded`` with leetspeak digits/symbols inside words mapped to letters.
    ``joined``: ``plain`` with split letters ("f.u.c.k", "f u c k") and inner separators joined.
    ``joined_after_article``: like ``joined`` but a leading "a"/"i" of a split run stays a word
    ("what a c u n t" -> "what a cunt", not "acunt").
    """

    folded: str
    plain: str
    joined: str
    joined_after_article: str = ""

    @property
    def views(self) -> tuple[tuple[str, str], ...]:
        """Distinct (name, text) views worth matching, least aggressive first."""
        seen = {self.plain}
        views = [("plain", self.plain)]
        for name, text in (
            ("joined", self.joined),
            ("joined_after_article", self.joined_after_article),
        ):
            if text and text not in seen:
                seen.add(text)
                views.append((name, text))
        return tuple(views)

    def view(self, name: str) -> str:
        return str(getattr(self, name))


@cache
def _confusable_table() -> dict[int, str]:
    """Map every non-ASCII character that Unicode lists as a look-alike of an ASCII letter/digit."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[int, str] = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        targets = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii()]
        letters = [t for t in targets if t.isalpha()] or [t for t in targets if t.isdigit()]
        if letters:
            table[ord(char)] = letters[0]
    # Lower-case letters whose capital is a listed look-alike (Cyrillic т, м, н, к look like
    # small capitals T, M, H, K).
    for code, target in list(table.items()):
        lower = chr(code).lower()
        if len(lower) == 1 and ord(lower) not in table and not lower.isascii():
            table[ord(lower)] = target.lower()
    # Latin letter variants the confusables data leaves out (small capitals, hooks, strokes) are
    # recognised by their Unicode character names.
    for code in range(0x80, 0x10000):
        if code in table:
            continue
        name = unicodedata.name(chr(code), "")
        found = _LATIN_NAME.match(name)
        if found:
            table[code] = found.group(1).lower()
    # Enclosed letters without a compatibility decomposition (negative circled/squared, regional
    # indicators) map arithmetically to A-Z.
    for start in (0x1F150, 0x1F170, 0x1F1E6):
        for offset in range(26):
            table[start + offset] = chr(ord("a") + offset)
    return table


def fold(text: str) -> str:
    """Compatibility-fold ``text``, drop invisible characters, map look-alikes, lower-case it."""
    if text.isascii():
        return text.lower()
    table = _confusable_table()
    # Look-alikes first (visual similarity beats compatibility: long s looks like f), then
    # compatibility folding and again look-alikes for what decomposition uncovered.
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text.translate(table)))
    text = _STRIP.sub("", text)
    text = text.translate(table)
    return unicodedata.normalize("NFC", text).casefold()


def _deleet_token(match: regex.Match[str]) -> str:
    token = match.group()
    if token.isalpha() or not _HAS_LETTER.search(token) or _PIPE_SPLIT.fullmatch(token):
        return token  # "f|u|c|k" is split letters, not leetspeak: join_split handles it
    last_letter = max(i for i, ch in enumerate(token) if ch.isalpha())
    chars = list(token)
    for i, ch in enumerate(chars):
        if ch.isalpha():
            continue
        if ch in _LEET_SYMBOLS and i > last_letter and ch != "$":
            continue  # "hello!!" keeps its exclamation marks; "a$$" still becomes "ass"
        chars[i] = ch.translate(_LEET)
    return "".join(chars)


def deleet(folded: str) -> str:
    """Map digits and symbols used as letters inside words ("sh1t", "@ss", "b!tch")."""
    return _LEET_TOKEN.sub(_deleet_token, folded)


def _join_run(run: str, keep_article: bool) -> str:
    if keep_article and run[0] in "ai":
        rest = _SEPARATORS.split(run, maxsplit=1)[1]
        return run[0] + " " + _SEPARATORS.sub("", rest)
    return _SEPARATORS.sub("", run)


def join_split(plain: str, *, keep_article: bool = False) -> str:
    """Join letters split by separators ("f u c k", "f.u.c.k") and separators inside words."""
    joined = _SPLIT_LETTERS.sub(lambda m: _join_run(m.group(), keep_article), plain)
    return _INNER_SEPARATORS.sub("", joined)


def squeeze(text: str, keep: int = 2) -> str:
    """Shorten runs of three or more identical characters to ``keep``."""
    return _RUNS.sub(lambda m: m.group(1) * keep, text)


def normalize(text: str) -> NormalizedText:
    """All normalised views of ``text`` (see :class:`NormalizedText`)."""
    folded = fold(text)
    plain = deleet(folded)
    return NormalizedText(
        folded=folded,
        plain=plain,
        joined=join_split(plain),
        joined_after_article=join_split(plain, keep_article=True),
    )


def classifier_text(text: str) -> str:
    """The view the learned classifier is trained and scored on (``squeeze(normalize(t).joined)``)."""
    return squeeze(join_split(deleet(fold(text))))
