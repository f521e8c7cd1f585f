"""Memory, author's note and lore: who may change them, and that the next prompt shows them."""

from __future__ import annotations

from bot.records import PromptPartKind
from plugins.story.game import GameState
from tests.conftest import recorded_requests
from tests.plugins.story.conftest import GameFactory, transcript
from tests.plugins.story.helpers import active_story, by_reply, texts

MEMORY = "Spark is a small green dragon who loves cocoa."
NOTE = "Keep it gentle and cozy."
LORE = "The moon in this world is made of cheese."


async def test_memory_note_and_lore_reach_the_prompt(make_game: GameFactory) -> None:
    game = await make_game()
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start A shy dragon who is afraid of the dark"),
        game.line("Bob", f"/story memory {MEMORY}"),
        game.line("Alice", f"/story memory {MEMORY}"),
        game.line("Dana", f"/story note {NOTE}", mod=True),
        game.line("Alice", f"/story lore moon,stars {LORE}"),
        game.line("Alice", "/story add Spark looked up at the moon."),
    )
    print(transcript(records))
    assert "Only Alice" in texts(by_reply(records, 2))
    assert "Memory updated" in texts(by_reply(records, 3))
    assert "note updated" in texts(by_reply(records, 4))
    assert "moon, stars" in texts(by_reply(records, 5))
    story = await active_story(store)
    prompt = await game.plugin.writing.build_prompt(
        story, GameState.from_dict(story.state), max_new_tokens=24
    )
    with recorded_requests(game.app) as seen:
        records = await game.play(
            game.line("Alice", "/story continue"),
            game.line("Bob", "/story memory"),
            game.line("Bob", "/story changes"),
            game.line("Bob", "/story lore list"),
        )
    print(transcript(records))
    assert seen and {r.prompt for r in seen} == {prompt.prompt}  # what the model was asked
    text = prompt.text
    # The bundled model is a base model: plain prose paragraphs, as it was trained on; the
    # author's note steers the ranking of candidates instead of being pasted into the story.
    assert text.startswith("A shy dragon who is afraid of the dark\n\n" + MEMORY + "\n\n")
    assert LORE in text and NOTE not in text and "Alice:" not in text
    assert text.endswith("\n\nSpark looked up at the moon.")
    assert isinstance(prompt.prompt, str) and prompt.prompt == text + "\n\n"
    order = [p.kind for p in prompt.context.parts]
    assert order[0] is PromptPartKind.MEMORY and order[1] is PromptPartKind.LORE
    assert order[-1] is PromptPartKind.TURN
    assert MEMORY in texts(by_reply(records, 2))
    changes = texts(by_reply(records, 3))
    assert "Alice set **memory**" in changes and "set **author_note**" in changes
    entry_id = int(texts(by_reply(records, 4)).split("`#")[1].split("`")[0])

    budget = game.app.generation.max_context_tokens - 24
    assert prompt.context.total_tokens <= budget

    with recorded_requests(game.app) as seen:
        records = await game.play(
            game.line("Alice", f"/story lore remove {entry_id}"),
            game.line("Alice", "/story memory clear"),
            game.line("Alice", "/story note clear"),
            game.line("Alice", "/story add The moon was bright."),
            game.line("Alice", "/story continue"),
        )
    print(transcript(records))
    assert seen
    text = str(seen[-1].prompt)
    assert LORE not in text and MEMORY not in text and "Author's note" not in text
    story = await active_story(store)
    history = await store.stories.history(story.id)
    assert [(h.field, h.user_id) for h in history] == [
        ("memory", "u-alice"),
        ("author_note", "u-dana"),
        ("memory", "u-alice"),
        ("author_note", "u-alice"),
    ]


async def test_tagged_prompt_layout_when_prose_is_off(make_game: GameFactory) -> None:
    """With ``prose_prompt = false`` (models trained on chat logs) turns keep their speaker
    tags, the author's note goes in bracketed, and the cue ends the prompt."""
    game = await make_game(prose_prompt=False, base_cue="Narrator:")
    await game.play(
        game.line("Alice", "/story start A shy dragon who is afraid of the dark"),
        game.line("Alice", f"/story note {NOTE}"),
        game.line("Alice", "/story add Spark looked up at the moon."),
    )
    with recorded_requests(game.app) as seen:
        await game.play(game.line("Alice", "/story continue"))
    assert seen and isinstance(seen[-1].prompt, str)
    text = seen[-1].prompt
    assert text.startswith("A shy dragon who is afraid of the dark\n")
    assert f"[Author's note: {NOTE}]" in text
    assert "Alice: Spark looked up at the moon." in text and text.endswith("Narrator:")
