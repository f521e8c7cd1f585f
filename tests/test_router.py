"""Routing, argument errors, permissions, enable/disable, rate limits and the error boundary,
driven through the console adapter's JSON-lines mode against a real App."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, ClassVar

import pytest

from bot.adapters.console import run_jsonl
from bot.errors import StateError
from bot.plugin import Call, Param, Plugin, action, command, trigger
from bot.types import Incoming, Reply
from tests.conftest import AppFactory


class Echo(Plugin):
    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "Echoes."
    heard: ClassVar[list[str]] = []

    @command("echo", description="Say it back.")
    async def echo(self, call: Call, text: Annotated[str, Param("Text", rest=True)]) -> str:
        return text

    @command("boom", description="Fails.")
    async def boom(self, call: Call) -> str:
        raise RuntimeError("kaboom: internal detail that users must not see")

    @command("refuse", description="Refuses politely.")
    async def refuse(self, call: Call) -> str:
        raise StateError("There is no story here yet.")

    @command("buttons", description="Offers a button.")
    async def buttons(self, call: Call) -> Reply:
        return Reply(text="press it", buttons=(self.button("pressed", "Press", arg="42"),))

    @action("pressed")
    async def pressed(self, call: Call, arg: str) -> str:
        return f"{call.author.name} pressed {arg}"

    async def wants_message(self, incoming: Incoming) -> bool:
        return incoming.text.startswith("hey")

    @trigger("hey")
    async def hey(self, call: Call) -> bool:
        Echo.heard.append(call.incoming.text)
        await call.reply(f"hi {call.author.name}")
        return True


def script(*lines: dict[str, Any] | str) -> list[str]:
    return [line if isinstance(line, str) else json.dumps(line) for line in lines]


async def test_command_routes_to_plugin_and_unknown_command_suggests(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo])
    out = await run_jsonl(
        app,
        script(
            {"user": "ann", "text": "/echo hello there"},
            {"user": "ann", "text": "/ecko hi"},
            {"user": "ann", "text": "/"},
        ),
    )
    assert out[0] == {
        "channel": "main",
        "reply_to": "in-1",
        "kind": "message",
        "id": out[0]["id"],
        "text": "hello there",
    }
    assert out[1]["kind"] == "notice" and "/ecko" in out[1]["text"] and "/echo" in out[1]["text"]
    assert out[2]["kind"] == "notice" and "/help" in out[2]["text"]


async def test_usage_error_shows_usage(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo])
    out = await run_jsonl(app, script({"text": "/echo"}, {"text": "/help echo"}))
    assert out[0]["kind"] == "notice" and "`text` is missing" in out[0]["text"]
    assert "Usage: `/echo <text>`" in out[0]["text"]
    assert out[1]["kind"] == "message" and "Say it back." in out[1]["text"]


async def test_error_boundary_keeps_the_bot_running(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_app(plugin_classes=[Echo])
    with caplog.at_level(logging.ERROR, logger="bot.router"):
        out = await run_jsonl(
            app, script({"text": "/boom"}, {"text": "/refuse"}, {"text": "/echo still here"})
        )
    assert out[0]["kind"] == "notice" and "something went wrong" in out[0]["text"]
    assert "kaboom" not in out[0]["text"] and "Traceback" not in out[0]["text"]
    assert any(
        "kaboom" in (r.exc_text or "") or (r.exc_info and "kaboom" in str(r.exc_info[1]))
        for r in caplog.records
    ), "the traceback is logged"
    assert out[1]["text"] == "There is no story here yet."
    assert out[2]["text"] == "still here"


async def test_permissions_and_enable_disable(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo])
    admin = ["manage_guild"]
    out = []
    for line in (
        {"user": "bob", "text": "/plugin disable echo"},
        {"user": "ann", "text": "/plugin disable echo", "permissions": admin},
        {"user": "bob", "text": "/echo anyone?"},
        {"user": "bob", "channel": "other", "text": "/echo here?"},
        {
            "user": "ann",
            "channel": "other",
            "text": "/plugin enable echo here=yes",
            "permissions": admin,
        },
        {"user": "bob", "channel": "other", "text": "/echo back"},
        {"user": "bob", "text": "/plugin disable core", "permissions": admin},
    ):
        out += await run_jsonl(app, script(line))
    texts = [(o["channel"], o["kind"], o["text"]) for o in out]
    assert texts[0][1] == "notice" and "Manage Server" in texts[0][2]
    assert "now off in this server" in texts[1][2]
    assert texts[2][1] == "notice" and "switched off" in texts[2][2]
    assert "switched off" in texts[3][2], "a guild-wide switch applies to every channel"
    assert "now on in this channel" in texts[4][2]
    assert texts[5] == ("other", "message", "back"), "a channel override beats the guild setting"
    assert "cannot be switched off" in texts[6][2]


async def test_rate_limits_per_user(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo], router={"user_rate": 2, "user_per_s": 60.0})
    out = await run_jsonl(
        app,
        script(
            *[{"user": "ann", "text": f"/echo {i}"} for i in range(3)],
            {"user": "bob", "text": "/echo bob"},
        ),
    )
    assert [o["text"] for o in out[:2]] == ["0", "1"]
    assert out[2]["kind"] == "notice" and "Slow down" in out[2]["text"]
    assert out[3]["text"] == "bob", "another user is not limited"


async def test_triggers_and_buttons(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo])
    Echo.heard.clear()
    out = await run_jsonl(
        app,
        script(
            {"user": "ann", "text": "just chatting"},
            {"user": "ann", "text": "hey bot"},
            {"user": "cy", "text": "/buttons"},
        ),
    )
    assert Echo.heard == ["hey bot"], "wants_message filters before the trigger runs"
    assert out[0]["text"] == "hi ann"
    assert out[1]["buttons"] == [{"action_id": "echo:pressed:42", "label": "Press"}]
    pressed = await run_jsonl(
        app,
        script(
            {"user": "dee", "action": "echo:pressed:42"}, {"user": "dee", "action": "echo:nope:1"}
        ),
    )
    assert pressed[0]["text"] == "dee pressed 42"
    assert pressed[1]["kind"] == "notice" and "no longer works" in pressed[1]["text"]


async def test_output_is_scrubbed_of_mass_mentions(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo])
    out = await run_jsonl(
        app,
        script({"text": "/echo @everyone look <@&123456789012345678> and <@234567890123456789>"}),
    )
    text = out[0]["text"]
    assert "@everyone" not in text and "<@&123456789012345678>" not in text
    assert "<@234567890123456789>" not in text and "look" in text


async def test_overlong_message_is_refused_clearly(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo], router={"max_message_chars": 100})
    out = await run_jsonl(app, script({"text": "/echo " + "a" * 150}))
    assert out[0]["kind"] == "notice" and "too long" in out[0]["text"]


async def test_ordinary_conversation_is_remembered_but_blocked_text_is_not(
    make_app: AppFactory,
) -> None:
    app = await make_app(plugin_classes=[Echo])
    await app.store.settings.set(
        "moderation", "rules", {"custom_words": ["pineapple"]}, guild_id="console"
    )
    out = await run_jsonl(
        app,
        script(
            {"user": "ann", "channel": "chat", "text": "the weather is lovely today"},
            {"user": "bo", "channel": "chat", "text": "I hate pineapple on pizza"},
            {"user": "ann", "channel": "chat", "text": "/echo commands are not conversation"},
        ),
    )
    assert [o["text"] for o in out] == ["commands are not conversation"], (
        "plain chat gets no answer"
    )
    recent = await app.store.messages.recent("console:chat")
    assert [(m.author_name, m.text) for m in recent] == [("ann", "the weather is lovely today")]
