"""Rooms over real sockets: turns, streaming, buttons, private notices, the admin, exports."""

from __future__ import annotations

import sqlite3

from bot.adapters.web.rooms import Rooms, room_id, user_id
from tests.adapters.web.conftest import Playground, StreamGate

PREMISE = "A lighthouse keeper finds a glowing map in the attic."


async def test_two_players_see_each_others_turns_and_the_streamed_story(
    playground: Playground,
) -> None:
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann", admin=room["admin"])
    bo = await playground.join(room["room"], "Bo")

    await ann.say(f"/story start {PREMISE}")
    for player in (ann, bo):
        echo = await player.message(bot=False, contains="/story start")
        assert echo["from"]["name"] == "Ann" and echo["command"] is True
        started = await player.message(contains="lighthouse keeper")
        assert not started["private"]

    await bo.say("The keeper climbs the stairs with a lantern.")
    turn = await ann.message(bot=False, contains="climbs the stairs")
    assert turn["from"] == {"id": bo.events[0]["you"]["id"], "name": "Bo", "bot": False}

    gate = StreamGate(playground.app.generation).install()
    try:
        await bo.say("/story continue")
        await gate.wait_paused()
        first = {p: await p.message() for p in (ann, bo)}  # the text while it is being written
        assert first[ann]["id"] == first[bo]["id"] and first[ann]["text"] == first[bo]["text"]
        assert first[ann]["text"].strip() and not first[ann]["buttons"]
    finally:
        gate.remove()
    finals = {p: await p.settled(first[p]["id"]) for p in (ann, bo)}  # the same message, grown
    assert finals[ann]["text"] == finals[bo]["text"] != first[ann]["text"]
    labels = [b["label"] for b in finals[bo]["buttons"]]
    assert labels[:1] == ["Continue"] and "Undo" in labels

    continue_button = finals[bo]["buttons"][0]["action"]
    await ann.press(continue_button)
    again = await bo.message()
    assert again["id"] != first[bo]["id"]
    await bo.settled(again["id"])


async def test_notices_reach_only_their_person(playground: Playground) -> None:
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann", admin=room["admin"])
    bo = await playground.join(room["room"], "Bo")

    await bo.say("/story continue")  # no story yet: a private notice for Bo
    notice = await bo.next(lambda e: e["type"] == "message" and e["from"]["bot"])
    assert notice["private"] is True and "story" in notice["text"].lower()

    await ann.say("marker")
    await ann.message(bot=False, contains="marker")
    assert ann.private() == [], "Bo's notice reached Ann"


async def test_the_creator_is_the_rooms_moderator(playground: Playground) -> None:
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann", admin=room["admin"])
    bo = await playground.join(room["room"], "Bo")
    assert ann.events[0]["you"]["admin"] is True and bo.events[0]["you"]["admin"] is False

    await bo.say("/mod words add zorblax")
    denied = await bo.next(lambda e: e["type"] == "message" and e["from"]["bot"])
    assert denied["private"] and "Manage Server" in denied["text"]

    await ann.say("/mod words add zorblax")
    mine = await ann.message(bot=False, contains="/mod words add")
    assert mine["private"] and not mine.get("withheld")  # moderators' words stay private
    done = await ann.next(lambda e: e["type"] == "message" and e["from"]["bot"])
    assert "zorblax" in done["text"]

    # Now the room's own filter holds Bo's line back: only Bo sees it, marked as withheld.
    await bo.say("what a zorblax day")
    held = await bo.message(bot=False, contains="zorblax day")
    assert held["private"] and held["withheld"]
    await bo.say("a fine day")
    await ann.message(bot=False, contains="a fine day")
    assert not any("zorblax" in e.get("text", "") and not e["private"] for e in ann.events)
    assert not any(
        e.get("from", {}).get("name") == "Ann" and "/mod" in e["text"] for e in bo.events
    )

    # Another room is another server: its rules are its own.
    other = await playground.create_room("Other")
    cy = await playground.join(other["room"], "Cy")
    await cy.say("what a zorblax day")
    shown = await cy.message(bot=False, contains="zorblax")
    assert not shown["private"]


async def test_story_exports_download_as_files(playground: Playground) -> None:
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann", admin=room["admin"])
    await ann.say(f"/story start {PREMISE}")
    await ann.message(contains="lighthouse keeper")
    await ann.say("/story export")
    exported = await ann.next(lambda e: e["type"] == "message" and bool(e.get("files")))
    [file] = exported["files"]
    assert file["name"].endswith(".md") and file["url"].startswith("/files/")

    response = await playground.http.get(file["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert PREMISE in response.text and len(response.content) == file["size"]

    missing = await playground.http.get("/files/" + "x" * 22 + "/story.md")
    assert missing.status_code == 404 and "Export again" in missing.json()["error"]


async def test_links_and_keys_are_kept_only_as_hashes_and_rooms_outlive_the_process(
    playground: Playground,
) -> None:
    first = await playground.create_room("Club")
    second = await playground.create_room("Club")
    assert first["room"] != second["room"] and len(first["room"]) >= 22
    ann = await playground.join(first["room"], "Ann", admin=first["admin"])
    await ann.say(f"/story start {PREMISE}")
    await ann.message(contains="lighthouse keeper")
    await playground.app.store.close()  # everything is on disk now

    database = playground.app.settings.data_dir / "storyloom.db"
    raw = database.read_bytes()
    for path in database.parent.glob("storyloom.db*"):
        raw += path.read_bytes()
    for secret in (first["room"], first["admin"], second["room"], second["admin"]):
        assert secret.encode() not in raw
    with sqlite3.connect(database) as db:
        channels = {row[0] for row in db.execute("select channel_id from stories")}
    assert channels == {room_id(first["room"])}


async def test_a_restarted_adapter_finds_the_room_and_its_admin(playground: Playground) -> None:
    created = await playground.create_room("Club")
    rooms = Rooms(
        playground.app.store, playground.app.moderation, history=10
    )  # a fresh process's view
    room = await rooms.open(created["room"])
    assert room.info.name == "Club" and room.info.is_admin_key(created["admin"])
    assert not room.info.is_admin_key(created["room"]) and not room.info.is_admin_key(None)
    assert room.channel.guild_id != (await rooms.create("Other"))[2].channel.guild_id
    assert user_id("a" * 22) != user_id("b" * 22)


async def test_the_mod_log_goes_to_the_host_only(playground: Playground) -> None:
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann", admin=room["admin"])
    bo = await playground.join(room["room"], "Bo")
    await ann.say("/mod log here")
    await ann.next(lambda e: e["type"] == "message" and e["from"]["bot"])
    await ann.say("/mod words add zorblax")
    await ann.next(lambda e: e["type"] == "message" and e["from"]["bot"])

    await bo.say("/story start a zorblax tale")
    refused = await bo.message()
    assert refused["private"] and "not accepted" in refused["text"]
    summary = await ann.next(lambda e: e["type"] == "message" and e["from"]["id"] == "mod-log")
    assert summary["private"] and "zorblax" not in summary["text"]  # never the text itself
    await bo.say("marker")
    await bo.message(bot=False, contains="marker")
    assert not any(e["type"] == "message" and e["from"]["id"] == "mod-log" for e in bo.events)
