"""``/poem`` end to end through the console JSON-lines harness with the real bundled model."""

from __future__ import annotations

import re

from bot.app import App
from bot.records import TurnKind
from plugins.poem.forms import PoemForm, check_poem
from tests.plugins.poem.conftest import author, channel_ref, say

_NOTE = re.compile(r"\n_\(I could only approximate the .+ form: .+\.\)_$")


def poem_lines(text: str) -> list[str]:
    body = _NOTE.sub("", text).split("\n")[1:]
    return [line.replace("**", "") for line in body]


async def test_haiku_is_written_and_checked(verse_app: App) -> None:
    records = await say(verse_app, "/poem haiku the quiet sea")
    assert [r["kind"] for r in records] == ["message"]
    text = records[0]["text"]
    assert text.startswith("*A haiku about the quiet sea*\n")
    lines = poem_lines(text)
    assert len(lines) == 3
    # Valid (the usual case: candidates are cut at 5/7/5 syllables), or the reply says so.
    assert check_poem(PoemForm.HAIKU, lines).valid == (not _NOTE.search(text)), lines


async def test_limerick_reply_matches_its_check(verse_app: App) -> None:
    records = await say(verse_app, "/poem limerick a cat who loves cheese")
    text = records[0]["text"]
    lines = poem_lines(text)
    assert len(lines) == 5
    # The reply says "approximate" exactly when the form check fails.
    assert check_poem(PoemForm.LIMERICK, lines).valid == (not _NOTE.search(text))


async def test_acrostic_spells_the_word(verse_app: App) -> None:
    records = await say(verse_app, "/poem acrostic spell=cat a sunny day")
    text = records[0]["text"]
    assert text.startswith("*An acrostic for CAT, about a sunny day*")
    assert [line[:1] for line in poem_lines(text)] == ["C", "A", "T"]
    # Without spell=, a one-word topic is the word.
    records = await say(verse_app, "/poem acrostic moon")
    assert [line[:1] for line in poem_lines(records[0]["text"])] == ["M", "O", "O", "N"]


async def test_topic_comes_from_the_channel_story(verse_app: App) -> None:
    store = verse_app.store
    story = await store.stories.create(channel_ref(), author(), premise="A dragon who bakes bread.")
    for text in (
        "Pip the dragon lit the oven.",
        "The dragon baked bread for the village.",
        "Pip gave bread to every child.",
    ):
        await store.turns.add(
            story.id, author_id="ada", author_name="ada", kind=TurnKind.PLAYER, text=text
        )
    records = await say(verse_app, "/poem couplet")
    heading = records[0]["text"].split("\n")[0]
    assert heading == "*A couplet about Pip and the dragon*"
    assert len(poem_lines(records[0]["text"])) == 2


async def test_wrong_arguments_get_a_usage_hint(verse_app: App) -> None:
    records = await say(
        verse_app, "/poem sonnet about love", "/poem haiku", "/poem acrostic spell=x the letter x"
    )
    kinds = [r["kind"] for r in records]
    assert kinds == ["notice", "notice", "notice"], records
    assert "`form` must be one of" in records[0]["text"] and "Usage: `/poem" in records[0]["text"]
    assert "What should the poem be about?" in records[1]["text"]
    assert "needs a word of 2-12 letters" in records[2]["text"]


async def test_help_shows_examples(verse_app: App) -> None:
    records = await say(verse_app, "/help poem")
    text = records[0]["text"]
    assert "/poem haiku the first snow" in text and "Usage: `/poem <haiku|limerick" in text


async def test_guild_preset_override(verse_app: App) -> None:
    records = await say(
        verse_app,
        "/poem-preset temperature 0.5",
        "/poem-preset",
        "/poem-preset temperature hot",
        "/poem-preset top_k reset",
        permissions=["manage_guild"],
    )
    texts = [r["text"] for r in records]
    assert texts[0] == "`temperature` is now 0.5 in this server."
    assert "temperature 0.5" in texts[1]
    assert records[2]["kind"] == "notice" and "not a valid value" in texts[2]
    assert texts[3] == "`top_k` is back to its default (40)."
    denied = await say(verse_app, "/poem-preset temperature 1.0", user="bob")
    assert denied[0]["kind"] == "notice"


async def test_chat_model_path(chat_app: App) -> None:
    records = await say(chat_app, "/poem haiku a red kite")
    text = records[0]["text"]
    assert text.startswith("*A haiku about a red kite*\n")
    assert check_poem(PoemForm.HAIKU, poem_lines(text)).valid == (not _NOTE.search(text))


async def test_invalid_stored_overrides_are_ignored(verse_app: App) -> None:
    from plugins.kit import presets
    from plugins.poem.settings import PoemSettings

    store = verse_app.store.settings
    guild = channel_ref().guild_id
    base = PoemSettings().sampling
    await store.set("poem", "top_p", 0.5, guild_id=guild)
    assert (await presets.effective_preset(store, "poem", base, guild, None)).top_p == 0.5
    await store.set("poem", "temperature", 99, guild_id=guild)  # out of range: whole set ignored
    assert await presets.effective_preset(store, "poem", base, guild, None) == base
    # A channel override wins over the guild's.
    await store.clear("poem", "temperature", guild_id=guild)
    await store.set("poem", "top_p", 0.7, guild_id=guild, channel_id="verse")
    assert (await presets.effective_preset(store, "poem", base, guild, "verse")).top_p == 0.7
