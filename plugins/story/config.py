"""Settings of the story plugin, its sampling presets and its genre/tone presets.

``StorySettings`` is the ``[plugins.story]`` section of the settings file; guilds override a few
of its values at run time through the store's scoped settings (namespace ``story``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.generation.types import SamplingParams

Mode = Literal["free", "round-robin", "vote"]
MODES: tuple[str, ...] = ("free", "round-robin", "vote")

SETTINGS_NAMESPACE = "story"

SAMPLING_PRESETS: dict[str, dict[str, Any]] = {
    "balanced": {
        "temperature": 0.8,
        "top_k": 50,
        "top_p": 0.95,
        "repetition_penalty": 1.15,
        "no_repeat_ngram_size": 4,
    },
    "creative": {
        "temperature": 1.0,
        "top_k": 80,
        "top_p": 0.98,
        "repetition_penalty": 1.1,
        "no_repeat_ngram_size": 4,
    },
    "focused": {
        "temperature": 0.55,
        "top_k": 30,
        "top_p": 0.9,
        "repetition_penalty": 1.2,
        "no_repeat_ngram_size": 3,
    },
}
"""Named sampling settings; a guild may tweak any field on top (``/story settings``)."""


@dataclass(frozen=True, slots=True)
class StoryPreset:
    """A genre/tone preset: an author's note that steers the tone, and a sampling preset."""

    name: str
    description: str
    author_note: str
    sampling: str = "balanced"


STORY_PRESETS: dict[str, StoryPreset] = {
    p.name: p
    for p in (
        StoryPreset(
            "cozy", "Gentle and warm, for all ages.", "Gentle, warm, happy tone. Simple words."
        ),
        StoryPreset(
            "adventure",
            "Quests, danger and brave friends.",
            "Exciting adventure. Brave heroes, a clear goal, surprises.",
            "creative",
        ),
        StoryPreset(
            "mystery",
            "Clues, secrets and a puzzle to solve.",
            "Mystery. Leave small clues. Keep a secret until the end.",
            "focused",
        ),
        StoryPreset(
            "spooky",
            "Shadows and shivers, never gory.",
            "Spooky but not gory. Creaking doors, shadows, suspense.",
        ),
        StoryPreset(
            "funny",
            "Silly surprises and jokes.",
            "Silly and funny. Unexpected twists and jokes.",
            "creative",
        ),
        StoryPreset(
            "scifi",
            "Spaceships, robots and strange worlds.",
            "Science fiction. Spaceships, robots, strange planets.",
        ),
    )
}


class StorySettings(BaseModel):
    """``[plugins.story]``: defaults for every guild (a guild can override the marked ones)."""

    auto_continue_every: int = Field(3, ge=0, le=50)
    """Free and vote mode: the storyteller writes after every N player turns (0: only on request).
    Guild-overridable."""
    round_robin_bot_each_round: bool = True
    """Round-robin: the storyteller writes after every full round of players."""
    turn_timeout_s: float = Field(300.0, gt=0)
    """Round-robin: a player who does not write within this time is skipped. Guild-overridable."""
    vote_window_s: float = Field(120.0, gt=0)
    """Vote mode: how long a vote stays open. Guild-overridable."""
    vote_candidates: int = Field(3, ge=2, le=3)
    sampling_preset: str = "focused"
    """Default sampling preset name. Guild-overridable. "focused" with ``best_of = 8`` gave the
    fewest made-up words on the quality benchmark's dev premises (0 of 8 replies, against 2 of 8
    for "balanced" with 4 candidates) with retries still varied (distinct-2 0.85)."""
    max_new_tokens: int = Field(72, ge=8, le=1000)
    """Length of one continuation. 72 tokens (two or three sentences, a turn in a shared game)
    tripled relevance against chance on the quality benchmark's dev premises (120: 1.0x, 72: 3.5x)."""
    recap_max_new_tokens: int = Field(80, ge=8, le=500)
    allow_player_voice: bool = False
    """Whether the storyteller may write lines for players ("Alice: ...")."""
    stream: bool = True
    """Show the text as it is written (only with ``best_of = 1``: a ranked reply is posted whole)."""
    best_of: int = Field(8, ge=1, le=16)
    """Candidates written for each continuation (batched, so they cost little more than one);
    the best by :mod:`plugins.kit.rerank` is posted and the others become its versions."""
    favour: float = Field(3.0, ge=0.0, le=10.0)
    """Base models: logit added to the story's key names and things (nouns of its premise,
    memory and last turns) until each is written, so a small model keeps to what the story is
    about (0: off). On the quality benchmark's 12 dev premises: replies mentioning one 54% with
    0, 83% with 1.5, 100% with 3.0 (chance 11%), made-up words 0% and retries as varied
    (distinct-2 0.85 / 0.81 / 0.83)."""
    narrator_name: str = "Narrator"
    prose_prompt: bool = True
    """Base (non-chat) models get the story as plain prose paragraphs, the form they were trained
    on: no speaker tags, no bracketed author's note (it steers the ranking instead)."""
    base_cue: str = ""
    """A continuation cue that ends a base-model prompt (empty: a new paragraph)."""
    author_note_depth: int = Field(3, ge=0, le=50)
    lore_scan_turns: int = Field(4, ge=0, le=50)
    max_turn_chars: int = Field(1500, ge=20, le=4000)
    show_turns: int = Field(8, ge=1, le=50)
    """How many recent turns ``/story show`` prints."""
    tick_interval_s: float = Field(15.0, ge=0)
    """How often the plugin checks for timed-out turns and expired votes in the background
    (0: only lazily, when someone acts). Announcements come with the channel's next reply."""
    active_cache_s: float = Field(30.0, ge=0)
    """How long a channel's running story is cached in memory for the hot paths (turns,
    ``/story show``, "is this plain message a turn?"; 0: read it every time). Changes made
    through this process update the cache at once; state writes are version-checked, so a change
    another process made is detected on the next write (the turn is retried on a fresh read).
    Other processes' changes show in ``/story show`` and plain-message detection after at most
    this long."""
    generation_deadline_s: float | None = Field(120.0, gt=0)
    seed: int | None = None
    """A fixed sampling seed (tests); None samples freshly each time."""
    sampling: dict[str, Any] = Field(default_factory=dict)
    """Overrides applied on top of the sampling preset, e.g. ``{temperature = 0.7}``."""


GUILD_KEYS: dict[str, type] = {
    "auto_continue_every": int,
    "turn_timeout_s": float,
    "vote_window_s": float,
    "sampling_preset": str,
    "temperature": float,
    "max_new_tokens": int,
}
"""Settings a guild may override with ``/story settings <key> <value>``."""


def sampling_params(
    preset: str,
    *,
    overrides: dict[str, Any] | None = None,
    max_new_tokens: int,
    stop: tuple[str, ...] = (),
    seed: int | None = None,
) -> SamplingParams:
    """SamplingParams for a preset name plus overrides (unknown preset names use balanced)."""
    values: dict[str, Any] = dict(SAMPLING_PRESETS.get(preset, SAMPLING_PRESETS["balanced"]))
    allowed = set(SamplingParams.__dataclass_fields__) - {"stop", "seed", "ignore_eos"}
    values.update({k: v for k, v in (overrides or {}).items() if k in allowed})
    values.setdefault("max_new_tokens", max_new_tokens)
    if "max_new_tokens" not in (overrides or {}):
        values["max_new_tokens"] = max_new_tokens
    return SamplingParams(**values, stop=stop, seed=seed)
