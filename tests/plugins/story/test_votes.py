"""Vote mode end to end: candidates, one vote per player, early close, ties, window expiry."""

from __future__ import annotations

import re

from bot.records import TurnKind
from plugins.story.game import VoteRound, tally
from tests.plugins.story.conftest import Game, GameFactory, transcript
from tests.plugins.story.helpers import active_story, assert_clean_bot_text, by_reply, texts


def options(text: str) -> dict[int, str]:
    pattern = r"\*\*(\d)\.\*\* (.+?)(?=\n\n\*\*\d\.\*\* |\Z)"
    return {int(n): body.strip() for n, body in re.findall(pattern, text, re.S)}


async def open_vote(game: Game, turn: str) -> tuple[dict[int, str], list[dict[str, str]]]:
    records = await game.play(
        game.line("Alice", f"/story add {turn}"),
        game.line("Alice", "/story continue"),
    )
    print(transcript(records))
    message = next(r for r in by_reply(records, 2) if r.get("buttons"))
    found = options(message["text"])
    assert len(found) >= 2 and all(found.values())
    return found, message["buttons"]


async def test_vote_mode_game(make_game: GameFactory) -> None:
    game = await make_game(vote_window_s=60.0, vote_candidates=3)
    store = game.app.store
    await game.play(
        game.line("Alice", "/story start mode=vote A lost kitten looks for its home"),
        game.line("Bob", "/story join"),
    )
    candidates, buttons = await open_vote(game, "The kitten sat alone in the rain.")
    assert [b["label"] for b in buttons][:2] == ["Vote 1", "Vote 2"]
    assert buttons[0]["action_id"] == "story:vote:1:1"

    records = await game.play(
        game.line("Bob", "/story add Bob jumps ahead."),
        game.line("Alice", action="story:vote:1:2"),
        game.line("Alice", "/story vote 1"),  # changing a vote replaces it
        game.line("Bob", "/story vote 1"),  # everyone has voted: the vote closes now
    )
    print(transcript(records))
    assert "A vote is open" in texts(by_reply(records, 1))
    assert "is in for option 2 (1 of 2" in texts(by_reply(records, 2))
    assert "changed to option 1 (1 of 2" in texts(by_reply(records, 3))
    closing = texts(by_reply(records, 4))
    assert "**Option 1** wins" in closing and "1: 2" in closing
    story = await active_story(store)
    turns = await store.turns.all(story.id)
    assert [t.kind for t in turns] == [TurnKind.PLAYER, TurnKind.BOT]
    assert turns[-1].text == candidates[1] and candidates[1] in closing
    assert_clean_bot_text(turns[-1].text)
    alts = await store.alternatives.all(story.id, turns[-1].id)
    assert len(alts) == len(candidates) and alts[0].selected and alts[0].text == candidates[1]
    tallied = await store.alternatives.tally(story.id, turns[-1].id)
    assert tallied[0].alternative_id == alts[0].id and tallied[0].votes == 2

    # a tie is broken by a seeded draw among the tied options, and announced
    candidates, _ = await open_vote(game, "Then the kitten saw a light.")
    records = await game.play(
        game.line("Alice", "/story vote 1"),
        game.line("Bob", action="story:vote:2:2"),
    )
    print(transcript(records))
    closing = texts(records)
    expected = tally(
        VoteRound(2, tuple(candidates.values()), 0.0, {"a": 0, "b": 1}), f"{story.id}:2"
    ).winner
    assert "tie between options 1 and 2" in closing
    assert f"**option {expected + 1}** wins" in closing
    assert (await store.turns.last(story.id)).text == candidates[expected + 1]

    # the window closes by itself: the next action after the deadline counts the votes
    candidates, _ = await open_vote(game, "The light came from a little house.")
    await game.play(game.line("Bob", "/story vote 2"))
    game.clock.advance(61)
    records = await game.play(
        game.line("Alice", "/story vote 1"),
        game.line("Alice", "/story show"),
    )
    print(transcript(records))
    assert "**Option 2** wins" in texts(by_reply(records, 1))
    assert "That vote is closed" in texts(by_reply(records, 1))
    assert (await store.turns.last(story.id)).text == candidates[2]
    assert "Vote #3 is open" not in texts(by_reply(records, 2))
