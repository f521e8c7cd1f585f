"""Writing quality as players see it: stories, poems and headlines through the real app.

``python -m bench quality`` plays scripted games through the console adapter (the same router,
plugins, moderation and storage as Discord; the configured model, the bundled one by default) and
measures what the writing-quality issue asks for:

stories (one reply = one storyteller continuation, after player turns)
  - ``made_up_rate``: replies with at least one word neither in the CMU dictionary nor written by
    the players (names they used are fine);
  - ``mentions`` / ``mentions_shuffled`` / ``mentions_ratio``: replies that mention one of the
    things their own channel's premise and last turns are about (a key noun or name of that
    context, ``plugins.kit.keywords.key_terms``), against the same replies paired with every
    other channel's context (chance: the mean over the other channels);
  - ``relevance`` / ``relevance_shuffled`` / ``relevance_ratio``: the looser measure, replies
    sharing any content word (verbs and adjectives too) with their own channel's premise and
    turns, against the other channels' (chance);
  - ``degenerate_rate``: empty, looping or "couldn't come up with anything" replies;
  - ``dangling_rate``: replies that stop mid-sentence;
  - ``copied_10gram_rate``: replies containing a 10-word sequence of the training corpus
    (``--corpus``; skipped when the folder is missing);
  - ``distinct2_retries``: distinct word bigrams / all bigrams over a continuation and 4 retries.
poems (haiku, limerick)
  - ``haiku_valid``: 3 lines of 5/7/5 syllables by the CMU dictionary only, every word in it
    (independent of the plugin's own counter and its guesses);
  - ``limerick_strict``: 5 lines whose last words rhyme AABBA by CMU stressed vowel + coda;
  - ``topic_rate``: poems that use a content word of their topic;
  - ``dangling_line_rate``: lines ending on a function word ("with", "the", "and");
  - ``punctuation_start_rate``: lines starting with punctuation.
headlines
  - ``model_written_rate``: headlines that did not come from the plugin's fallback (its log);
  - ``grammatical_rate``: headlines whose words are all dictionary words and that do not end on a
    function word (a proxy: no parser ships offline).

Premises and topics come in two splits: ``dev`` for choosing settings and ``test`` for the
figures reported. Output: JSON in ``--out`` plus transcripts (``--transcript``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.progress import Progress

from plugins.kit.rerank import DANGLING_WORDS

log = logging.getLogger(__name__)

# (genre, premise, first player turn, second player turn)
STORIES: dict[str, list[tuple[str, str, str, str]]] = {
    "dev": [
        (
            "fairy tale",
            "A princess who would rather be a blacksmith",
            "The princess sneaked into the forge at night.",
            "She picked up the heavy hammer.",
        ),
        (
            "adventure",
            "Two friends find a treasure map in their grandfather's attic",
            "Tom unrolled the old map on the floor.",
            "Sara pointed at a red cross near the river.",
        ),
        (
            "mystery",
            "Someone keeps stealing the cookies from the school kitchen",
            "The cook counted the cookies again.",
            "Mia hid behind the big door to watch.",
        ),
        (
            "science fiction",
            "A robot wakes up alone on a quiet spaceship",
            "The robot walked down the dark hall.",
            "A red light was blinking on the wall.",
        ),
        (
            "horror",
            "A girl hears scratching inside the walls of her new bedroom",
            "Emma put her ear against the cold wall.",
            "The scratching stopped, and then something knocked three times.",
        ),
        (
            "sports",
            "The smallest player on a football team gets a chance to play in the final",
            "Jack tied his boots and ran onto the muddy field.",
            "The coach shouted his name from the side.",
        ),
        (
            "farm",
            "A goat on a farm wants to climb the tallest hill",
            "The goat looked up at the hill every morning.",
            "One day the farmer left the gate open.",
        ),
        (
            "city",
            "A boy and his grandmother get lost on the underground train",
            "The doors closed before Grandma could get off.",
            "Sam held her hand and read the map on the wall.",
        ),
        (
            "fantasy",
            "A wizard's apprentice breaks the magic staff",
            "The staff cracked in two when Leo dropped it.",
            "Blue smoke filled the tower room.",
        ),
        (
            "jungle",
            "A monkey steals the explorer's hat and will not give it back",
            "The monkey jumped from branch to branch with the hat.",
            "The explorer climbed after it.",
        ),
        (
            "friendship",
            "Two best friends have a fight before the school play",
            "Mia would not look at Rosa in the hall.",
            "Their teacher asked them to paint the stage together.",
        ),
        (
            "space",
            "An astronaut finds a flower growing on Mars",
            "The astronaut knelt down next to the tiny red flower.",
            "She called the base on her radio.",
        ),
    ],
    "test": [
        (
            "noir",
            "A tired detective walks into a rainy city bar looking for a missing singer",
            "The detective sat down and asked the barman about the singer.",
            "The barman looked at the door and said nothing.",
        ),
        (
            "science fiction",
            "The captain of a small space ship hears a strange signal from the moon",
            "The captain turned up the radio.",
            "The signal sounded like someone singing.",
        ),
        (
            "fairy tale",
            "A shy dragon who is afraid of the dark",
            "Spark the dragon hid in his cave when the sun went down.",
            "A little owl flew into the cave.",
        ),
        (
            "animal",
            "A lost puppy tries to find its way home through the big city",
            "The puppy sniffed the air near the park.",
            "A kind old woman saw the puppy.",
        ),
        (
            "pirates",
            "A young pirate girl wants to find the island where her father hid his gold",
            "Anna climbed to the top of the mast.",
            "She saw a green island far away.",
        ),
        (
            "school",
            "A new boy at school is scared to talk to anyone",
            "Ben sat alone at lunch.",
            "A girl with red shoes sat down next to him.",
        ),
        (
            "ghost story",
            "Two children spend the night in an old house that is said to be haunted",
            "The stairs creaked when Lucy went up.",
            "A cold wind blew out the candle.",
        ),
        (
            "quest",
            "A young knight must bring back a magic flower to save the queen",
            "The knight rode his horse into the dark forest.",
            "A fox stood in the middle of the path.",
        ),
        (
            "western",
            "A cowboy rides into a dusty town where nobody will tell him the sheriff's name",
            "The cowboy tied his horse in front of the store.",
            "An old man on the porch watched him.",
        ),
        (
            "winter",
            "A family of rabbits gets ready for the first snow of winter",
            "Mother rabbit gathered carrots and leaves.",
            "The little rabbits wanted to play in the snow.",
        ),
        (
            "magic",
            "A girl finds a paintbrush that makes her paintings come alive",
            "Lily painted a small blue bird.",
            "The bird flapped its wings and flew off the paper.",
        ),
        (
            "sea",
            "A fisherman catches a talking fish that grants wishes",
            "The fisherman pulled up his net.",
            "The fish said it could grant him one wish.",
        ),
    ],
}
POEM_TOPICS: dict[str, list[str]] = {
    "dev": [
        "the sea",
        "a brave knight",
        "snow",
        "a robot",
        "the stars",
        "an old tree",
        "a train",
        "a sleepy bear",
    ],
    "test": [
        "the moon",
        "a dragon",
        "rain",
        "a little mouse",
        "the forest",
        "a birthday cake",
        "the sun",
        "a lost kitten",
        "a magic garden",
        "a cat who loves cheese",
        "the wind",
        "a pirate ship",
    ],
}
RETRY_CHANNELS = 4
RETRIES = 4
NOTHING_MARK = "couldn't come up with anything"


# ---------------------------------------------------------------- measures


def topic_stems(context: str) -> set[str]:
    """What ``context`` is about: the stems of its key nouns and names."""
    from plugins.kit.keywords import key_terms
    from plugins.kit.words import content_words

    return {
        stem
        for term in key_terms(context, limit=8)
        if term.noun or term.is_name
        for stem in content_words(term.text)
    }


def _words(text: str) -> list[str]:
    from plugins.kit.words import words

    return words(text)


def strip_footer(text: str) -> str:
    """The reply without Discord subtext lines (``-# version 2 of 5``)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("-#")).strip()


def distinct2(texts: Iterable[str]) -> float:
    grams: list[tuple[str, str]] = []
    for text in texts:
        ws = [w.lower() for w in _words(text)]
        grams.extend(itertools.pairwise(ws))
    return len(set(grams)) / len(grams) if grams else 0.0


class CorpusNgrams:
    """Hashes of every 10-word sequence of the corpus files (lower-cased words)."""

    N = 10

    def __init__(self, folder: Path | None) -> None:
        self.hashes: set[int] = set()
        if folder is None or not folder.is_dir():
            return
        for path in sorted(folder.glob("*.txt")):
            ws = [w.lower() for w in _words(path.read_text(encoding="utf-8"))]
            self.hashes.update(hash(tuple(ws[i : i + self.N])) for i in range(len(ws) - self.N + 1))

    @property
    def available(self) -> bool:
        return bool(self.hashes)

    def copied(self, text: str) -> bool:
        ws = [w.lower() for w in _words(text)]
        return any(
            hash(tuple(ws[i : i + self.N])) in self.hashes for i in range(len(ws) - self.N + 1)
        )


def cmu_syllables(line: str) -> int | None:
    """Syllables of ``line`` by the CMU dictionary alone (None: a word it does not know, or
    a word with pronunciations of different lengths that leave the count open)."""
    import pronouncing

    total = 0
    for word in _words(line):
        phones = pronouncing.phones_for_word(word.lower().replace("'s", "")) or (
            pronouncing.phones_for_word(word.lower())
        )
        if not phones:
            return None
        total += pronouncing.syllable_count(phones[0])
    return total


def haiku_valid(lines: list[str]) -> bool:
    if len(lines) != 3:
        return False
    counts = [_count_options(line) for line in lines]
    return all(target in options for target, options in zip((5, 7, 5), counts, strict=True))


def _count_options(line: str) -> set[int]:
    """Every syllable count the line's CMU pronunciations allow (empty: an unknown word)."""
    import pronouncing

    options = {0}
    for word in _words(line):
        w = word.lower()
        phones = pronouncing.phones_for_word(w) or pronouncing.phones_for_word(w.removesuffix("'s"))
        if not phones:
            return set()
        counts = {pronouncing.syllable_count(p) for p in phones}
        options = {a + b for a in options for b in counts}
    return options


def strict_rhyme(a: str, b: str) -> bool:
    """Same stressed vowel and everything after it, by some CMU pronunciation of each word;
    different words; both in the dictionary."""
    import pronouncing

    wa, wb = a.lower(), b.lower()
    if not wa or not wb or wa == wb:
        return False

    def parts(word: str) -> set[str]:
        out = set()
        for phones in pronouncing.phones_for_word(word):
            ps = phones.split()
            stressed = [i for i, p in enumerate(ps) if p[-1] in "12"]
            if stressed:
                out.add(" ".join(re.sub(r"\d", "", p) for p in ps[stressed[-1] :]))
        return out

    return bool(parts(wa) & parts(wb))


def limerick_strict(lines: list[str]) -> bool:
    if len(lines) != 5:
        return False
    ends = [(_words(line) or [""])[-1] for line in lines]
    a1, a2, b1, b2, a3 = ends
    return (
        strict_rhyme(a1, a2)
        and strict_rhyme(a1, a3)
        and strict_rhyme(a2, a3)
        and strict_rhyme(b1, b2)
    )


def poem_lines(reply: str) -> list[str]:
    """The poem's lines: the reply without its title/heading lines (bold, emoji) and footers."""
    lines = []
    for raw in strip_footer(reply).splitlines():
        line = raw.strip()
        if len(line) > 1 and line[0] == line[-1] and line[0] in "*_":
            continue  # the italic title ("*A haiku about the sea*")
        if not line or line.startswith(("📜", "✒", "🖋", "#", "-#")):
            continue
        lines.append(line)
    return lines


# ---------------------------------------------------------------- the app


def _line(user: str, channel: str, text: str) -> str:
    return json.dumps({"user": user, "channel": channel, "text": text})


def _finals(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last version of every message id, in posting order."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("id") and record["kind"] in ("message", "edit"):
            out[record["id"]] = record
    return out


def _continuations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Storyteller continuations (and retries): messages with a Retry button or a nothing note."""
    found = []
    for record in _finals(records).values():
        labels = [b.get("label") for b in record.get("buttons", [])]
        if "Retry" in labels or NOTHING_MARK in record["text"]:
            found.append(record)
    return found


class _FallbackCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "fallback" in record.getMessage():
            self.count += 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bot.adapters.console import run_jsonl
    from bot.app import App
    from bot.config import load_settings
    from plugins.kit.rerank import has_dangling_end
    from plugins.kit.textcraft import is_degenerate
    from plugins.kit.words import content_words, made_up_words

    stories = STORIES[args.split][: args.stories or None]
    parts = {part.strip() for part in args.parts.split(",")}
    topics = POEM_TOPICS[args.split][: args.topics or None] if "poems" in parts else []
    data_dir = Path(tempfile.mkdtemp(prefix="storyloom-quality-"))
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "router": {"user_rate": 10_000, "channel_rate": 10_000, "stream_edit_interval_s": 0.5},
        "logging": {"level": "WARNING"},
        "generation": {"max_batch_size": 16, "queue_size": 256},
    }
    if args.model:
        overrides["generation"]["model"] = args.model
    settings = load_settings(args.config, **overrides)
    fallbacks = _FallbackCounter()
    headline_log = logging.getLogger("plugins.headline.plugin")
    headline_log.addHandler(fallbacks)
    headline_log.setLevel(logging.DEBUG)
    ngrams = CorpusNgrams(args.corpus)
    started = time.monotonic()
    app = await App.create(settings)
    transcript: list[str] = []
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("story games", total=4)
            script: list[str] = []
            for i, (_genre, premise, turn1, turn2) in enumerate(stories):
                ch = f"s{i}"
                script += [
                    _line("ann", ch, f"/story start {premise}"),
                    _line("ann", ch, f"/story add {turn1}"),
                    _line("ann", ch, "/story continue"),
                    _line("bob", ch, f"/story add {turn2}"),
                    _line("bob", ch, "/story continue"),
                ]
            story_records = await run_jsonl(app, script)
            progress.advance(task)
            retry_script = [
                _line("cy", f"s{i}", "/story retry")
                for _ in range(RETRIES)
                for i in range(min(RETRY_CHANNELS, len(stories)))
            ]
            retry_records = await run_jsonl(app, retry_script)
            progress.advance(task)
            poem_script = []
            for j, topic in enumerate(topics):
                poem_script.append(_line(f"p{j}", f"poem{j}", f"/poem haiku {topic}"))
                poem_script.append(_line(f"q{j}", f"limerick{j}", f"/poem limerick {topic}"))
            poem_records = await run_jsonl(app, poem_script)
            progress.advance(task)
            headline_script = [
                _line(f"h{i}", f"s{i}", "/headline")
                for i in range(len(stories) if "headlines" in parts else 0)
            ]
            headline_records = await run_jsonl(app, headline_script)
            progress.advance(task)
    finally:
        await app.close()
        headline_log.removeHandler(fallbacks)

    # stories
    replies: list[dict[str, Any]] = []
    for i, (genre, premise, turn1, turn2) in enumerate(stories):
        ch = f"s{i}"
        conts = [
            strip_footer(r["text"]) for r in _continuations(story_records) if r["channel"] == ch
        ]
        players = f"{premise}\n{turn1}\n{turn2}"
        transcript.append(f"## {genre}: {premise}\n> ann: {turn1}")
        for k, text in enumerate(conts[:2]):
            context = f"{premise}\n{turn1}" + (f"\n{conts[0]}\n{turn2}" if k else "")
            replies.append(
                {"channel": i, "text": text, "context": context, "known": players, "k": k}
            )
            transcript.append(f"storyteller: {text}")
            if k == 0:
                transcript.append(f"> bob: {turn2}")
        transcript.append("")
    usable = [r for r in replies if NOTHING_MARK not in r["text"]]

    def rel(text: str, context: str) -> bool:
        return bool(content_words(text) & content_words(context))

    def mentions(text: str, context: str) -> bool:
        return bool(content_words(text) & topic_stems(context))

    def against_others(judge: Callable[[str, str], bool], r: dict[str, Any]) -> float:
        others = [o for o in replies if o["channel"] != r["channel"] and o["k"] == r["k"]]
        return sum(judge(r["text"], o["context"]) for o in others) / max(1, len(others))

    n = max(1, len(replies))
    made_up = [r for r in usable if made_up_words(r["text"], _words(r["known"]))]
    relevant = sum(rel(r["text"], r["context"]) for r in usable)
    shuffled_total = sum(against_others(rel, r) for r in usable)
    mentioned = sum(mentions(r["text"], r["context"]) for r in usable)
    mentioned_by_chance = sum(against_others(mentions, r) for r in usable)
    degenerate = sum(
        NOTHING_MARK in r["text"] or not r["text"].strip() or is_degenerate(r["text"])
        for r in replies
    )
    retries_by_channel: dict[str, list[str]] = {}
    for i in range(min(RETRY_CHANNELS, len(stories))):
        ch = f"s{i}"
        last = [
            strip_footer(r["text"]) for r in _continuations(story_records) if r["channel"] == ch
        ]
        again = [
            strip_footer(r["text"]) for r in _continuations(retry_records) if r["channel"] == ch
        ]
        retries_by_channel[ch] = last[-1:] + again
    d2 = [distinct2(texts) for texts in retries_by_channel.values() if len(texts) >= 2]
    story_result = {
        "replies": len(replies),
        "made_up_rate": len(made_up) / n,
        "made_up_examples": sorted(
            {w for r in made_up for w in made_up_words(r["text"], _words(r["known"]))}
        )[:20],
        "mentions": mentioned / n,
        "mentions_shuffled": mentioned_by_chance / n,
        "mentions_ratio": mentioned / max(1e-9, mentioned_by_chance),
        "relevance": relevant / n,
        "relevance_shuffled": shuffled_total / n,
        "relevance_ratio": relevant / max(1e-9, shuffled_total),
        "degenerate_rate": degenerate / n,
        "dangling_rate": sum(has_dangling_end(r["text"]) for r in usable) / n,
        "copied_10gram_rate": (
            sum(ngrams.copied(r["text"]) for r in usable) / n if ngrams.available else None
        ),
        "distinct2_retries": sum(d2) / len(d2) if d2 else None,
        "retry_sets": [len(t) for t in retries_by_channel.values()],
    }

    # poems
    finals = [r for r in _finals(poem_records).values() if r["kind"] in ("message", "edit")]
    haiku = [poem_lines(r["text"]) for r in finals if r["channel"].startswith("poem")]
    limericks = [poem_lines(r["text"]) for r in finals if r["channel"].startswith("limerick")]
    all_poems = [
        (
            topics[int(r["channel"].removeprefix("poem").removeprefix("limerick"))],
            poem_lines(r["text"]),
        )
        for r in finals
    ]
    lines = [line for _, ls in all_poems for line in ls]
    transcript.append("## poems")
    for r in finals:
        transcript.append(strip_footer(r["text"]) + "\n")
    poem_result = {
        "haiku": len(haiku),
        "limericks": len(limericks),
        "haiku_valid": sum(haiku_valid(p) for p in haiku) / max(1, len(haiku)),
        "limerick_strict": sum(limerick_strict(p) for p in limericks) / max(1, len(limericks)),
        "topic_rate": sum(
            bool(content_words(" ".join(ls)) & content_words(topic)) for topic, ls in all_poems
        )
        / max(1, len(all_poems)),
        "dangling_line_rate": sum(
            ((_words(line) or ["the"])[-1].lower() in DANGLING_WORDS) for line in lines
        )
        / max(1, len(lines)),
        "punctuation_start_rate": sum(bool(re.match(r"^[^\w\"'“]", line)) for line in lines)
        / max(1, len(lines)),
        "made_up_line_rate": sum(bool(made_up_words(line)) for line in lines) / max(1, len(lines)),
    }

    # headlines
    heads = [
        strip_footer(r["text"]).splitlines()[0].strip("📰* ")
        for r in _finals(headline_records).values()
    ]
    transcript.append("## headlines")
    transcript.extend(heads)
    grammatical = [
        h
        for h in heads
        if h and not made_up_words(h) and (_words(h) or ["the"])[-1].lower() not in DANGLING_WORDS
    ]
    headline_result = {
        "headlines": len(heads),
        "model_written_rate": 1 - fallbacks.count / max(1, len(heads)),
        "grammatical_rate": len(grammatical) / max(1, len(heads)),
    }
    return {
        "benchmark": "quality",
        "split": args.split,
        "model": args.model or "bundled",
        "seconds": round(time.monotonic() - started, 1),
        "stories": story_result,
        "poems": poem_result,
        "headlines": headline_result,
        "transcript": "\n".join(transcript),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench quality",
        description="Writing quality of stories, poems and headlines through the real app.",
    )
    p.add_argument("--split", choices=("dev", "test"), default="test")
    p.add_argument("--stories", type=int, default=0, help="first N premises (0: all)")
    p.add_argument("--topics", type=int, default=0, help="first N poem topics (0: all)")
    p.add_argument("--model", help="a model directory or name (default: the bundled model)")
    p.add_argument("--config", type=Path, help="a settings file")
    p.add_argument(
        "--corpus", type=Path, default=Path("../shared/corpus"), help="for copied 10-grams"
    )
    p.add_argument(
        "--parts",
        default="stories,poems,headlines",
        help="what to play besides the story games, comma-separated (poems, headlines)",
    )
    p.add_argument("--out", type=Path, default=Path("bench/results/quality.json"))
    p.add_argument("--transcript", type=Path, help="also write the transcript here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.transcript:
        args.transcript.write_text(result["transcript"] + "\n")
    shown = {k: v for k, v in result.items() if k != "transcript"}
    print(json.dumps(shown, indent=2))
    return result


if __name__ == "__main__":
    main()
