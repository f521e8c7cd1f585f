"""Settings of the generation service (composed into the application's Settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class GenerationSettings(BaseModel):
    """Which backend generates text, and how the service schedules requests.

    ``backend="transformers"`` runs ``model`` (a local path or hub id; ``None`` means the bundled
    model) in this process; ``backend="openai"`` sends requests to an OpenAI-compatible server at
    ``base_url`` (vLLM, TGI, ``transformers serve``, llama.cpp, Ollama, ``storyloom serve-model``).
    """

    backend: Literal["transformers", "openai"] = "transformers"
    model: str | None = None
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batching: Literal["auto", "static", "continuous"] = Field(
        default="auto",
        description="'static': our decode loop (rows join at step boundaries); 'continuous': "
        "transformers' ContinuousBatchingManager; 'auto': continuous on CUDA, static elsewhere.",
    )
    max_batch_size: int = Field(default=16, ge=1, le=1024)
    queue_size: int = Field(
        default=64, ge=1, le=100_000, description="Requests waiting beyond the batch."
    )
    per_channel_limit: int = Field(
        default=8,
        ge=1,
        description="Requests of one channel running at once (the story plugin's default "
        "best_of is 8 candidates, decoded in one batch).",
    )
    default_timeout_s: float | None = Field(default=120.0, gt=0)
    max_context_tokens: int | None = Field(
        default=None, ge=16, description="Override the model's limit."
    )
    torch_threads: int | None = Field(
        default=1,
        ge=1,
        description="torch threads of the worker (CPU); None: torch's default (all cores). One "
        "thread is the safe choice on a shared or small machine: batching is the parallelism.",
    )
    fast_decoder: bool = Field(
        default=True,
        description="Run Llama models with storyloom's lean decoder (bot.generation.fast_llama: "
        "the same logits with far less per-token overhead); other models, or False, use the "
        "model's own forward.",
    )
    stream_interval_s: float = Field(
        default=0.02,
        ge=0.0,
        description="Streamed text goes out at most this often per request (the first chunk at "
        "once); tokens in between are joined into one chunk. 0 streams every token.",
    )
    suppress_banned_words: bool = Field(
        default=True,
        description="Keep a request's banned_words out of sampling (the local sampler masks "
        "their tokens; remote servers get logit_bias / bad_words). False leaves them to the "
        "moderation post-filter alone (the benchmark's 'before').",
    )
    # continuous batching sizes (CUDA); explicit because the defaults size the cache from memory
    cb_num_blocks: int = Field(default=512, ge=1)
    cb_page_size: int = Field(default=64, ge=4)
    cb_max_batch_tokens: int = Field(default=2048, ge=16)
    # remote backend
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: SecretStr | None = None
    remote_model: str | None = Field(default=None, description="Model name sent to the server.")
    remote_chat: bool = Field(
        default=False,
        description="The remote model is a chat model: chat prompts go to /v1/chat/completions "
        "(else they are flattened to text for /v1/completions).",
    )
    remote_context_tokens: int = Field(default=4096, ge=16)
    remote_extensions: bool = Field(
        default=True,
        description="Send top_k, repetition_penalty, ignore_eos... (vLLM style); dropped "
        "automatically when a strict server refuses them.",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    metrics: bool = False
