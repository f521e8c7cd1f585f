"""What people see while their request waits: a place-in-line message that the reply replaces
(the app, the console adapter and the bundled model, end to end)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from bot.adapters.console import run_jsonl
from bot.generation import GenerationRequest, SamplingParams
from bot.generation.queue_watch import QueueNotice, current_watch, describe_position
from bot.plugin import Call, Plugin, command
from tests.conftest import AppFactory
from tests.generation.helpers import until

LONG = SamplingParams(temperature=0.0, ignore_eos=True, max_new_tokens=400)


class TalePlugin(Plugin):
    name: ClassVar[str] = "tale"
    description: ClassVar[str] = "Tells a short tale."

    @command("tell", description="Tell a short tale.")
    async def tell(self, call: Call) -> None:
        request = GenerationRequest(
            "Once upon a time",
            SamplingParams(temperature=0.0, max_new_tokens=6),
            channel_key=call.channel.key,
        )
        async with call.typing():
            result = await self.context.writer.complete(
                request, channel=call.channel, user_id=call.author.id
            )
        await call.reply(result.text or "(nothing)")


def _line(channel: str) -> str:
    return f'{{"user": "ann", "channel": "{channel}", "text": "/tell"}}'


async def test_waiting_people_see_their_place_and_the_reply_replaces_it(
    make_app: AppFactory,
) -> None:
    app = await make_app(
        plugin_classes=[TalePlugin], generation={"max_batch_size": 1, "per_channel_limit": 1}
    )
    busy = app.generation.stream(GenerationRequest("The", LONG, channel_key="busy"))
    await anext(busy)  # the only batch slot is taken
    records: list[dict[str, Any]] = []
    both_shown = asyncio.Event()

    def emit(record: dict[str, Any]) -> None:
        records.append(record)
        if sum("in line" in r["text"] for r in records) >= 2:
            both_shown.set()

    async def script() -> AsyncIterator[str]:
        yield _line("first")
        await until(lambda: app.generation.stats().queue_depth == 1)
        yield _line("second")
        await both_shown.wait()  # both waited past the grace time and were told so
        await busy.aclose()  # the slot frees: the queue moves

    await run_jsonl(app, script(), emit)
    for channel, place in (("first", "next in line"), ("second", "2nd in line")):
        mine = [r for r in records if r["channel"] == channel]
        assert mine[0]["kind"] == "message" and place in mine[0]["text"], mine
        assert all(r["kind"] == "edit" and r["id"] == mine[0]["id"] for r in mine[1:]), mine
        assert "in line" not in mine[-1]["text"] and "Writing" not in mine[-1]["text"]
        assert mine[-1]["text"].strip()  # the tale itself, in the placeholder's message


async def test_no_notice_when_the_request_is_served_at_once(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[TalePlugin])
    records = await run_jsonl(app, [_line("quick")])
    assert [r["kind"] for r in records] == ["message"]
    assert "in line" not in records[0]["text"]


async def test_notice_shows_the_latest_place_only() -> None:
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)

    async with QueueNotice(show, grace_s=0.0, interval_s=3600.0):
        watch = current_watch()
        assert watch is not None
        watch.report("a", 3)
        await until(lambda: shown == [describe_position(3)])
        for place in (2, 1, 0):  # during the hour-long pause: coalesced, not shown one by one
            watch.report("a", place)
    assert len(shown) == 1  # leaving the block stopped the updates
