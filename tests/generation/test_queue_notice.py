"""What people see while their request waits: a place-in-line message that the reply replaces
(the app, the console adapter and the bundled model, end to end)."""

from __future__ import annotations

import asyncio
import re
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
        plugin_classes=[TalePlugin],
        generation={"max_batch_size": 1, "per_channel_limit": 1, "queue_size": 256},
    )
    # A backlog of higher-priority work (a minute or more): the tales wait behind all of it.
    backlog = [
        asyncio.create_task(
            app.generation.complete(GenerationRequest("The", LONG, channel_key="busy", priority=5))
        )
        for _ in range(100)
    ]
    await until(lambda: app.generation.stats().queue_depth >= 90)
    records: list[dict[str, Any]] = []
    both_shown = asyncio.Event()
    places: dict[str, list[int]] = {"first": [], "second": []}

    def emit(record: dict[str, Any]) -> None:
        records.append(record)
        found = re.search(r"(\d+)\w\w in line", record["text"])
        if found:
            places[record["channel"]].append(int(found.group(1)))
        if all(places.values()):
            both_shown.set()

    async def script() -> AsyncIterator[str]:
        yield _line("first")
        yield _line("second")
        await both_shown.wait()  # both waited past the grace time and were told their place
        for task in backlog:  # the backlog goes away: the queue moves
            task.cancel()
        await asyncio.gather(*backlog, return_exceptions=True)

    await run_jsonl(app, script(), emit)
    for channel in ("first", "second"):
        mine = [r for r in records if r["channel"] == channel]
        assert mine[0]["kind"] == "message" and "in line" in mine[0]["text"], mine
        assert all(r["kind"] == "edit" and r["id"] == mine[0]["id"] for r in mine[1:]), mine
        assert "in line" not in mine[-1]["text"] and "Writing" not in mine[-1]["text"]
        assert mine[-1]["text"].strip()  # the tale itself, in the placeholder's message
        # nothing arrived ahead of them: their place only moved up
        assert places[channel] == sorted(places[channel], reverse=True), places
    # a request served at once shows no notice: just the reply
    quick = await run_jsonl(app, [_line("quick")])
    assert [r["kind"] for r in quick] == ["message"] and "in line" not in quick[0]["text"]


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
