"""Settings of the headline plugin (``[plugins.headline]`` in the settings file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from plugins.kit.presets import SamplingPreset

__all__ = ["HeadlineSettings"]


class HeadlineSettings(BaseModel):
    """How headlines are written. ``sampling`` is the default preset; guilds may override it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampling: SamplingPreset = SamplingPreset(
        temperature=0.8, top_k=40, top_p=0.9, repetition_penalty=1.2
    )
    candidates: int = Field(default=6, ge=1, le=16)
    """Headlines sampled per request; the best-ranked one is shown."""
    subheadline: bool = True
    """Also write a sub-headline under the headline."""
    max_new_tokens: int = Field(default=24, ge=4, le=128)
    source_tokens: int = Field(default=240, ge=16, le=4000)
    """At most this many tokens of the story or text go into the prompt (the newest part)."""
    examples: int = Field(default=2, ge=0, le=2)
    recent_messages: int = Field(default=20, ge=1, le=200)
    story_turns: int = Field(default=12, ge=1, le=100)
    deadline_s: float = Field(default=90.0, gt=0)
    priority: int = 0
