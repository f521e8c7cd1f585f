"""Streaming edits: at most one edit per interval per message, the last text always arrives."""

from __future__ import annotations

import itertools

from discord.ext import test as dpytest

from tests.adapters.discord.conftest import RigFactory
from tests.adapters.discord.demo_plugin import DemoPlugin

INTERVAL = 0.15


async def test_interaction_edits_are_rate_limited_and_coalesced(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin], router={"stream_edit_interval_s": INTERVAL})
    await rig.driver.slash("demo stream", steps=20)
    writes = [r for r in rig.webhook.requests if r.kind == "edit"]
    assert writes[0].content == "step 0" and writes[-1].content == "step 20"
    assert len(writes) < 21  # nineteen edits inside one interval were coalesced
    assert all(w.url.endswith("/messages/@original") for w in writes)
    gaps = [b.at - a.at for a, b in itertools.pairwise(writes)]
    assert gaps and min(gaps) >= INTERVAL * 0.95


async def test_channel_message_edits_are_rate_limited_and_coalesced(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin], router={"stream_edit_interval_s": INTERVAL})
    await dpytest.message("!demo stream 12")
    calls = rig.outbox.with_content()
    texts = [c["content"] for c in calls]
    assert texts[0] == "step 0" and texts[-1] == "step 12"
    assert len(texts) < 13
    gaps = [b["_at"] - a["_at"] for a, b in itertools.pairwise(calls)]
    assert gaps and min(gaps) >= INTERVAL * 0.95
    assert all(c["allowed_mentions"].to_dict() == {"parse": []} for c in rig.outbox.with_content())
