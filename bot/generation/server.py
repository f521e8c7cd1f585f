"""``storyloom serve-model``: the generation service as an OpenAI-compatible HTTP server.

Endpoints: ``/v1/completions`` and ``/v1/chat/completions`` (streaming with SSE), ``/v1/models``,
``/health`` and ``/metrics`` (Prometheus, when metrics are enabled). Several bot processes can
share one model this way, using the ``openai`` backend pointed at this server.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from bot.errors import (
    GenerationCancelled,
    GenerationError,
    GenerationTimeout,
    InvalidRequest,
    Overloaded,
    PromptTooLong,
)
from bot.generation.service import GenerationService, build_generation_service
from bot.generation.settings import GenerationSettings
from bot.generation.types import (
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    StreamChunk,
)


class _Sampling(BaseModel):
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    stop: str | list[str] | None = None
    seed: int | None = None
    ignore_eos: bool = False
    bad_words: list[str] | None = None  # vLLM's name: words never to sample
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = 1
    user: str | None = None

    def params(self, default_max: int) -> SamplingParams:
        if self.n != 1:
            raise InvalidRequest("only n=1 is supported")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            max_new_tokens=self.max_completion_tokens or self.max_tokens or default_max,
            stop=stop,
            seed=self.seed,
            ignore_eos=self.ignore_eos,
            banned_words=tuple(self.bad_words or ()),
        )


class CompletionBody(_Sampling):
    prompt: str | list[str]


class _Message(BaseModel):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict[str, Any]]

    def to_message(self) -> ChatMessage:
        content = self.content
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        role = "system" if self.role == "developer" else self.role
        return ChatMessage(role, content)


class ChatBody(_Sampling):
    messages: list[_Message]


def create_app(service: GenerationService, *, manage_service: bool = False) -> FastAPI:
    """An OpenAI-compatible app around ``service`` (started and closed by the app if asked)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_service:
            await service.start()
        try:
            yield
        finally:
            if manage_service:
                await service.close()

    app = FastAPI(title="storyloom generation", lifespan=lifespan)

    @app.exception_handler(GenerationError)
    async def _generation_error(_: Request, exc: GenerationError) -> JSONResponse:
        return _error_response(exc)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        stats = service.stats()
        return {
            "status": "ok",
            "model": service.model_name,
            "queue_depth": stats.queue_depth,
            "active": stats.active,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": service.model_name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "storyloom",
                    "max_model_len": service.max_context_tokens,
                }
            ],
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        if not service.metrics.prometheus_enabled:
            return JSONResponse({"error": {"message": "metrics are disabled"}}, status_code=404)
        body, content_type = service.metrics.exposition()
        return Response(body, media_type=content_type)

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionBody) -> Response | dict[str, Any]:
        prompt = body.prompt if isinstance(body.prompt, str) else "".join(body.prompt[:1])
        request = _request(body, prompt)
        if body.stream:
            return await _sse(
                service,
                request,
                chat=False,
                model=service.model_name,
                stream_options=body.stream_options,
            )
        result = await service.complete(request)
        return _completion_json(result, service.model_name)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatBody) -> Response | dict[str, Any]:
        messages = tuple(m.to_message() for m in body.messages)
        if not messages:
            raise InvalidRequest("messages must not be empty")
        request = _request(body, messages)
        if body.stream:
            return await _sse(
                service,
                request,
                chat=True,
                model=service.model_name,
                stream_options=body.stream_options,
            )
        result = await service.complete(request)
        return _chat_json(result, service.model_name)

    return app


def _request(body: _Sampling, prompt: str | tuple[ChatMessage, ...]) -> GenerationRequest:
    return GenerationRequest(prompt, body.params(default_max=16), channel_key=body.user or "")


def _finish(reason: str | None) -> str | None:
    return None if reason is None else ("length" if reason == "length" else "stop")


def _usage(result: GenerationResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _completion_json(result: GenerationResult, model: str) -> dict[str, Any]:
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "text": result.text,
                "logprobs": None,
                "finish_reason": _finish(result.finish_reason),
            }
        ],
        "usage": _usage(result),
    }


def _chat_json(result: GenerationResult, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": _finish(result.finish_reason),
            }
        ],
        "usage": _usage(result),
    }


async def _sse(
    service: GenerationService,
    request: GenerationRequest,
    *,
    chat: bool,
    model: str,
    stream_options: dict[str, Any] | None,
) -> Response:
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())

    def frame(chunk: StreamChunk | None, error: GenerationError | None = None) -> str:
        if error is not None:
            return f"data: {json.dumps(_error_body(error))}\n\n"
        assert chunk is not None
        finish = _finish(chunk.finish_reason)
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "delta": {"content": chunk.delta},
                "finish_reason": finish,
            }
        else:
            choice = {"index": 0, "text": chunk.delta, "logprobs": None, "finish_reason": finish}
        payload = {
            "id": ident,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        return f"data: {json.dumps(payload)}\n\n"

    include_usage = bool((stream_options or {}).get("include_usage"))

    def _usage_frame(chunk: StreamChunk) -> dict[str, Any]:
        prompt, completion = chunk.prompt_tokens or 0, chunk.completion_tokens or 0
        return {
            "id": ident,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    async def events(first: StreamChunk) -> AsyncIterator[str]:
        try:
            if chat:
                yield frame(StreamChunk(delta="", text=""))
            chunk = first
            while True:
                yield frame(chunk)
                if chunk.done:
                    if include_usage:
                        yield f"data: {json.dumps(_usage_frame(chunk))}\n\n"
                    break
                chunk = await anext(stream)
        except GenerationError as exc:
            yield frame(None, exc)
        finally:
            await stream.aclose()
        yield "data: [DONE]\n\n"

    stream = service.stream(request)
    try:  # errors before the first text get a proper HTTP status
        first = await anext(stream)
    except BaseException:
        await stream.aclose()
        raise
    return StreamingResponse(events(first), media_type="text/event-stream")


def _status(exc: GenerationError) -> int:
    if isinstance(exc, InvalidRequest | PromptTooLong):
        return 400
    if isinstance(exc, Overloaded):
        return 429
    if isinstance(exc, GenerationTimeout):
        return 504
    if isinstance(exc, GenerationCancelled):
        return 503
    return 500


def _error_body(exc: GenerationError) -> dict[str, Any]:
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, InvalidRequest):
        message = str(exc)
    error: dict[str, Any] = {"message": message, "type": type(exc).__name__, "code": _status(exc)}
    if isinstance(exc, Overloaded):
        error["position"] = exc.position
    return {"error": error}


def _error_response(exc: GenerationError) -> JSONResponse:
    headers = None
    if isinstance(exc, Overloaded):
        headers = {"Retry-After": str(max(1, math.ceil(exc.estimated_wait_s or 1)))}
    return JSONResponse(_error_body(exc), status_code=_status(exc), headers=headers)


async def serve(settings: GenerationSettings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the model and serve it over HTTP until interrupted (for ``storyloom serve-model``)."""
    import uvicorn

    service = build_generation_service(settings)
    await service.start()
    try:
        config = uvicorn.Config(
            create_app(service), host=host, port=port, log_level="info", lifespan="off"
        )
        await uvicorn.Server(config).serve()
    finally:
        await service.close()
