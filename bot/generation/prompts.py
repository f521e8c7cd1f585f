"""Prompt formats: chat templates for chat models, plain continuation text for base models."""

from __future__ import annotations

from typing import Any

from bot.generation.types import ChatMessage

_LABELS = {"user": "User", "assistant": "Assistant"}


def has_chat_template(tokenizer: Any) -> bool:
    """True when the tokenizer carries a chat template (an instruct/chat model)."""
    return bool(getattr(tokenizer, "chat_template", None))


def flatten_messages(messages: tuple[ChatMessage, ...]) -> str:
    """Render chat messages as plain text for a base model.

    System messages become leading paragraphs; turns become ``User:``/``Assistant:`` lines; the
    text ends with ``Assistant:`` (or continues a final assistant message) so the model answers.
    """
    parts: list[str] = []
    turns: list[str] = []
    for message in messages:
        if message.role == "system":
            parts.append(message.content.strip())
        else:
            turns.append(f"{_LABELS[message.role]}: {message.content.strip()}")
    if messages[-1].role == "assistant":
        text = "\n".join(turns)
    else:
        text = "\n".join([*turns, "Assistant:"])
    return "\n\n".join(p for p in [*parts, text] if p)


def render_chat(tokenizer: Any, messages: tuple[ChatMessage, ...]) -> str:
    """Render messages with the tokenizer's chat template (continuing a final assistant turn)."""
    continue_final = messages[-1].role == "assistant"
    rendered = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages],
        tokenize=False,
        add_generation_prompt=not continue_final,
        continue_final_message=continue_final,
    )
    return str(rendered)
