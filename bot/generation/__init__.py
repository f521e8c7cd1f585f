"""The shared generation service: one model (or remote server) for every plugin and channel."""

from bot.generation.service import GenerationService, build_generation_service
from bot.generation.settings import GenerationSettings
from bot.generation.types import (
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    ServiceStats,
    StreamChunk,
)

__all__ = [
    "ChatMessage",
    "GenerationRequest",
    "GenerationResult",
    "GenerationService",
    "GenerationSettings",
    "SamplingParams",
    "ServiceStats",
    "StreamChunk",
    "build_generation_service",
]
