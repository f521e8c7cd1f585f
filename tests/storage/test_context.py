from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.errors import PromptTooLong
from bot.records import PromptPartKind, TurnKind
from storage.context import render_turn
from storage.store import Store
from tests.storage.conftest import ALICE, BOB, GUILD_A_CH1, GUILD_A_CH2

SENTENCES = [
    "The knight sharpened his sword by the fire.",
    "A dragon slept under the mountain, dreaming of gold.",
    "The wizard's tower glowed blue in the night.",
    "Rain drummed on the roof of the old inn.",
    "Somewhere below, water dripped into a dark pool.",
]


async def _story_with_turns(store: Store, n: int, **fields: Any):  # type: ignore[no-untyped-def]
    story = await store.stories.create(GUILD_A_CH1, ALICE, **fields)

    def add(i: int):  # type: ignore[no-untyped-def]
        who = ALICE if i % 4 == 0 else BOB
        if i % 2:
            return store.turns.add(
                story.id,
                author_id="bot",
                author_name="Narrator",
                kind=TurnKind.BOT,
                text=f"{SENTENCES[i % len(SENTENCES)]} ({i})",
            )
        return store.turns.add(
            story.id,
            author_id=who.id,
            author_name=who.name,
            kind=TurnKind.PLAYER,
            text=f"{SENTENCES[i % len(SENTENCES)]} ({i})",
        )

    # Submitted together (group commit); positions follow the call order.
    added = await asyncio.gather(*(add(i) for i in range(n)))
    assert [t.position for t in added] == list(range(1, n + 1))
    return story


async def test_layout_memory_lore_turns_note_cue(
    store: Store, count_tokens: Callable[[str], int]
) -> None:
    story = await _story_with_turns(
        store, 8, memory="You are in a haunted castle.", author_note="Keep it spooky."
    )
    await store.lore.add(
        story.id, ["dragon"], "Dragons here breathe frost.", created_by_id=ALICE.id
    )
    await store.lore.add(story.id, ["unicorn"], "Unicorns are extinct.", created_by_id=ALICE.id)
    await store.turns.add(
        story.id, author_id="sys", author_name="system", kind=TurnKind.SYSTEM, text="Bob joined"
    )
    ctx = await store.assemble_context(story, 10_000, count_tokens, cue="Narrator:")
    kinds = [p.kind for p in ctx.parts]
    assert kinds[0] == PromptPartKind.MEMORY
    assert kinds[1] == PromptPartKind.LORE and ctx.parts[1].text == "Dragons here breathe frost."
    assert kinds[-1] == PromptPartKind.CUE and ctx.parts[-1].text == "Narrator:"
    # Author's note sits three turns from the end.
    assert kinds[-5] == PromptPartKind.AUTHOR_NOTE
    assert kinds[-4:-1] == [PromptPartKind.TURN] * 3
    assert ctx.parts[-5].text == "[Author's note: Keep it spooky.]"
    # Player turns tagged, bot turns untagged, system turns left out.
    turn_texts = [p.text for p in ctx.parts if p.kind == PromptPartKind.TURN]
    assert turn_texts[0] == f"Alice: {SENTENCES[0]} (0)"
    assert turn_texts[1] == f"{SENTENCES[1]} (1)"
    assert turn_texts[2] == f"Bob: {SENTENCES[2]} (2)"
    assert "Bob joined" not in ctx.text
    assert len(ctx.turn_ids) == 8 and not ctx.truncated
    assert ctx.text == "\n".join(p.text for p in ctx.parts)
    assert ctx.total_tokens == count_tokens(ctx.text) <= 10_000


async def test_lore_triggers_only_on_recent_turns(
    store: Store, count_tokens: Callable[[str], int]
) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    entry = await store.lore.add(
        story.id,
        ["Castle Grey", "grey keep"],
        "Castle Grey stands on a cliff.",
        created_by_id=ALICE.id,
    )
    add = store.turns.add
    await add(
        story.id,
        author_id=ALICE.id,
        author_name="Alice",
        kind=TurnKind.PLAYER,
        text="We ride to castle grey.",
    )
    for i in range(4):
        await add(
            story.id,
            author_id=BOB.id,
            author_name="Bob",
            kind=TurnKind.PLAYER,
            text=f"We ride on {i}.",
        )
    ctx = await store.assemble_context(story, 1000, count_tokens, lore_scan_turns=4)
    assert ctx.lore_ids == ()  # the keyword is five turns back
    ctx = await store.assemble_context(story, 1000, count_tokens, lore_scan_turns=5)
    assert ctx.lore_ids == (entry.id,)  # case-insensitive
    await add(
        story.id,
        author_id=BOB.id,
        author_name="Bob",
        kind=TurnKind.PLAYER,
        text="The greyhound barks.",
    )
    ctx = await store.assemble_context(story, 1000, count_tokens, lore_scan_turns=1)
    assert ctx.lore_ids == ()  # whole words only
    await store.lore.update(story.id, entry.id, keys=["greyhound"])
    ctx = await store.assemble_context(story, 1000, count_tokens, lore_scan_turns=1)
    assert ctx.lore_ids == (entry.id,)
    await store.lore.remove(story.id, entry.id)
    assert await store.lore.all(story.id) == []


@pytest.mark.parametrize("budget", [70, 97, 131, 180, 250])
async def test_budget_respected_exactly_with_real_tokenizer(
    store: Store, count_tokens: Callable[[str], int], budget: int
) -> None:
    story = await _story_with_turns(store, 30, memory="Memory line.", author_note="Be brief.")
    await store.lore.add(story.id, ["pool"], "The pool is bottomless.", created_by_id=ALICE.id)
    ctx = await store.assemble_context(story, budget, count_tokens, cue="Next:")
    assert ctx.total_tokens == count_tokens(ctx.text)
    assert ctx.total_tokens <= budget
    assert ctx.truncated
    # The window is contiguous and maximal: the next older turn would not have fit.
    all_turns = await store.turns.all(story.id)
    ids = [t.id for t in all_turns]
    included = list(ctx.turn_ids)
    assert included == ids[len(ids) - len(included) :]
    older = all_turns[len(ids) - len(included) - 1]
    line = render_turn(older)
    assert line is not None
    assert ctx.total_tokens + count_tokens(line) + count_tokens("\n") > budget
    assert ctx.parts[0].kind == PromptPartKind.MEMORY and ctx.parts[-1].kind == PromptPartKind.CUE


async def test_prompt_too_long_when_fixed_parts_do_not_fit(
    store: Store, count_tokens: Callable[[str], int]
) -> None:
    story = await _story_with_turns(store, 2, memory="word " * 200)
    with pytest.raises(PromptTooLong):
        await store.assemble_context(story, 50, count_tokens)


async def test_token_counts_are_cached_and_only_the_window_is_read(
    store: Store, count_tokens: Callable[[str], int]
) -> None:
    story = await _story_with_turns(store, 300)
    fetched: list[int] = []
    window = store.turns.window

    async def counting_window(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = await window(*args, **kwargs)
        fetched.append(len(result))
        return result

    store.turns.window = counting_window  # type: ignore[method-assign]
    ctx = await store.assemble_context(story, 60, count_tokens)
    assert 0 < len(ctx.turn_ids) < 20
    assert sum(fetched) <= 64  # a page or two, not 300 turns
    cached = await window(story.id, limit=len(ctx.turn_ids))
    assert [t.id for t in cached] == list(ctx.turn_ids)
    assert all(t.token_count == count_tokens(render_turn(t) or "") for t in cached)
    again = await store.assemble_context(story, 60, count_tokens)
    assert again.text == ctx.text


async def test_other_channels_never_leak_into_the_prompt(
    store: Store, count_tokens: Callable[[str], int]
) -> None:
    mine = await _story_with_turns(store, 4, memory="Mine.")
    theirs = await store.stories.create(GUILD_A_CH2, BOB, memory="Secret memory.")
    await store.turns.add(
        theirs.id, author_id=BOB.id, author_name="Bob", kind=TurnKind.PLAYER, text="secret turn"
    )
    await store.lore.add(theirs.id, ["knight"], "Secret lore.", created_by_id=BOB.id)
    ctx = await store.assemble_context(mine, 5000, count_tokens)
    assert "Secret" not in ctx.text and "secret" not in ctx.text
    assert len(ctx.turn_ids) == 4


async def test_author_note_depth_zero_and_short_stories(
    store: Store, count_tokens: Callable[[str], int]
) -> None:
    story = await _story_with_turns(store, 2, author_note="Note.")
    ctx = await store.assemble_context(story, 1000, count_tokens, author_note_depth=0)
    assert [p.kind for p in ctx.parts] == [
        PromptPartKind.TURN,
        PromptPartKind.TURN,
        PromptPartKind.AUTHOR_NOTE,
    ]
    ctx = await store.assemble_context(story, 1000, count_tokens, author_note_depth=5)
    assert ctx.parts[0].kind == PromptPartKind.AUTHOR_NOTE
