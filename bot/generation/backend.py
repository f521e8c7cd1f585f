"""What the service needs from a backend (local model or remote server)."""

from __future__ import annotations

from typing import Protocol

from bot.generation.jobs import PreparedPrompt
from bot.generation.metrics import ServiceMetrics
from bot.generation.scheduler import FairQueue
from bot.generation.types import GenerationRequest


class Backend(Protocol):
    """Takes jobs from the service's queue, generates, and posts events back to each job."""

    async def start(self, queue: FairQueue, metrics: ServiceMetrics) -> None: ...

    async def close(self) -> None: ...

    def prepare(self, request: GenerationRequest) -> PreparedPrompt:
        """Render and measure a prompt (thread-safe); raises PromptTooLong."""
        ...

    def count_tokens(self, text: str) -> int: ...

    @property
    def active(self) -> int: ...

    @property
    def is_chat_model(self) -> bool: ...

    @property
    def max_context_tokens(self) -> int: ...

    @property
    def model_name(self) -> str: ...
