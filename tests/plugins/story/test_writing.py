"""Best-of-N continuations: candidates ranked, the best posted, the others kept as versions."""

from __future__ import annotations

from typing import Any

import pytest

import plugins.story.writing as story_writing
from plugins.kit.rerank import Ranked
from tests.plugins.story.conftest import GameFactory, final_texts, transcript
from tests.plugins.story.helpers import active_story, by_reply


async def test_the_best_candidate_is_posted_and_the_rest_become_versions(
    make_game: GameFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rankings: list[list[Ranked]] = []
    real_rank = story_writing.rank

    def recording_rank(*args: Any, **kwargs: Any) -> list[Ranked]:
        ranked = real_rank(*args, **kwargs)
        rankings.append(ranked)
        return ranked

    monkeypatch.setattr(story_writing, "rank", recording_rank)
    game = await make_game(best_of=4, max_new_tokens=40)
    records = await game.play(
        game.line("Alice", "/story start A shy dragon who is afraid of the dark"),
        game.line("Alice", "/story add Spark the dragon hid in his cave."),
        game.line("Alice", "/story continue"),
    )
    print(transcript(records))
    [ranked] = rankings
    assert len(ranked) >= 2, "several candidates were written and ranked"
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    story = await active_story(game.app.store)
    turn = (await game.app.store.turns.all(story.id))[-1]
    assert turn.text == ranked[0].candidate.text
    [shown] = [m for m in final_texts(by_reply(records, 3)).values() if m.get("buttons")]
    assert shown["text"] == turn.text
    assert [b["label"] for b in shown["buttons"]][:3] == ["Continue", "◀", "▶"]

    versions = await game.app.store.alternatives.all(story.id, turn.id)
    distinct = list(dict.fromkeys(r.candidate.text for r in ranked))
    assert [v.text for v in versions] == distinct
    assert versions[0].selected and not any(v.selected for v in versions[1:])
    records = await game.play(game.line("Bob", "/story swipe 2"))
    assert distinct[1] in records[-1]["text"]
