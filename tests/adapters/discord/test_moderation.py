"""Moderation blocks on Discord: a private notice, nothing posted, nothing run."""

from __future__ import annotations

from discord.ext import test as dpytest

from tests.adapters.discord.conftest import RigFactory
from tests.adapters.discord.demo_plugin import DemoPlugin

BLOCKED = "you are a f u c k i n g idiot"


async def test_blocked_slash_input_gets_an_ephemeral_notice_only(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("demo echo", text=BLOCKED)
    callback, delete, notice = rig.webhook.requests
    assert callback.body == {"type": 5}
    assert delete.kind == "delete" and delete.url.endswith("/messages/@original")
    assert notice.kind == "followup" and notice.ephemeral
    assert "not accepted" in (notice.content or "")
    assert "idiot" not in (notice.content or "")  # never quotes the text
    assert rig.webhook.public_texts() == []


async def test_blocked_chat_message_gets_a_reply_that_quotes_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    message = await dpytest.message(f"!demo echo {BLOCKED}")
    reply = dpytest.get_message()
    assert dpytest.sent_queue.empty()
    assert "not accepted" in reply.content and "idiot" not in reply.content
    [call] = rig.outbox.with_content()
    assert call["message_reference"]["message_id"] == message.id
    assert call["allowed_mentions"].to_dict() == {"parse": []}
