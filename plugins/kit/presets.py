"""Sampling presets per plugin, with per-guild (and per-channel) overrides kept in storage.

The settings file gives a plugin its default preset (``[plugins.poem.sampling]``); a server's
managers change single values with ``/poem-preset temperature 1.1`` (stored as scoped settings
in the plugin's namespace); ``/poem-preset temperature reset`` goes back to the default.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import UsageError
from bot.generation.types import SamplingParams
from bot.ports import ScopedSettingsPort

__all__ = ["PRESET_KEYS", "SamplingPreset", "describe", "effective_preset", "register", "update"]

log = logging.getLogger(__name__)


class SamplingPreset(BaseModel):
    """How a plugin samples; each field may be overridden per guild."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.9, ge=0.0, le=2.0)
    top_k: int = Field(default=40, ge=0, le=1000)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    repetition_penalty: float = Field(default=1.15, gt=0.0, le=3.0)
    no_repeat_ngram_size: int = Field(default=0, ge=0, le=10)

    def params(self) -> SamplingParams:
        """The generation parameters of this preset (lengths and stops are set per request)."""
        return SamplingParams(
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
        )


PRESET_KEYS: tuple[str, ...] = tuple(SamplingPreset.model_fields)


def register(settings: ScopedSettingsPort, namespace: str) -> None:
    """Declare the overridable keys (default None = the plugin's configured value)."""
    settings.register_defaults(namespace, **dict.fromkeys(PRESET_KEYS))


async def effective_preset(
    settings: ScopedSettingsPort,
    namespace: str,
    base: SamplingPreset,
    guild_id: str | None,
    channel_id: str | None,
) -> SamplingPreset:
    """``base`` with the guild's and channel's overrides applied (bad stored values ignored)."""
    overrides = await settings.get_all(namespace, guild_id=guild_id, channel_id=channel_id)
    changes = {k: v for k, v in overrides.items() if k in PRESET_KEYS and v is not None}
    if not changes:
        return base
    try:
        return SamplingPreset.model_validate(base.model_dump() | changes)
    except ValidationError:
        log.warning("ignoring invalid %s preset overrides in guild %s", namespace, guild_id)
        return base


def describe(preset: SamplingPreset) -> str:
    """A one-line summary, e.g. ``temperature 0.9 · top_k 40 · ...``."""
    return " · ".join(f"{key} {getattr(preset, key)}" for key in PRESET_KEYS)


async def update(
    settings: ScopedSettingsPort,
    namespace: str,
    base: SamplingPreset,
    key: str,
    value: str,
    *,
    guild_id: str | None,
    usage: str,
) -> str:
    """Set (or with ``reset`` clear) one preset value for a guild; returns a confirmation."""
    if guild_id is None:
        raise UsageError("Presets can be changed only in a server.", usage=usage)
    key = key.strip().lower()
    if key not in PRESET_KEYS:
        raise UsageError(
            f"`{key[:30]}` is not a preset setting. Choose one of: "
            + ", ".join(f"`{k}`" for k in PRESET_KEYS)
            + ".",
            usage=usage,
        )
    if value.strip().lower() in ("reset", "default"):
        await settings.clear(namespace, key, guild_id=guild_id)
        return f"`{key}` is back to its default ({getattr(base, key)})."
    field = SamplingPreset.model_fields[key]
    try:
        parsed: float | int = int(value) if field.annotation is int else float(value)
        SamplingPreset.model_validate(base.model_dump() | {key: parsed})
    except (ValueError, ValidationError):
        raise UsageError(f"`{value[:20]}` is not a valid value for `{key}`.", usage=usage) from None
    await settings.set(namespace, key, parsed, guild_id=guild_id)
    return f"`{key}` is now {parsed} in this server."


async def preset_command(
    settings: ScopedSettingsPort,
    namespace: str,
    base: SamplingPreset,
    setting: str,
    value: str,
    *,
    guild_id: str | None,
    usage: str,
    label: str,
) -> str:
    """The body of a ``/<plugin>-preset [setting] [value|reset]`` command: show the effective
    preset, or change one value for this server."""
    if setting and value:
        return await update(
            settings, namespace, base, setting, value, guild_id=guild_id, usage=usage
        )
    if setting:
        raise UsageError("Give a value too (or `reset`).", usage=usage)
    current = await effective_preset(settings, namespace, base, guild_id, None)
    return f"{label} sampling here: {describe(current)}"
