"""One error tree for storyloom.

Every error the core raises derives from :class:`StoryloomError`. Errors a user may see derive
from :class:`UserFacingError` and carry a short, friendly ``user_message``; everything else is
reported to users as a generic apology while the log keeps the cause. Unknown exceptions from
libraries are wrapped with ``raise SomeError(...) from exc`` at the boundary where they occur.
"""

from __future__ import annotations


class StoryloomError(Exception):
    """Root of every storyloom error."""


class ConfigError(StoryloomError):
    """Settings are missing or invalid; the message says what to change."""


class PluginLoadError(StoryloomError):
    """A plugin could not be loaded or its declarations are invalid."""


class UserFacingError(StoryloomError):
    """An error whose message is safe and useful to show in the channel."""

    def __init__(self, user_message: str, *, ephemeral: bool = True) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.ephemeral = ephemeral


class UsageError(UserFacingError):
    """The command was called with missing, extra or badly typed arguments."""

    def __init__(self, user_message: str, *, usage: str = "") -> None:
        text = f"{user_message}\nUsage: `{usage}`" if usage else user_message
        super().__init__(text)
        self.usage = usage


class UploadTooLarge(UsageError):
    """An attached file is over the limit of the command that reads it (sizes in bytes)."""

    def __init__(self, filename: str, size: int, limit: int) -> None:
        shown, most = _megabytes(size), _megabytes(limit)
        if shown == most:  # 1.0 MB over a 1.0 MB limit says nothing: give the bytes
            shown, most = f"{size:,} bytes", f"{limit:,} bytes"
        super().__init__(f"`{filename}` is too large ({shown}); the limit is {most}.")
        self.filename = filename
        self.size = size
        self.limit = limit


def _megabytes(size: int) -> str:
    if size >= 100_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{size / 1000:.1f} kB" if size >= 1000 else f"{size} bytes"


class UnknownCommand(UsageError):
    """No plugin declares the command that was typed."""


class PermissionDenied(UserFacingError):
    """The author lacks the permission a command requires."""


class PluginDisabled(UserFacingError):
    """The plugin is switched off in this guild or channel."""


class RateLimited(UserFacingError):
    """The author or channel is over its rate limit; ``retry_after`` is in seconds."""

    def __init__(self, user_message: str, *, retry_after: float) -> None:
        super().__init__(user_message)
        self.retry_after = retry_after


class Blocked(UserFacingError):
    """Moderation blocked a text; the user message never quotes the text itself."""

    def __init__(self, user_message: str, *, category: str = "", rule: str = "") -> None:
        super().__init__(user_message)
        self.category = category
        self.rule = rule


class StateError(UserFacingError):
    """The request does not fit the current state (no active story, not your turn, ...)."""


class NotFound(UserFacingError):
    """A referenced object (story, turn, alternative) does not exist in this channel."""


class GenerationError(StoryloomError):
    """Text generation failed; the user sees a friendly apology."""


class Overloaded(GenerationError, UserFacingError):
    """The generation queue is full. ``position`` is where the request would have queued."""

    def __init__(self, *, position: int, estimated_wait_s: float | None = None) -> None:
        wait = f" (about {estimated_wait_s:.0f}s)" if estimated_wait_s else ""
        UserFacingError.__init__(
            self,
            f"I'm busy writing for others right now — you'd be number {position} in line{wait}. "
            "Please try again in a moment.",
        )
        self.position = position
        self.estimated_wait_s = estimated_wait_s


class GenerationTimeout(GenerationError, UserFacingError):
    """A generation did not finish before its deadline."""

    def __init__(
        self, user_message: str = "The story muse took too long to answer. Please try again."
    ) -> None:
        UserFacingError.__init__(self, user_message)


class GenerationCancelled(GenerationError):
    """A generation was cancelled (stop button, channel deleted, shutdown)."""


class PromptTooLong(GenerationError, UserFacingError):
    """The prompt does not fit the model's context even after trimming."""

    def __init__(self, *, prompt_tokens: int, limit: int) -> None:
        UserFacingError.__init__(
            self, "That is too much text for me to read at once. Try a shorter request."
        )
        self.prompt_tokens = prompt_tokens
        self.limit = limit


class BackendError(GenerationError):
    """The generation backend (local model or remote server) failed."""


class StorageError(StoryloomError):
    """The database failed; nothing partial was written."""


class InvalidRequest(GenerationError, UserFacingError, ValueError):
    """A generation request or its sampling parameters are invalid; the message says which field."""

    def __init__(self, user_message: str) -> None:
        UserFacingError.__init__(self, user_message)


class StaleState(StateError):
    """Someone else changed the state first (optimistic versioning); re-read and retry."""

    def __init__(
        self, user_message: str = "The story changed at the same moment. Please try again."
    ) -> None:
        super().__init__(user_message)


class PlatformUnavailable(StoryloomError):
    """The chat platform (Discord) could not be reached or refused the connection; the message
    says what happened, never the token."""
