"""Best-of-N continuations: candidates ranked, the best posted, the others kept as versions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import plugins.story.writing as story_writing
from plugins.kit.rerank import Ranked
from tests.conftest import recorded_requests
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


async def test_continuations_favour_this_channels_names_and_things(make_game: GameFactory) -> None:
    """With ``favour`` on, the request lifts the nouns and names of this channel's story (its
    premise and last turns), never another channel's."""
    game = await make_game(best_of=2, max_new_tokens=16, favour=1.5)
    other = dataclasses.replace(game, channel="elsewhere")
    await other.play(other.line("Cy", "/story start A pirate looks for buried gold"))
    with recorded_requests(game.app) as seen:
        await game.play(
            game.line("Alice", "/story start A lighthouse keeper finds a strange map"),
            game.line("Alice", "/story add Marta climbed the stairs with her lantern."),
            game.line("Alice", "/story continue"),
        )
    assert len(seen) == 2
    for request in seen:
        favoured = {w.lower() for w in request.params.favoured_words}
        assert request.params.favour == 1.5
        assert {"keeper", "map", "lantern", "marta"} <= favoured, favoured
        assert not favoured & {"pirate", "gold"}
        assert not favoured & {"strange", "climbed", "finds"}  # not things, not names


async def test_favour_off_sends_no_favoured_words(make_game: GameFactory) -> None:
    game = await make_game(best_of=1, max_new_tokens=12, favour=0.0)
    with recorded_requests(game.app) as seen:
        await game.play(
            game.line("Alice", "/story start A lighthouse keeper finds a strange map"),
            game.line("Alice", "/story continue"),
        )
    assert seen and all(r.params.favour == 0 and not r.params.favoured_words for r in seen)
