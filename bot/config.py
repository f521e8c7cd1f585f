"""Settings: one TOML file plus ``STORYLOOM_*`` environment variables, read once and injected.

Precedence (highest first): keyword arguments, environment (``STORYLOOM_SECTION__KEY``), the TOML
file (``--config`` or ``STORYLOOM_CONFIG``), defaults. Nested sections use ``__`` in env names,
e.g. ``STORYLOOM_GENERATION__MODEL=/models/llama``; the Discord token may also be given as
``STORYLOOM_DISCORD__TOKEN`` or ``DISCORD_TOKEN``.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.errors import ConfigError
from bot.generation.settings import GenerationSettings
from bot.moderation.settings import ModerationSettings
from bot.observability.settings import MetricsSettings
from storage.settings import StorageSettings


class LoggingSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["plain", "json"] = "plain"


class RouterSettings(BaseModel):
    """How messages become commands, and how often people may use them."""

    prefixes: tuple[str, ...] = ("/",)
    """Text prefixes that mark a typed command (the console uses ``/``; Discord adds its own)."""
    user_rate: int = 8
    user_per_s: float = 10.0
    channel_rate: int = 30
    channel_per_s: float = 10.0
    stream_edit_interval_s: float = 1.0
    max_message_chars: int = 4000
    """Longer user messages are refused with a clear notice (Discord allows 4,000 for Nitro)."""


class DiscordSettings(BaseModel):
    """Discord connection. The token is a secret: never logged, never shown in errors."""

    token: SecretStr | None = None
    command_prefix: str = "!"
    mention_prefix: bool = True
    message_content_intent: bool = True
    owner_ids: tuple[int, ...] = ()
    sync_guild_ids: tuple[int, ...] = ()
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    mod_log_channel_id: int | None = None

    def require_token(self) -> str:
        if self.token is None or not self.token.get_secret_value().strip():
            raise ConfigError(
                "No Discord bot token is configured. Set STORYLOOM_DISCORD__TOKEN (or DISCORD_TOKEN), "
                'or `token = "..."` under [discord] in your storyloom.toml. Create the token in the '
                "Discord developer portal (see the README, 'Running on Discord')."
            )
        return self.token.get_secret_value().strip()


class WebSettings(BaseModel):
    """The browser playground (``storyloom web``): rooms, their limits and who may connect."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    allowed_origins: tuple[str, ...] = ()
    """Other origins (``https://example.org``) allowed to open a room's socket; the page's own
    origin always is. Behind a reverse proxy that rewrites Host, list the public origin here."""
    max_frame_bytes: int = Field(default=65_536, ge=1024)
    """Largest WebSocket message a browser may send; bigger ones close the connection."""
    max_people_per_room: int = Field(default=50, ge=1)
    history: int = Field(default=200, ge=0)
    """Messages a late joiner sees (kept in memory; the story itself is in the database)."""
    rooms_per_hour: int = Field(default=30, ge=1)
    """Rooms one address may create per hour."""
    stream_edit_interval_s: float = Field(default=0.25, ge=0.0)
    """How often streamed text is updated in the page, unless ``router.stream_edit_interval_s``
    is set explicitly (edits cost nothing on the web, unlike on Discord)."""


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("storyloom_config_file", default=None)


class Settings(BaseSettings):
    """All of storyloom's settings. See the README's configuration reference."""

    model_config = SettingsConfigDict(
        env_prefix="STORYLOOM_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Path("var")
    """Where the SQLite database and other state live (created on start)."""
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-plugin settings, ``[plugins.story]`` etc."""
    enabled_plugins: tuple[str, ...] = ()
    """Plugins to load by entry-point name; empty loads every installed plugin."""

    def resolved_storage(self) -> StorageSettings:
        """Storage settings with the default SQLite file under ``data_dir`` filled in."""
        if "url" in self.storage.model_fields_set:
            return self.storage
        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{(self.data_dir / 'storyloom.db').resolve()}"
        return self.storage.model_copy(update={"url": url})

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _CONFIG_FILE.get()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings once: the TOML file (if any), then ``STORYLOOM_*`` variables, then ``overrides``.

    Raises ConfigError with a readable list of problems instead of a pydantic traceback.
    """
    path = config_file or (
        Path(os.environ["STORYLOOM_CONFIG"]) if os.environ.get("STORYLOOM_CONFIG") else None
    )
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist. Create it or drop --config.")
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from exc
    token = _CONFIG_FILE.set(path)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        where = (
            f" (from {path} and STORYLOOM_* variables)" if path else " (from STORYLOOM_* variables)"
        )
        raise ConfigError(f"Invalid settings{where}: {problems}") from None
    finally:
        _CONFIG_FILE.reset(token)
    if settings.discord.token is None and os.environ.get("DISCORD_TOKEN"):
        settings.discord.token = SecretStr(os.environ["DISCORD_TOKEN"])
    return settings
