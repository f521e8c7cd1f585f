"""A small plugin that exercises every adapter feature without a model."""

from __future__ import annotations

import asyncio
from typing import Annotated, ClassVar, Literal

from bot.plugin import Call, Param, Plugin, action, command, trigger
from bot.types import Attachment, Incoming, Permission, Reply

LONG_TEXT = "\n\n".join(
    f"Chapter {i}. " + "The little fox ran through the dark wood. " * 12 for i in range(10)
)


class DemoPlugin(Plugin):
    name: ClassVar[str] = "demo"
    description: ClassVar[str] = "Adapter test plugin."

    @command("demo echo", description="Say the text back.")
    async def echo(self, call: Call, text: Annotated[str, Param("What to say", rest=True)]) -> str:
        return f"{call.author.name} said: {text}"

    @command("demo long", description="A reply longer than one Discord message.")
    async def long(self, call: Call) -> str:
        return LONG_TEXT

    @command("demo ping", description="A text full of mentions.")
    async def ping(self, call: Call) -> str:
        return "Hello @everyone, @here, <@123456789012345678> and <@&223456789012345678>!"

    @command("demo pick", description="Typed options.")
    async def pick(
        self,
        call: Call,
        color: Literal["red", "green"],
        count: Annotated[int, Param("How many", min=1, max=5)] = 1,
        loud: bool = False,
        weight: Annotated[float, Param("Weight", min=0.5)] = 1.0,
    ) -> str:
        return f"picked {count} {color} loud={loud} weight={weight}"

    seen: ClassVar[list[Incoming]] = []

    @command("demo where", description="Describe this channel.")
    async def where(self, call: Call) -> str:
        DemoPlugin.seen.append(call.incoming)
        return f"thread={call.channel.parent_id is not None} nsfw={call.channel.nsfw}"

    @command("demo buttons", description="A reply with buttons.")
    async def buttons(self, call: Call) -> Reply:
        return Reply(
            text="Choose a path.",
            buttons=(
                self.button("choose", "Left", "left"),
                self.button("choose", "Right", "right"),
            ),
        )

    @action("choose")
    async def choose(self, call: Call, arg: str) -> str:
        return f"{call.author.name} went {arg}."

    @command("demo stream", description="Edit one message many times, fast.")
    async def stream(
        self, call: Call, steps: Annotated[int, Param("Edits", min=1, max=50)] = 20
    ) -> None:
        message = await call.reply("step 0")
        for i in range(1, steps + 1):
            await call.edit(message, f"step {i}")

    @command("demo admin", description="Needs Manage Server.", permission=Permission.MANAGE_GUILD)
    async def admin(self, call: Call) -> str:
        return "admin things done"

    @command("demo secret", description="A private notice.", defer=False)
    async def secret(self, call: Call) -> None:
        await call.notice("only you can see this")

    gate: ClassVar[asyncio.Event | None] = None

    @command("demo slow", description="Declared instant, but waits.", defer=False)
    async def slow(self, call: Call) -> str:
        assert DemoPlugin.gate is not None
        await DemoPlugin.gate.wait()
        return "slow done"

    @command("demo file", description="A reply with a file.")
    async def file(self, call: Call) -> Reply:
        return Reply(
            text="Here is your story.",
            attachments=(Attachment("story.md", b"# A story\n\nOnce upon a time.\n"),),
        )

    @command("demo color", description="Autocompleted.")
    async def color(
        self, call: Call, name: Annotated[str, Param("A color", autocomplete=True)]
    ) -> str:
        return f"color {name}"

    async def autocomplete(
        self, incoming: Incoming, command: str, param: str, current: str
    ) -> list[str]:
        return [c for c in ("red", "green", "blue", "grey") if c.startswith(current.lower())]

    @trigger("greeting")
    async def greet(self, call: Call) -> bool:
        if "hello bot" not in call.incoming.text.lower():
            return False
        await call.reply(f"Hello, {call.author.name}!")
        return True
