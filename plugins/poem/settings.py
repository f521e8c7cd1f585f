"""Settings of the poem plugin (``[plugins.poem]`` in the settings file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from plugins.kit.presets import SamplingPreset

__all__ = ["PoemSettings"]


class PoemSettings(BaseModel):
    """How poems are written. ``sampling`` is the default preset; guilds may override it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampling: SamplingPreset = SamplingPreset()
    candidates: int = Field(default=8, ge=1, le=12)
    """Lines sampled per poem line; the best-fitting one is kept."""
    max_attempts: int = Field(default=5, ge=1, le=6)
    """How often a poem that fails its form is written again before it is shown as approximated."""
    examples: int = Field(default=2, ge=0, le=2)
    """Example poems in a base-model prompt (fewer = shorter prompts for small context windows)."""
    favour: float = Field(default=3.0, ge=0.0, le=10.0)
    """Base models: logit added to the topic's words until a line has written them, as the
    story plugin does for its names and things (0: off)."""
    free_verse_lines: int = Field(default=4, ge=3, le=8)
    deadline_s: float = Field(default=120.0, gt=0)
    """Deadline of each generation request, in seconds."""
    priority: int = 0
    story_turns: int = Field(default=8, ge=1, le=50)
    """How many recent story turns a poem without a topic is drawn from."""
