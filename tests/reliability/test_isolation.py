"""Per-guild and per-channel isolation, and permission checks on every admin command.

A story belongs to one channel of one guild. From anywhere else its id must not read, export or
change it, through any command or button, and its text must never reach another channel's
prompt. Every command that declares a permission refuses callers without it; the story's own
manager-only commands refuse players who did not start it.
"""

from __future__ import annotations

import json
from typing import Any

from bot.adapters.console import RecordingResponder
from bot.app import App
from bot.generation.types import GenerationRequest
from bot.records import Story
from bot.types import Author, ChannelRef, Incoming, IncomingKind, Permission
from tests.conftest import recorded_requests
from tests.reliability.conftest import problems

SECRET = "swordfish"
HOME = ChannelRef("c-home", "g-home", name="home")
SAME_GUILD = ChannelRef("c-next-door", "g-home", name="next-door")
OTHER_GUILD = ChannelRef("c-away", "g-away", name="away")
DM = ChannelRef("c-dm", None, name="dm")
ALICE = Author("u-alice", "Alice")
MALLORY = Author("u-mallory", "Mallory")
MALLORY_MOD = Author("u-mallory", "Mallory", permissions=frozenset(Permission))
HELPER = Author("u-helper", "Helper", permissions=frozenset({Permission.MANAGE_MESSAGES}))


class Transcript:
    """Handles events through the real router and keeps every output record."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.records: list[dict[str, Any]] = []
        self._n = 0

    async def say(self, channel: ChannelRef, author: Author, text: str) -> list[dict[str, Any]]:
        self._n += 1
        return await self._handle(
            Incoming(channel=channel, author=author, text=text, message_id=f"m-{self._n}")
        )

    async def press(
        self, channel: ChannelRef, author: Author, action_id: str
    ) -> list[dict[str, Any]]:
        self._n += 1
        return await self._handle(
            Incoming(
                channel=channel,
                author=author,
                kind=IncomingKind.ACTION,
                action_id=action_id,
                message_id=f"b-{self._n}",
            )
        )

    async def slash(
        self, channel: ChannelRef, author: Author, command: str, **options: object
    ) -> list[dict[str, Any]]:
        self._n += 1
        return await self._handle(
            Incoming(
                channel=channel,
                author=author,
                kind=IncomingKind.COMMAND,
                command=command,
                options=options,
                message_id=f"s-{self._n}",
            )
        )

    async def _handle(self, incoming: Incoming) -> list[dict[str, Any]]:
        mine: list[dict[str, Any]] = []

        def emit(record: dict[str, Any]) -> None:
            mine.append(record)
            self.records.append(record)

        await self.app.router.handle(incoming, RecordingResponder(incoming, emit))
        return mine


def _everything(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False)


async def _home_story(t: Transcript) -> Story:
    for text in (
        "/story start A fox hides a treasure",
        f"/story add The secret word is {SECRET}, said the fox.",
        f"/story memory The treasure's password is {SECRET}.",
        f"/story lore treasure The treasure lies under the {SECRET} stone.",
    ):
        out = await t.say(HOME, ALICE, text)
        assert problems(out) == [], out
    out = await t.say(HOME, ALICE, "/story continue")
    assert problems(out) == [], out
    story = await t.app.store.stories.get_active(HOME)
    assert story is not None
    return story


async def _snapshot(app: App, story: Story) -> tuple[Any, ...]:
    now = await app.store.stories.get_any(story.id)
    turns = await app.store.turns.all(story.id, include_removed=True)
    lore = await app.store.lore.all(story.id)
    alts = [await app.store.alternatives.all(story.id, t.id) for t in turns]
    return (
        now.memory,
        now.author_note,
        now.title,
        now.status,
        now.state_version,
        [(t.id, t.text, t.removed) for t in turns],
        [(e.id, e.text) for e in lore],
        [[(a.id, a.selected) for a in group] for group in alts],
    )


async def test_a_story_id_from_elsewhere_cannot_be_read_exported_or_changed(fast_app: App) -> None:
    app = fast_app
    t = Transcript(app)
    story = await _home_story(t)
    before = await _snapshot(app, story)
    turns = await app.store.turns.all(story.id)
    lore = await app.store.lore.all(story.id)
    sid = story.id
    probes: list[list[dict[str, Any]]] = []
    for where in (SAME_GUILD, OTHER_GUILD, DM):
        for who in (MALLORY, MALLORY_MOD):
            for text in (
                f"/story export md {sid}",
                f"/story export json {sid}",
                f"/story export story={sid}",
                f"/story export format=json story={sid}",
                f"/story lore remove {lore[0].id}",
                "/story lore list",
                "/story show",
                "/story recap",
                "/story list",
                "/story changes",
                "/story undo",
                "/story retry",
                "/story swipe 1",
                "/story vote 1",
                "/story edit hacked",
                "/story end",
                "/story memory hacked",
                "/story note hacked",
                "/headline",
                "/poem haiku",
                "/story continue",
            ):
                probes.append(await t.say(where, who, text))
            probes.append(await t.slash(where, who, "story export", format="json", story=sid))
            for turn in turns:
                for action_id in (
                    f"story:undo:{turn.id}",
                    f"story:retry:{turn.id}",
                    f"story:swipe:{turn.id}:1",
                    "story:vote:1:1",
                    "story:continue:",
                ):
                    probes.append(await t.press(where, who, action_id))
    leaked = [r for group in probes for r in group if SECRET in json.dumps(r, ensure_ascii=False)]
    assert leaked == [], f"the home story leaked into another channel: {leaked[:3]}"
    assert problems(t.records) == [], problems(t.records)[:5]
    assert await _snapshot(app, story) == before, "the home story was changed from elsewhere"
    # and at home it still works
    out = await t.say(HOME, ALICE, f"/story export json {sid}")
    assert SECRET in _everything(out)


async def test_one_channels_story_never_reaches_another_channels_prompt(fast_app: App) -> None:
    app = fast_app
    with recorded_requests(app) as seen:
        t = Transcript(app)
        await _home_story(t)
        for where in (SAME_GUILD, OTHER_GUILD):
            for text in (
                "/story start A robot learns to paint",
                "/story add The robot dipped its brush in blue paint.",
                "/story continue",
                "/story recap",
                "/headline",
                "/poem haiku",
                "/story retry",
            ):
                out = await t.say(where, MALLORY, text)
                assert problems(out) == [], out
    home_requests = [r for r in seen if r.channel_key == HOME.key]
    away_requests = [r for r in seen if r.channel_key != HOME.key]
    assert home_requests and len(away_requests) >= 6, [r.channel_key for r in seen]
    for request in away_requests:
        assert request.channel_key in (SAME_GUILD.key, OTHER_GUILD.key)
        assert SECRET not in _prompt_text(request), "another channel's story reached this prompt"
    for request in home_requests:
        assert "robot" not in _prompt_text(request)
    assert any(SECRET in _prompt_text(r) for r in home_requests), "the home prompt is checked"


def _prompt_text(request: GenerationRequest) -> str:
    if isinstance(request.prompt, str):
        return request.prompt
    return "\n".join(m.content for m in request.prompt)


# -- permissions ----------------------------------------------------------------------------------


async def test_every_admin_command_refuses_callers_without_the_permission(fast_app: App) -> None:
    app = fast_app
    t = Transcript(app)
    admin = [s for s in app.registry.unique_commands() if s.permission is not None]
    assert {s.path for s in admin} >= {"plugin enable", "plugin disable", "story settings"}, admin
    for spec in admin:
        example = (spec.examples[-1] if spec.examples else f"/{spec.path}").lstrip("/")
        for who in (MALLORY, HELPER):
            if who.has(spec.permission):
                continue
            typed = await t.say(OTHER_GUILD, who, f"/{example}")
            slashed = await t.slash(OTHER_GUILD, who, spec.path)
            for out in (typed, slashed):
                assert len(out) == 1 and out[0]["kind"] == "notice", (spec.path, out)
                assert "permission" in out[0]["text"].lower(), (spec.path, out)
    for action in app.registry.actions.values():
        if action.permission is not None:
            out = await t.press(OTHER_GUILD, MALLORY, f"{action.plugin}:{action.name}:1")
            assert "permission" in out[0]["text"].lower(), (action, out)
    # refusals changed nothing: every plugin is still on, no guild setting was written
    for name in app.registry.plugins:
        assert await app.store.settings.is_plugin_enabled(
            name, OTHER_GUILD.guild_id, OTHER_GUILD.channel_id
        )
    assert problems(t.records) == []
    # with the permission the same commands work (the refusal above was the permission check)
    ok = await t.say(OTHER_GUILD, MALLORY_MOD, "/plugin disable headline")
    assert ok and "permission" not in ok[0]["text"].lower(), ok
    assert not await app.store.settings.is_plugin_enabled(
        "headline", OTHER_GUILD.guild_id, OTHER_GUILD.channel_id
    )


async def test_only_the_starter_or_a_moderator_steers_a_story(fast_app: App) -> None:
    app = fast_app
    t = Transcript(app)
    story = await _home_story(t)
    before = await _snapshot(app, story)
    lore = await app.store.lore.all(story.id)
    for text in (
        "/story memory I rule now",
        "/story note be mean",
        "/story title Mine",
        "/story lore fox The fox is evil.",
        f"/story lore remove {lore[0].id}",
        "/story end",
        "/story undo",
        "/story memory clear",
    ):
        out = await t.say(HOME, MALLORY, text)
        assert out and out[0]["kind"] == "notice", (text, out)
    assert await _snapshot(app, story) == before
    out = await t.say(
        HOME,
        Author("u-mod", "Mod", permissions=frozenset({Permission.MANAGE_MESSAGES})),
        "/story title The Fox's Treasure",
    )
    assert out and out[0]["kind"] == "message", out
    assert (await app.store.stories.get_any(story.id)).title == "The Fox's Treasure"
    assert problems(t.records) == []
