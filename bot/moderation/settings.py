"""Process-wide moderation settings (composed into the app's Settings by the lead)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ModerationSettings(BaseModel):
    """Defaults for every guild; a guild's :class:`~bot.moderation.types.GuildRules` refine them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    classifier_enabled: bool = True
    classifier_path: Path | None = Field(
        default=None,
        description=(
            "a transformer export directory or an n-gram .npz; "
            "None = the fine-tuned MiniLM shipped in bot/moderation/data/offense_minilm"
        ),
    )
    classifier_flag_threshold: float = Field(default=0.75, ge=0.0, le=1.0)
    classifier_block_threshold: float = Field(default=0.98, ge=0.0, le=1.0)
    max_input_length: int = Field(default=4000, gt=0)
    max_output_length: int = Field(default=8000, gt=0)
    max_regen_attempts: int = Field(default=3, ge=0)
    regex_timeout_s: float = Field(default=0.05, gt=0.0)
    inline_max_chars: int = Field(
        default=1000, ge=0, description="longer texts (or guilds with regex rules) run off-loop"
    )
    block_secrets: bool = True
    refusal_message: str = (
        "I couldn't write something suitable for this channel. Try another prompt."
    )
    blocked_input_message: str = (
        "Your message was not accepted by this server's content rules, so it was left out."
    )
