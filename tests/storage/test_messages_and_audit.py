from __future__ import annotations

import hashlib
from datetime import timedelta

from bot.records import ModerationDirection
from storage.store import Store
from tests.storage.conftest import GUILD_A_CH1, GUILD_A_CH2


async def test_recent_messages_are_bounded_per_channel(store: Store) -> None:
    store.messages.cap = 5
    for i in range(12):
        await store.messages.append(GUILD_A_CH1, author_id="1", author_name="A", text=f"m{i}")
    await store.messages.append(GUILD_A_CH2, author_id="2", author_name="B", text="other")
    recent = await store.messages.recent(GUILD_A_CH1)
    assert [m.text for m in recent] == ["m7", "m8", "m9", "m10", "m11"]
    assert [m.text for m in await store.messages.recent(GUILD_A_CH1, limit=2)] == ["m10", "m11"]
    assert [m.text for m in await store.messages.recent(GUILD_A_CH2)] == ["other"]


async def test_moderation_events_store_hash_not_text(store: Store) -> None:
    text = "some nasty words"
    event = await store.moderation.record(
        guild_id="1",
        channel_id="11",
        user_id="100",
        direction=ModerationDirection.INPUT,
        rule="keyword:nasty",
        category="profanity",
        action="block",
        text=text,
        score=0.93,
    )
    assert event.excerpt is None
    assert event.excerpt_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert event.excerpt_len == len(text)
    await store.moderation.record(
        guild_id="1",
        channel_id="12",
        user_id=None,
        direction=ModerationDirection.OUTPUT,
        rule="classifier",
        category="toxicity",
        action="regenerate",
        text="x",
    )
    await store.moderation.record(
        guild_id="2",
        channel_id="21",
        user_id="200",
        direction=ModerationDirection.INPUT,
        rule="pii:email",
        category="personal_data",
        action="block",
        text="a@b.c",
    )
    assert [e.rule for e in await store.moderation.find(guild_id="1")] == [
        "classifier",
        "keyword:nasty",
    ]
    assert [e.id for e in await store.moderation.find(user_id="100")] == [event.id]
    assert len(await store.moderation.find(action="block")) == 2
    assert len(await store.moderation.find(direction=ModerationDirection.OUTPUT)) == 1
    assert len(await store.moderation.find(since=event.created_at - timedelta(seconds=5))) == 3
    assert len(await store.moderation.find(since=event.created_at + timedelta(hours=1))) == 0
    assert len(await store.moderation.find(limit=1)) == 1


async def test_recent_messages_stay_bounded_when_pruned_in_batches(store: Store) -> None:
    import asyncio

    from sqlalchemy import func, select

    from storage.models import channel_messages

    store.messages.cap = 20  # pruned once per 2 appends to a channel
    for start in range(0, 60, 6):  # concurrent appends share a transaction
        await asyncio.gather(
            *(
                store.messages.append(GUILD_A_CH1, author_id="1", author_name="A", text=f"m{i}")
                for i in range(start, start + 6)
            )
        )
    recent = await store.messages.recent(GUILD_A_CH1)
    assert [m.text for m in recent] == [f"m{i}" for i in range(40, 60)]
    assert [m.id for m in recent] == sorted(m.id for m in recent)
    async with store.db.read() as conn:
        rows = (
            await conn.execute(
                select(func.count())
                .select_from(channel_messages)
                .where(channel_messages.c.channel_key == GUILD_A_CH1.key)
            )
        ).scalar_one()
    assert 20 <= rows <= 20 + 2
