"""``/mod`` commands, driven through the real router and SQLite: they change a server's rules,
and the pipeline then enforces exactly those rules in that server and nowhere else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pytest

from bot.adapters.console import CONSOLE_GUILD, RecordingResponder, run_jsonl
from bot.app import App
from bot.moderation.rules_store import RULES_KEY, RULES_NAMESPACE
from bot.plugin import Call, Param, Plugin, command
from bot.records import ModerationDirection
from bot.types import Author, ChannelRef, Incoming, Permission
from tests.conftest import AppFactory

CLASSIFIER = Path(__file__).parents[2] / "bot" / "moderation" / "data" / "classifier.npz"
ADMIN = ["manage_guild"]
INPUT = ModerationDirection.INPUT


class Echo(Plugin):
    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "Echoes."

    @command("echo", description="Say it back.")
    async def echo(self, call: Call, text: Annotated[str, Param("Text", rest=True)]) -> str:
        return f"echo: {text}"


@pytest.fixture
async def mod_app(make_app: AppFactory) -> App:
    return await make_app(plugin_classes=[Echo], moderation={"classifier_enabled": False})


async def say(
    app: App, text: str, *, user: str = "ann", admin: bool = False, channel: str = "main"
) -> list[dict[str, Any]]:
    line: dict[str, Any] = {"user": user, "channel": channel, "text": text}
    if admin:
        line["permissions"] = ADMIN
    return await run_jsonl(app, [json.dumps(line)])


async def mod(app: App, text: str, **kwargs: Any) -> str:
    """Run a /mod command as a server admin; its one (private) answer."""
    [record] = await say(app, text, admin=True, **kwargs)
    assert record["kind"] == "notice", record
    return str(record["text"])


async def in_guild(app: App, guild: str | None, text: str) -> list[dict[str, Any]]:
    """``text`` typed in another server (or a DM, guild None) by an admin there."""
    records: list[dict[str, Any]] = []
    author = Author("u-zed", "zed", permissions=frozenset({Permission.MANAGE_GUILD}))
    incoming = Incoming(
        channel=ChannelRef("elsewhere", guild), author=author, text=text, message_id="x-1"
    )
    await app.router.handle(incoming, RecordingResponder(incoming, records.append))
    return records


def refused(records: list[dict[str, Any]]) -> bool:
    return (
        len(records) == 1
        and records[0]["kind"] == "notice"
        and "not accepted" in records[0]["text"]
    )


async def stored(app: App, guild: str = CONSOLE_GUILD) -> Any:
    return await app.store.settings.get(RULES_NAMESPACE, RULES_KEY, guild_id=guild)


async def test_custom_word_is_enforced_in_its_server_only(mod_app: App) -> None:
    app = mod_app
    assert not refused(await say(app, "/echo he was bogarting the snacks"))
    reply = await mod(app, "/mod words add bogart*")
    assert "Added 1 blocked word: `bogart*`" in reply
    assert await stored(app) == {"custom_words": ["bogart*"]}

    assert refused(await say(app, "/echo he was bogarting the snacks"))
    assert refused(await say(app, "/echo BOGART!", channel="other-channel"))
    assert not refused(await say(app, "/echo the bog art museum"))
    [elsewhere] = await in_guild(app, "another-guild", "/echo he was bogarting the snacks")
    assert elsewhere["text"] == "echo: he was bogarting the snacks"

    events = await app.store.moderation.find(guild_id=CONSOLE_GUILD)
    assert [(e.rule, e.category, e.action, e.channel_id) for e in events] == [
        ("keyword:custom", "custom", "block", "other-channel"),
        ("keyword:custom", "custom", "block", "main"),
    ]
    assert not await app.store.moderation.find(guild_id="another-guild")

    # Moderators can type (and remove) a word that their own rules block.
    reply = await mod(app, "/mod words remove BOGART*")
    assert "Removed 1 blocked word: `bogart*`" in reply and "now has 0 blocked words" in reply
    assert await stored(app) == {}
    assert not refused(await say(app, "/echo he was bogarting the snacks"))


async def test_words_are_listed_deduplicated_and_validated(mod_app: App) -> None:
    app = mod_app
    reply = await mod(app, "/mod words add  *scam* , free   gift, *SCAM*")
    assert "Added 2 blocked words: `*scam*`, `free gift`" in reply
    reply = await mod(app, "/mod words add *scam*, spam*")
    assert "Added 1 blocked word: `spam*`" in reply and "Already listed: `*scam*`" in reply
    assert refused(await say(app, "/echo a FREE  GIFT for you"))
    assert refused(await say(app, "/echo what a scammer"))

    for bad, why in (("sp*am", "'*' is allowed only"), ("x" * 61, "at most 60"), ("**", "visible")):
        assert why in await mod(app, f"/mod words add {bad}"), bad
    assert "Nothing was changed" in await mod(app, "/mod words add fine, sp*am")
    assert "None of those" in await mod(app, "/mod words remove never-added")
    assert (await stored(app))["custom_words"] == ["*scam*", "free gift", "spam*"]

    rules = await mod(app, "/mod rules")
    assert "Blocked words (3/200): `*scam*`, `free gift`, `spam*`" in rules
    assert "Allowed words (0/100): none" in rules and "Regex rules (0/10): none" in rules


async def test_word_lists_are_capped(mod_app: App) -> None:
    app = mod_app
    many = ", ".join(f"w{i}" for i in range(150))
    assert "Added 150 blocked words" in await mod(app, f"/mod words add {many}")
    more = ", ".join(f"v{i}" for i in range(60))
    assert "at most 200 blocked words" in await mod(app, f"/mod words add {more}")
    assert len((await stored(app))["custom_words"]) == 150


async def test_a_word_the_builtin_filters_block_can_be_managed_without_audit_noise(
    mod_app: App,
) -> None:
    app = mod_app
    assert refused(await say(app, "/echo shit"))
    before = len(await app.store.moderation.find(guild_id=CONSOLE_GUILD))
    assert "`shit`" in await mod(app, "/mod words add shit")
    assert "`shit`" in await mod(app, "/mod rules")
    assert "`shit`" in await mod(app, "/mod words remove shit")
    assert len(await app.store.moderation.find(guild_id=CONSOLE_GUILD)) == before


async def test_allow_list_exempts_matching_words(mod_app: App) -> None:
    app = mod_app
    await mod(app, "/mod words add *cat*")
    assert refused(await say(app, "/echo concatenate the strings"))
    assert "Added 1 allowed word: `concatenate`" in await mod(app, "/mod allow add concatenate")
    assert not refused(await say(app, "/echo concatenate the strings"))
    assert refused(await say(app, "/echo a bobcat"))
    assert "Removed 1 allowed word" in await mod(app, "/mod allow remove concatenate")
    assert refused(await say(app, "/echo concatenate the strings"))


async def test_regex_rules_are_validated_enforced_and_removed(mod_app: App) -> None:
    app = mod_app
    assert "does not compile" in await mod(app, "/mod regex add (free")
    assert "empty text" in await mod(app, "/mod regex add x*")
    assert "too long" in await mod(app, "/mod regex add " + "a" * 300)
    assert await stored(app) == {}

    reply = await mod(app, r"/mod regex add \bfree\s+nitro\b")
    assert "Added regex rule 1" in reply
    assert refused(await say(app, "/echo get FREE   nitro now"))
    assert not refused(await say(app, "/echo nitrogen is free"))
    [event] = await app.store.moderation.find(guild_id=CONSOLE_GUILD)
    assert event.rule == "regex:0"
    assert "regex rule 1" in await mod(app, "/mod events")
    assert "already regex rule 1" in await mod(app, r"/mod regex add \bfree\s+nitro\b")

    for i in range(2, 11):
        assert f"Added regex rule {i}" in await mod(app, f"/mod regex add word{i}")
    assert "already has 10 regex rules" in await mod(app, "/mod regex add word11")
    assert "no such regex rule" in await mod(app, "/mod regex remove 11")
    assert "Removed regex rule" in await mod(app, "/mod regex remove 1")
    assert "Removed regex rule" in await mod(app, "/mod regex remove word5")
    assert not refused(await say(app, "/echo get free nitro now"))
    assert refused(await say(app, "/echo word10"))
    assert len((await stored(app))["regex_rules"]) == 8


async def test_threshold_validation_is_friendly(mod_app: App) -> None:
    app = mod_app
    for value in ("1.5", "-0.1", "abc", "nan", "inf", "0,5"):
        reply = await mod(app, f"/mod threshold {value}")
        assert "must be a number from 0 to 1" in reply, value
    assert await stored(app) == {}
    reply = await mod(app, "/mod threshold 0.25")
    assert "now 0.25, was the bot default (0.98)" in reply
    assert "switched off on this bot" in reply  # this app runs without the classifier
    assert await stored(app) == {"classifier_threshold": 0.25}
    assert "now the bot default" in await mod(app, "/mod threshold default")
    assert await stored(app) == {}


async def test_threshold_is_enforced_by_the_classifier(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Echo], moderation={"classifier_path": str(CLASSIFIER)})
    harmless = "/echo the little fox ran home"

    def echoed(records: list[dict[str, Any]]) -> bool:
        return any(r["text"] == "echo: the little fox ran home" for r in records)

    assert echoed(await say(app, harmless))
    await mod(app, "/mod threshold 0")  # every score is at or above 0 (bot notices too)
    assert not echoed(await say(app, harmless))
    [event] = await app.store.moderation.find(guild_id=CONSOLE_GUILD, direction=INPUT)
    assert event.rule == "classifier" and event.category == "offensive"
    assert echoed(await in_guild(app, "another-guild", harmless))
    await mod(app, "/mod threshold default")
    assert echoed(await say(app, harmless))


async def test_mod_commands_need_manage_server_and_a_server(mod_app: App) -> None:
    app = mod_app
    specs = [s for s in app.registry.unique_commands() if s.path.startswith("mod ")]
    assert {s.path for s in specs} >= {
        "mod rules",
        "mod words add",
        "mod allow remove",
        "mod regex add",
        "mod threshold",
        "mod log",
        "mod events",
        "mod category",
        "mod maxlength",
        "mod reset",
    }
    for spec in specs:
        example = spec.examples[-1] if spec.examples else f"/{spec.path}"
        [denied] = await say(app, example, user="bob")
        assert denied["kind"] == "notice" and "Manage Server" in denied["text"], spec.path
        [helper] = await run_jsonl(
            app, [json.dumps({"user": "hal", "text": example, "permissions": ["manage_messages"]})]
        )
        assert "Manage Server" in helper["text"], spec.path
        [dm] = await in_guild(app, None, example)
        assert "only works in a server" in dm["text"], spec.path
    assert await stored(app) == {}
    assert not await app.store.moderation.find()


async def test_events_list_rule_action_and_place_but_never_the_text(mod_app: App) -> None:
    app = mod_app
    assert "No blocks or flags" in await mod(app, "/mod events")
    await mod(app, "/mod words add zorblax")
    await say(app, "/echo the zorblax is hungry", user="bob", channel="den")
    await say(app, "/echo contact me at bob@example.com", user="bob", channel="den")
    listing = await mod(app, "/mod events 5")
    lines = listing.splitlines()
    assert "2 moderation events" in lines[0]
    assert "**flag** input" in lines[1] and "personal_data" in lines[1]
    assert "**block** input" in lines[2] and "keyword:custom" in lines[2]
    assert all("channel den" in line and "user u-bob" in line for line in lines[1:])
    assert "hungry" not in listing and "example.com" not in listing
    assert "1 moderation event" in await mod(app, "/mod events 1")
    assert "at most 25" in await mod(app, "/mod events 26")


async def test_unreadable_stored_rules_are_reported_not_overwritten(mod_app: App) -> None:
    app = mod_app
    await app.store.settings.set(
        RULES_NAMESPACE, RULES_KEY, {"custom_words": ["ok"], "bogus": 1}, guild_id=CONSOLE_GUILD
    )
    assert "cannot be read" in await mod(app, "/mod rules")
    assert "not saved" in await mod(app, "/mod words add other")
    assert (await stored(app))["bogus"] == 1
    # The one way out that does not need the operator: start again from the defaults.
    assert "back to the bot's defaults" in await mod(app, "/mod reset confirm")
    assert await stored(app) == {}
    assert "Custom words" not in await mod(app, "/mod rules")


async def test_reset_needs_confirmation_and_clears_every_rule(mod_app: App) -> None:
    app = mod_app
    await mod(app, "/mod words add zorblax")
    await mod(app, "/mod maxlength 50")
    assert "confirm" in await mod(app, "/mod reset")
    assert "confirm" in await mod(app, "/mod reset yes")
    assert await stored(app) == {"custom_words": ["zorblax"], "max_length": 50}
    await mod(app, "/mod reset confirm")
    assert await stored(app) == {}
    assert not refused(await say(app, "/echo the zorblax is hungry"))


async def test_categories_can_be_made_stricter_or_only_flagged(mod_app: App) -> None:
    app = mod_app
    invite = "/echo come and play at discord.gg/abc123"
    assert not refused(await say(app, invite))  # invites are flagged by default
    reply = await mod(app, "/mod category invite block")
    assert "`invite` are now always blocked" in reply
    assert await stored(app) == {"block_categories": ["invite"]}
    assert refused(await say(app, invite))

    await mod(app, "/mod category invite flag")  # one category is never in both lists
    assert await stored(app) == {"flag_only_categories": ["invite"]}
    assert not refused(await say(app, invite))
    await mod(app, "/mod category invite default")
    assert await stored(app) == {}

    # Slurs, personal data and mentions are not the server's to relax.
    assert "profanity" in await mod(app, "/mod category slur flag")
    assert await stored(app) == {}
    rules = await mod(app, "/mod rules")
    assert "only flag: nothing" in rules


async def test_max_length_is_bounded_by_the_bots_own_limit(mod_app: App) -> None:
    app = mod_app
    assert not refused(await say(app, "/echo " + "word " * 20))
    assert "50 characters" in await mod(app, "/mod maxlength 50")
    assert refused(await say(app, "/echo " + "word " * 20))
    assert not refused(await say(app, "/echo short"))
    for bad in ("0", "-5", "1.5", "many", "4001"):
        assert "whole number from 1 to 4000" in await mod(app, f"/mod maxlength {bad}"), bad
    assert await stored(app) == {"max_length": 50}
    assert "bot default (4000)" in await mod(app, "/mod maxlength default")
    assert await stored(app) == {}
