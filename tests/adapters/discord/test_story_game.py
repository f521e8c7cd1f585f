"""A whole story game played through slash commands and buttons, with the real tiny model."""

from __future__ import annotations

import itertools

import discord
import pytest
from discord.ext.test import callbacks

from plugins.story.plugin import StoryPlugin
from tests.adapters.discord.conftest import RigFactory
from tests.adapters.discord.harness import buttons_in

pytestmark = pytest.mark.slow


async def test_story_game_via_slash_commands(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[StoryPlugin], router={"stream_edit_interval_s": 0.1})
    driver, webhook = rig.driver, rig.webhook

    await driver.slash(
        "story start", premise="A shy dragon who is afraid of the dark", title="Spark"
    )
    assert "begins" in webhook.public_texts()[-1]

    await driver.slash(
        "story add", text="One night, Spark found a tiny lantern in the grass.", member=1
    )
    typing_in: list[int] = []

    async def typing(channel: discord.abc.Messageable) -> None:
        typing_in.append(channel.id)  # type: ignore[attr-defined]

    callbacks.set_callback(typing, "send_typing")
    webhook.requests.clear()
    try:
        await driver.slash("story continue")
    finally:
        callbacks.remove_callback("send_typing")
    assert typing_in and set(typing_in) == {driver.channel.id}  # "Bot is typing…" while writing
    original = webhook.messages["@original"]
    ids = [b["custom_id"] for b in buttons_in(original["components"])]
    assert "story:continue:" in ids
    retry = next(i for i in ids if i.startswith("story:retry:"))
    continuation = original["content"]
    assert continuation.strip()
    edits = [r for r in webhook.requests if r.kind == "edit"]  # the streamed continuation
    assert all(r.url.endswith("/messages/@original") for r in edits)
    gaps = [b.at - a.at for a, b in itertools.pairwise(edits)]
    assert len(edits) >= 2 and min(gaps) >= 0.1 * 0.95

    await driver.press(retry, message=original)
    assert webhook.requests[-1].content

    webhook.requests.clear()
    await driver.slash("story show")
    shown = "\n".join(webhook.public_texts())
    assert "Spark" in shown and "lantern" in shown

    await driver.slash("story end")
    assert "The End" in webhook.public_texts()[-1]

    webhook.requests.clear()
    await driver.slash("story export", format="md")
    [upload] = [r for r in webhook.requests if r.files]
    assert upload.files[0].endswith(".md")


async def test_vote_buttons_count_each_player_once(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[StoryPlugin])
    driver, webhook = rig.driver, rig.webhook
    await driver.slash("story start", premise="Two friends find a map", mode="vote")
    await driver.slash("story join", member=1)
    await driver.slash("story continue")
    posted = [
        m
        for m in webhook.messages.values()
        if any(b["custom_id"].startswith("story:vote:") for b in buttons_in(m["components"]))
    ]
    assert posted, "no vote message with buttons"
    message = posted[-1]
    votes = [b["custom_id"] for b in buttons_in(message["components"])]
    assert len(votes) >= 2

    webhook.requests.clear()
    await driver.press(votes[0], message=message, member=0)
    first = webhook.requests[-1]
    assert first.ephemeral and "is in for option 1" in (first.content or "")
    assert "1 of 2" in (first.content or "")

    webhook.requests.clear()
    await driver.press(votes[1], message=message, member=0)  # a change, not a second vote
    again = webhook.requests[-1]
    assert again.ephemeral and "changed to option 2" in (again.content or "")
    assert "1 of 2" in (again.content or "")

    webhook.requests.clear()
    await driver.press(votes[1], message=message, member=1)  # everyone voted: the vote closes
    assert webhook.public_texts(), "closing the vote posts the result"
