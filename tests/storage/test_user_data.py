from __future__ import annotations

from bot.records import ModerationDirection, TurnKind
from storage.store import Store
from tests.storage.conftest import ALICE, BOB, GUILD_A_CH1, GUILD_A_CH2


async def test_delete_user_data_anonymises_everything_the_user_wrote(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE, memory="m")
    await store.stories.update(story.id, by_user_id=ALICE.id, memory="alice's memory")
    other = await store.stories.create(GUILD_A_CH2, BOB)
    add = store.turns.add
    a1 = await add(
        story.id,
        author_id=ALICE.id,
        author_name="Alice",
        kind=TurnKind.PLAYER,
        text="Alice's secret plan",
    )
    b1 = await add(
        story.id, author_id=BOB.id, author_name="Bob", kind=TurnKind.PLAYER, text="Bob's line"
    )
    bot = await add(
        story.id, author_id="bot", author_name="Narrator", kind=TurnKind.BOT, text="Narration"
    )
    await add(
        other.id,
        author_id=ALICE.id,
        author_name="Alice",
        kind=TurnKind.PLAYER,
        text="Alice elsewhere",
    )
    alt = await store.alternatives.add(story.id, bot.id, "Narration 2")
    await store.alternatives.vote(story.id, bot.id, alt.id, ALICE.id)
    await store.alternatives.vote(story.id, bot.id, alt.id, BOB.id)
    await store.lore.add(story.id, ["plan"], "Alice's lore", created_by_id=ALICE.id)
    await store.lore.add(story.id, ["bob"], "Bob's lore", created_by_id=BOB.id)
    await store.messages.append(GUILD_A_CH1, author_id=ALICE.id, author_name="Alice", text="hi")
    await store.messages.append(GUILD_A_CH1, author_id=BOB.id, author_name="Bob", text="yo")
    await store.moderation.record(
        guild_id="1",
        channel_id="11",
        user_id=ALICE.id,
        direction=ModerationDirection.INPUT,
        rule="r",
        category="c",
        action="flag",
        text="x",
    )

    report = await store.delete_user_data(ALICE.id)

    assert report.turns_anonymised == 2
    assert report.messages_deleted == 1
    assert report.votes_removed == 1
    assert report.lore_entries_deleted == 1
    assert report.stories_anonymised == 1
    assert report.story_edits_anonymised == 1
    assert report.moderation_events_anonymised == 1
    assert report.total == 8
    turns = {t.id: t for t in await store.turns.all(story.id)}
    assert turns[a1.id].text == "[deleted]" and turns[a1.id].author_name == "[deleted user]"
    assert turns[a1.id].author_id != ALICE.id
    assert turns[a1.id].position == a1.position
    assert turns[b1.id].text == "Bob's line"
    md = await store.export_story(await store.stories.get(story.id, GUILD_A_CH1), "md")
    assert "Alice" not in md and "secret" not in md
    assert [v.votes for v in await store.alternatives.tally(story.id, bot.id)] == [1, 0]
    assert [e.text for e in await store.lore.all(story.id)] == ["Bob's lore"]
    assert [m.author_id for m in await store.messages.recent(GUILD_A_CH1)] == [BOB.id]
    assert await store.moderation.find(user_id=ALICE.id) == []
    assert (await store.stories.get(story.id, GUILD_A_CH1)).created_by_name == "[deleted user]"
    assert all(e.user_id != ALICE.id for e in await store.stories.history(story.id))
    # Nothing is left to delete the second time.
    assert (await store.delete_user_data(ALICE.id)).total == 0
