"""Shards as real processes on one PostgreSQL schema sharing one real inference server
(``storyloom serve-model``): games in many channels, one shard SIGKILLed mid-game and restarted.
Sized to stay fast; ``python -m bench scale`` is the full benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale import PG_URL, Load, inference_server, run_configuration

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def test_two_shards_lose_nothing_when_one_is_killed(tmp_path: Path) -> None:
    load = Load(channels=4, rounds=2, max_new_tokens=12)
    async with inference_server("storyloom", tmp_path, batch=8) as server:
        result = await run_configuration(
            2, load, server=server, pg_url=PG_URL, work=tmp_path, kill=True
        )
    kill = result["kill"]
    assert kill is not None and kill["pid_killed"]
    # the other shard kept answering while shard 0 was down; shard 0's games went on after it
    assert kill["answered_by_others_while_down"] >= 1
    assert kill["answered_by_restarted_after"] >= 1
    assert set(result["per_shard_commands"]) == {0, 1}
    outcomes = result["outcomes"]
    assert set(outcomes) <= {"ok", "nothing_written", "lost_in_flight"}, outcomes
    assert outcomes.get("lost_in_flight", 0) == kill["lost_in_flight"]
    stored = result["storage"]
    assert stored["answered_but_missing"] == 0 and stored["stored_twice"] == 0
    assert stored["player_turns_answered"] >= 4 * 2 * 2 - kill["lost_in_flight"]
    assert stored["lost_in_flight_turns_stored"] <= stored["lost_in_flight_turns"]
    assert (
        stored["continues_answered"]
        <= stored["storyteller_turns_stored"]
        <= stored["continues_answered"] + stored["continues_lost_in_flight"]
    )
    assert stored["nothing_lost"]
