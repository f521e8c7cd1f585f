"""Buttons: views with persistent custom ids, presses routed as actions, also after a restart."""

from __future__ import annotations

from typing import Any

from bot.adapters.discord import build_discord_bot
from tests.adapters.discord.conftest import RigFactory, configure
from tests.adapters.discord.demo_plugin import DemoPlugin
from tests.adapters.discord.harness import buttons_in


async def test_buttons_are_persistent_and_route_presses(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("demo buttons")
    posted = rig.webhook.messages["@original"]
    assert posted["content"] == "Choose a path."
    buttons = list(buttons_in(posted["components"]))
    assert [(b["label"], b["custom_id"]) for b in buttons] == [
        ("Left", "demo:choose:left"),
        ("Right", "demo:choose:right"),
    ]

    rig.webhook.requests.clear()
    await rig.driver.press("demo:choose:left", message=posted, member=1)
    callback, followup = rig.webhook.requests
    assert callback.body == {"type": 6}  # acknowledged silently at once
    assert followup.kind == "followup" and not followup.ephemeral
    assert followup.content == f"{rig.driver.members[1].display_name} went left."


async def test_presses_still_work_after_the_bot_is_rebuilt(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("demo buttons")
    posted: dict[str, Any] = rig.webhook.messages["@original"]

    restarted = build_discord_bot(rig.app, rig.app.settings)  # a new process: no views in memory
    await configure(restarted)
    rig.driver.bot = restarted
    rig.webhook.requests.clear()
    await rig.driver.press("demo:choose:right", message=posted)
    assert rig.webhook.requests[-1].content == f"{rig.driver.members[0].display_name} went right."


async def test_a_button_of_a_removed_action_says_so_privately(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.press("demo:vanished:1")
    callback, notice = rig.webhook.requests
    assert callback.body == {"type": 6}
    assert notice.ephemeral and "no longer works" in (notice.content or "")
    assert rig.webhook.public_texts() == []
