"""Output hygiene for generated text, shared by the built-in plugins.

Every function here is pure and cheap: it takes text and returns text. A continuation usually goes
through :func:`clean_continuation`, which strips an echoed prompt, cuts at fake author tags
("Alice:" lines the model writes for a player), stops degenerate repetition, ends at a sentence
boundary and respects Discord's 2,000-character limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "DISCORD_LIMIT",
    "balance_quotes",
    "clean_continuation",
    "clean_partial",
    "cut_repetition",
    "fit_message",
    "is_degenerate",
    "join_broken_lines",
    "mend_quote_case",
    "normalize_space",
    "split_message",
    "split_sentences",
    "strip_echo",
    "strip_speaker_tags",
    "trim_to_sentence",
]

DISCORD_LIMIT = 2000
"""Discord's limit for one message's content, in characters."""

ELLIPSIS = "…"

_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "mt", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "no"}
)
# A sentence ends with . ! ? or an ellipsis, optionally followed by closing quotes/brackets.
_SENTENCE_END = re.compile(r"(?:\.{3}|…|[.!?])+[\"'”’)\]]*(?=\s|$)")
_LABEL = re.compile(r"^\s*[\[(*]*([A-Z][\w'’-]*(?: [A-Z][\w'’-]*){0,2})[\])*]*\s*:\s*")
_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+(?:['’]\w+)?")


def normalize_space(text: str) -> str:
    """Collapse runs of spaces and tabs, keep paragraph breaks (at most one blank line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def _sentence_ends(text: str) -> list[int]:
    """End offsets (exclusive) of complete sentences in ``text``."""
    ends: list[int] = []
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group().startswith(".") and len(match.group().rstrip("\"'”’)]")) == 1:
            word = text[: match.start()].rsplit(None, 1)[-1:] or [""]
            token = word[0].lower().lstrip("\"'“‘([")
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue
        ends.append(end)
    return ends


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (the last piece may be an unfinished sentence)."""
    pieces: list[str] = []
    start = 0
    for end in _sentence_ends(text):
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        start = end
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def trim_to_sentence(text: str, *, min_chars: int = 1) -> str:
    """The longest prefix of ``text`` that ends a sentence; "" when there is none.

    Sentence ends that would leave fewer than ``min_chars`` characters are ignored.
    """
    stripped = text.rstrip()
    for end in reversed(_sentence_ends(stripped)):
        if end >= min_chars:
            return stripped[:end].rstrip()
    return ""


def _norm_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def strip_echo(
    text: str, prompt: str, *, min_overlap: int = 12, min_sentence_chars: int = 24
) -> str:
    """Remove text the model copied from ``prompt``.

    Drops a leading overlap with the prompt's end (the model restating the last line), and any
    sentence of ``min_sentence_chars`` or more that appears word for word in the prompt.
    """
    if not text or not prompt:
        return text
    lead = text.lstrip()
    tail = prompt.rstrip()[-600:]
    # Leading overlap: the longest suffix of the prompt's tail that starts the text.
    for size in range(min(len(tail), len(lead)), min_overlap - 1, -1):
        if lead.startswith(tail[-size:]):
            lead = lead[size:]
            break
    prompt_words = " " + " ".join(_norm_words(prompt)) + " "
    kept: list[str] = []
    for sentence in _split_keep_breaks(lead):
        words = _norm_words(sentence)
        if (
            len(sentence.strip()) >= min_sentence_chars
            and words
            and f" {' '.join(words)} " in prompt_words
        ):
            continue
        kept.append(sentence)
    return "".join(kept).strip()


def _split_keep_breaks(text: str) -> list[str]:
    """Sentences with their trailing whitespace kept, so joining restores the layout."""
    pieces: list[str] = []
    start = 0
    for end in _sentence_ends(text):
        stop = end
        while stop < len(text) and text[stop].isspace():
            stop += 1
        pieces.append(text[start:stop])
        start = stop
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def strip_speaker_tags(
    text: str,
    names: Iterable[str] = (),
    *,
    own_labels: Iterable[str] = (),
    any_label: bool = True,
) -> str:
    """Cut the text where the model starts writing as someone else.

    A leading label that is one of ``own_labels`` (the bot's own, e.g. "Narrator:") is dropped.
    The text is cut at the first line that starts with a label — any ``Capitalised Name:`` when
    ``any_label``, else only one of ``names`` — and at an inline ``Name:`` of a known player after
    a sentence end.
    """
    own = {n.strip().lower() for n in own_labels if n.strip()}
    players = [n.strip() for n in names if n.strip()]
    lowered = {p.lower() for p in players}
    kept: list[str] = []
    for line in text.split("\n"):
        match = _LABEL.match(line)
        if match:
            label = match.group(1).lower()
            if label in own:
                kept.append(line[match.end() :])
                continue
            if any_label or label in lowered:
                break
        kept.append(line)
    out = "\n".join(kept)
    if players:
        alternatives = "|".join(re.escape(p) for p in sorted(players, key=len, reverse=True))
        inline = re.compile(rf"(?<=[.!?\"”])\s+[\[(*]*(?:{alternatives})[\])*]*\s*:", re.IGNORECASE)
        found = inline.search(out)
        if found:
            out = out[: found.start()]
    return out.strip()


def cut_repetition(
    text: str, *, ngram: int = 5, max_ngram_repeats: int = 2, max_word_run: int = 3
) -> str:
    """Cut ``text`` where it starts looping.

    Stops before a sentence that repeats an earlier one, before the ``max_ngram_repeats + 1``-th
    occurrence of any ``ngram``-word sequence, and inside a run of the same word repeated more
    than ``max_word_run`` times ("very very very very").
    """
    cut = len(text)
    words = [(m.group().lower(), m.start()) for m in _WORD.finditer(text)]
    run, last = 0, ""
    for word, pos in words:
        run = run + 1 if word == last else 1
        last = word
        if run > max_word_run:
            cut = min(cut, pos)
            break
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - ngram + 1):
        gram = tuple(w for w, _ in words[i : i + ngram])
        counts[gram] = counts.get(gram, 0) + 1
        if counts[gram] > max_ngram_repeats:
            cut = min(cut, words[i][1])
            break
    seen: set[str] = set()
    offset = 0
    for piece in _split_keep_breaks(text):
        if offset >= cut:
            break
        sentence_words = _norm_words(piece)
        key = " ".join(sentence_words)
        if len(sentence_words) >= 3 and key in seen:
            cut = min(cut, offset)
            break
        seen.add(key)
        offset += len(piece)
    return text[:cut].strip()


def is_degenerate(text: str, *, min_distinct_ratio: float = 0.3) -> bool:
    """True when ``text`` is mostly repetition (few distinct words, or a looping cut)."""
    words = _norm_words(text)
    if len(words) < 8:
        return False
    if len(set(words)) / len(words) < min_distinct_ratio:
        return True
    return len(_norm_words(cut_repetition(text))) < len(words) * 0.5


def join_broken_lines(text: str) -> str:
    """Join a line or paragraph break that falls inside a sentence ("the o, and the\nwhey",
    ``"You are\n\nthe first."``)."""
    return re.sub(r"(?<=[^\s.!?…\"'”’:)\]])[ \t]*\n+[ \t]*(?=[^\s])", " ", text)


SPEECH_VERBS = frozenset(
    {"said", "says", "asked", "asks", "replied", "replies", "shouted", "shouts", "cried"}
    | {"cries", "whispered", "whispers", "called", "calls", "exclaimed", "exclaims", "yelled"}
    | {"yells", "answered", "answers", "added", "adds"}
)
QUOTE_FOLLOWERS = SPEECH_VERBS | frozenset(
    {"she", "he", "they", "we", "it", "you", "the", "his", "her", "their", "my", "our", "its"}
)
"""Words that go on the sentence after a closing quotation mark (``"Hi," she said``)."""
_AFTER_QUOTE = re.compile(r'([,!?])(["”]) ([A-Z][a-z]+)((?: [A-Za-z]+){0,3})')


def mend_quote_case(text: str, lower_words: Iterable[str] = QUOTE_FOLLOWERS) -> str:
    """Lower-case a capital that wrongly follows a closing quotation mark: ``"Hi," She said``
    becomes ``"Hi," she said``; after ``!"`` or ``?"`` only when a speech verb follows, since
    a new sentence may start there (``"Stop!" The dog ran.`` stays). ``lower_words`` are the
    words to mend (names never are)."""
    lower = frozenset(w.lower() for w in lower_words)

    def mend(match: re.Match[str]) -> str:
        mark, quote, word, rest = match.groups()
        said = word.lower() in SPEECH_VERBS or bool(
            {w.lower() for w in rest.split()} & SPEECH_VERBS
        )
        if word.lower() in lower and (mark == "," or said):
            word = word.lower()
        return f"{mark}{quote} {word}{rest}"

    return _AFTER_QUOTE.sub(mend, text)


_CURLY = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})


def straighten_quotes(text: str) -> str:
    """Curly quotation marks and apostrophes made straight, so one reply never mixes the two
    styles (the training text has both; players type straight ones)."""
    return text.translate(_CURLY)


_THE_END = re.compile(r"\s*\bThe end[.!]*\s*$", re.IGNORECASE)


def balance_quotes(text: str) -> str:
    """Close a quotation the text opened but never closed (``"Run,`` -> ``"Run,"``)."""
    straight, opening, closing = text.count('"'), text.count("“"), text.count("”")
    if (straight + opening + closing) % 2 == 1:
        text += '"' if straight or not opening else "”"
    return text


def fit_message(text: str, limit: int = DISCORD_LIMIT) -> str:
    """``text`` shortened to at most ``limit`` characters, at a sentence or word end, with "…"."""
    if len(text) <= limit:
        return text
    room = max(1, limit - len(ELLIPSIS))
    head = text[:room]
    cut = trim_to_sentence(head, min_chars=room // 2)
    if not cut:
        space = head.rfind(" ")
        cut = head[:space] if space > room // 2 else head
    return cut.rstrip() + ELLIPSIS


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters.

    Prefers paragraph breaks, then sentence ends, then spaces; splits hard only inside a word
    longer than ``limit``.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = window.rfind("\n\n", 0, limit + 1)
        if cut < limit // 3:
            cut = window.rfind("\n", 0, limit + 1)
        if cut < limit // 3:
            ends = [e for e in _sentence_ends(window[:limit]) if e >= limit // 3]
            cut = ends[-1] if ends else -1
        if cut < limit // 3:
            cut = window.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def clean_continuation(
    raw: str,
    *,
    prompt: str = "",
    player_names: Iterable[str] = (),
    own_labels: Iterable[str] = (),
    allow_player_voice: bool = False,
    limit: int = DISCORD_LIMIT,
    capitalize: bool = True,
) -> str:
    """Everything a story continuation needs before it is shown; "" when nothing usable is left.

    Strips an echoed prompt and a leading own label, cuts at a fake author tag for a player
    (unless ``allow_player_voice``), stops degenerate repetition, ends at a sentence boundary
    (falling back to the last whole word plus "…" when no sentence ended), closes an open quote,
    starts with a capital letter (unless ``capitalize`` is False) and fits ``limit``.
    """
    text = _THE_END.sub("", _unframed(raw, prompt, player_names, own_labels, allow_player_voice))
    sentence = trim_to_sentence(text)
    if sentence:
        text = sentence
    elif text:
        words = text.split()
        text = " ".join(words[:-1]) + ELLIPSIS if len(words) > 3 else ""
    text = balance_quotes(text.strip())
    if not _WORD.search(text):
        return ""
    if capitalize:
        text = _capitalize_first(text)
    return fit_message(text, limit)


def _capitalize_first(text: str) -> str:
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
        if not (ch.isspace() or ch in "\"'“‘([*_-"):
            return text
    return text


def clean_partial(
    raw: str,
    *,
    prompt: str = "",
    player_names: Iterable[str] = (),
    own_labels: Iterable[str] = (),
    allow_player_voice: bool = False,
    limit: int = DISCORD_LIMIT,
) -> str:
    """Like :func:`clean_continuation` for a text still being written: no sentence trimming.

    The result is a prefix-friendly preview for streaming; the final text comes from
    :func:`clean_continuation`.
    """
    text = _unframed(raw, prompt, player_names, own_labels, allow_player_voice)
    return fit_message(text, limit)


def _unframed(
    raw: str,
    prompt: str,
    player_names: Iterable[str],
    own_labels: Iterable[str],
    allow_player_voice: bool,
) -> str:
    """What finished and partial continuations share: straight quotes, no echoed prompt, no own
    label, no fake player tag (unless ``allow_player_voice``), no looping, no broken lines."""
    text = straighten_quotes(normalize_space(raw))
    labels = tuple(own_labels)
    text = strip_speaker_tags(text, (), own_labels=labels, any_label=False)
    if prompt:
        text = strip_echo(text, prompt)
    if allow_player_voice:
        text = strip_speaker_tags(text, (), own_labels=labels, any_label=False)
    else:
        text = strip_speaker_tags(text, list(player_names), own_labels=labels)
    return mend_quote_case(join_broken_lines(cut_repetition(text)))
