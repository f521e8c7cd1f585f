"""Prompt templates for base and chat models."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.records import PromptContext, PromptPart, PromptPartKind, Story, StoryStatus
from plugins.story.prompts import (
    base_continuation,
    base_recap,
    chat_continuation,
    chat_recap,
    prompt_budget,
    without_turn,
)


def story(**changes: object) -> Story:
    values: dict[str, object] = dict(
        id=1,
        guild_id="g",
        channel_id="c",
        channel_key="g:c",
        title="Spark",
        premise="A shy dragon",
        memory="",
        author_note="",
        mode="free",
        status=StoryStatus.ACTIVE,
        state={},
        state_version=0,
        created_by_id="u-a",
        created_by_name="Alice",
        created_at=datetime.now(UTC),
    )
    values.update(changes)
    return Story(**values)  # type: ignore[arg-type]


def context() -> PromptContext:
    parts = (
        PromptPart(PromptPartKind.MEMORY, "Spark loves cocoa.", 5),
        PromptPart(PromptPartKind.TURN, "Alice: Spark woke up.", 6, 10),
        PromptPart(PromptPartKind.TURN, "Spark yawned.", 4, 11),
        PromptPart(PromptPartKind.CUE, "Narrator:", 3),
    )
    return PromptContext(parts, "\n".join(p.text for p in parts), 18, 100, (10, 11))


def test_base_prompt_is_premise_then_context() -> None:
    ctx = context()
    assert base_continuation("A shy dragon", ctx.text) == "A shy dragon\n" + ctx.text
    assert base_continuation("", ctx.text) == ctx.text
    assert base_recap("A shy dragon", "x").endswith("In short, this is the story so far:")


def test_retry_leaves_out_the_turn_it_rewrites() -> None:
    text = without_turn(context(), 11)
    assert text == "Spark loves cocoa.\nAlice: Spark woke up.\nNarrator:"
    assert without_turn(context(), 999) == context().text


def test_chat_prompt_has_rules_premise_and_player_names() -> None:
    system, user = chat_continuation(
        story(), "Alice: Spark woke up.", player_names=["Alice", "Bob"], allow_player_voice=False
    )
    assert system.role == "system" and user.role == "user"
    assert '"Spark"' in system.content and "Premise: A shy dragon" in system.content
    assert "Never write words or actions for the players (Alice, Bob)" in system.content
    assert "Alice: Spark woke up." in user.content and user.content.endswith(
        "Write what happens next."
    )
    free, _ = chat_continuation(story(title=""), "x", player_names=[], allow_player_voice=True)
    assert "Never" not in free.content and "called" not in free.content
    recap_system, recap_user = chat_recap("A shy dragon", "Spark yawned.")
    assert "summarise" in recap_system.content and recap_user.content.endswith("Summary:")


def test_prompt_budget_leaves_room_for_the_answer_and_chat_markers() -> None:
    def count(text: str) -> int:
        return len(text.split())

    base = prompt_budget(
        max_context_tokens=512,
        max_new_tokens=100,
        fixed_text="a b c",
        count_tokens=count,
        chat=False,
    )
    chat = prompt_budget(
        max_context_tokens=512,
        max_new_tokens=100,
        fixed_text="a b c",
        count_tokens=count,
        chat=True,
    )
    assert base == 512 - 100 - 3 - 2 and chat < base
