"""``/headline`` end to end through the console JSON-lines harness with the real bundled model."""

from __future__ import annotations

from bot.app import App
from bot.records import TurnKind
from plugins.headline import HeadlinePlugin
from plugins.headline.ranking import MAX_WORDS, MIN_WORDS, extractive_headline, title_case
from tests.plugins.poem.conftest import author, channel_ref, say

TEXT = (
    "Tom found a tiny robot in the park. The robot could not talk, but it could dance. "
    "Tom and the robot danced until the moon came up."
)


def headline_of(text: str) -> str:
    first = text.split("\n")[0]
    assert first.startswith("📰 **") and first.endswith("**"), text
    return first[len("📰 **") : -2]


async def test_headline_for_given_text(verse_app: App) -> None:
    records = await say(verse_app, f"/headline {TEXT}")
    assert [r["kind"] for r in records] == ["message"]
    head = headline_of(records[0]["text"])
    assert MIN_WORDS <= len(head.split()) <= MAX_WORDS or head == extractive_headline(TEXT)
    assert head == title_case(head)
    assert '"' not in head
    assert not TEXT.lower().startswith(head.lower())


async def test_headline_for_the_story_so_far(verse_app: App) -> None:
    story = await verse_app.store.stories.create(channel_ref(), author(), premise="A storm at sea.")
    await verse_app.store.turns.add(
        story.id,
        author_id="ada",
        author_name="ada",
        kind=TurnKind.PLAYER,
        text="Captain Mo steered the ship home.",
    )
    records = await say(verse_app, "/headline")
    assert records[0]["kind"] == "message"
    headline_of(records[0]["text"])


async def test_headline_for_recent_conversation(verse_app: App) -> None:
    for i, said in enumerate(
        [
            "Who ate my sandwich?",
            "The cat did, I saw it!",
            "That cat again. It also took my sandwich yesterday.",
        ]
    ):
        await verse_app.store.messages.append(
            channel_ref(), author_id=f"u{i}", author_name=f"user{i}", text=said, message_id=f"m{i}"
        )
    records = await say(verse_app, "/headline")
    assert records[0]["kind"] == "message"
    headline_of(records[0]["text"])


async def test_nothing_to_headline_gets_a_usage_hint(verse_app: App) -> None:
    records = await say(verse_app, "/headline", channel="empty")
    assert records[0]["kind"] == "notice"
    assert "nothing to headline yet" in records[0]["text"]
    assert "Usage: `/headline [text]`" in records[0]["text"]


async def test_fallback_when_the_model_gives_nothing_usable(verse_app: App) -> None:
    plugin = verse_app.registry.plugins["headline"]
    assert isinstance(plugin, HeadlinePlugin)
    calls: list[int] = []

    async def unusable(call, prompt, preset, count, max_new_tokens, stop):  # type: ignore[no-untyped-def]
        calls.append(count)
        return ["", "the", TEXT.split(".")[0]]  # empty, too short, a copy of the first sentence

    plugin._sample = unusable  # type: ignore[method-assign]
    records = await say(verse_app, f"/headline {TEXT}")
    assert (
        headline_of(records[0]["text"])
        == extractive_headline(TEXT)
        == "Tom, the Robot and the Park"
    )
    assert records[0]["text"].count("\n") == 0  # no sub-headline without a headline
    assert len(calls) >= 2 and sum(calls) >= 3  # clauses for each of the story's subjects


async def test_chat_model_path(chat_app: App) -> None:
    records = await say(chat_app, f"/headline {TEXT}")
    assert records[0]["kind"] == "message"
    head = headline_of(records[0]["text"])
    assert head == title_case(head)
