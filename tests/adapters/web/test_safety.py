"""What strangers and broken clients get: refusals with reasons, limits, headers, no leaks."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.adapters.web import origin_allowed
from bot.adapters.web.rooms import new_secret
from tests.adapters.web.conftest import WAIT_S, Player, Playground, PlaygroundFactory


async def test_the_page_and_its_files_carry_a_strict_policy(playground: Playground) -> None:
    page = await playground.http.get("/")
    assert page.status_code == 200 and "storyloom" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    for path, kind in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        response = await playground.http.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert "content-security-policy" in response.headers
    script = (await playground.http.get("/static/app.js")).text
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "DOMParser",
        "createContextualFragment",
        "srcdoc",
        "new Function",
    ):
        assert sink not in script, sink


async def test_other_sites_can_neither_open_sockets_nor_start_rooms(
    playground: Playground,
) -> None:
    room = await playground.create_room()
    with pytest.raises(InvalidStatus) as refused:
        await playground.open_socket(origin="http://evil.example")
    assert refused.value.response.status_code == 403

    response = await playground.http.post(
        "/api/rooms", json={"name": "x"}, headers={"origin": "http://evil.example"}
    )
    assert response.status_code == 403 and "own page" in response.json()["error"]
    # The page's own origin works (a room was created above) and so does a listed one.
    headers = Headers({"origin": "https://play.example.org", "host": "10.0.0.5:8080"})
    assert origin_allowed(headers, ("https://play.example.org",))
    assert not origin_allowed(headers, ())
    assert origin_allowed(Headers({"host": "localhost:8080"}), ())  # no Origin: not a browser
    assert not origin_allowed(Headers({"origin": "null", "host": "localhost:8080"}), ())
    player = await playground.join(room["room"], "Ann")
    assert player.events[0]["type"] == "welcome"


async def test_joining_needs_a_real_room_and_a_free_name(playground: Playground) -> None:
    room = await playground.create_room()
    await playground.join(room["room"], "Ann")

    async def refusal(frame: dict[str, object]) -> tuple[str, int]:
        ws = await playground.open_socket()
        await ws.send(json.dumps(frame))
        event = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert event["type"] == "refused"
        assert ws.close_code is not None
        return event["text"], ws.close_code

    join = {"type": "join", "room": room["room"], "name": "Bo", "client": new_secret()}
    text, code = await refusal({**join, "room": new_secret()})
    assert code == 4404 and "no room behind this link" in text
    text, code = await refusal({**join, "room": "../etc"})
    assert code == 4400 and "room link is not valid" in text
    text, code = await refusal({**join, "name": "  ann "})
    assert code == 4400 and "already called ann" in text
    text, code = await refusal({**join, "name": "storyloom"})
    assert "already called" in text
    text, code = await refusal({**join, "name": "\u200b \n"})
    assert "choose a name" in text
    text, code = await refusal({**join, "name": "x" * 33})
    assert "too long" in text
    text, code = await refusal({"type": "say", "text": "hello"})
    assert "Join the room first" in text
    text, code = await refusal({"type": "join"})
    assert "could not be used" in text


async def closed(player: Player) -> int | None:
    """Read until the server closes the connection; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            player.events.append(json.loads(await asyncio.wait_for(player.ws.recv(), WAIT_S)))
    return player.ws.close_code


async def test_broken_and_oversized_messages(make_playground: PlaygroundFactory) -> None:
    playground = await make_playground(web={"max_frame_bytes": 2048})
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann")

    await ann.ws.send("{not json")
    error = await ann.next(lambda e: e["type"] == "error")
    assert "not valid JSON" in error["text"]
    await ann.send(type="dance")
    error = await ann.next(lambda e: e["type"] == "error")
    assert "could not be used" in error["text"]
    await ann.press("story:continue:")  # never shown in this room: forged
    notice = await ann.next(lambda e: e["type"] == "message")
    assert notice["private"] and "no longer works" in notice["text"]
    await ann.send(type="ping")
    await ann.next(lambda e: e["type"] == "pong")  # the connection is still fine

    await ann.say("x" * 3000)  # over the limit: explained, then the connection is closed
    error = await ann.next(lambda e: e["type"] == "error")
    assert "larger than 2,048 bytes" in error["text"]
    assert await closed(ann) == 1009

    bo = await playground.join(room["room"], "Bo")
    await bo.say("x" * 5000)  # far over: cut off before it is even read
    assert await closed(bo) == 1009


async def test_long_messages_are_refused_by_the_router_and_not_shown(
    make_playground: PlaygroundFactory,
) -> None:
    playground = await make_playground(router={"max_message_chars": 100})
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann")
    bo = await playground.join(room["room"], "Bo")
    await ann.say("/story start " + "a long premise " * 20)
    refused = await ann.message()
    assert refused["private"] and "too long" in refused["text"]
    await ann.say("short")
    await bo.message(bot=False, contains="short")
    assert not any("long premise" in e.get("text", "") for e in bo.events)


async def test_chat_lines_share_the_routers_rate_limit(
    make_playground: PlaygroundFactory,
) -> None:
    playground = await make_playground(router={"user_rate": 3, "user_per_s": 60.0})
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann")
    for i in range(4):
        await ann.say(f"line {i}")
    notice = await ann.next(lambda e: e["type"] == "message" and e["from"]["bot"])
    assert notice["private"] and "Slow down" in notice["text"]
    shown = [e["text"] for e in ann.events if e["type"] == "message" and not e["from"]["bot"]]
    assert shown == ["line 0", "line 1", "line 2"]


async def test_chat_lines_share_the_routers_channel_limit_too(
    make_playground: PlaygroundFactory,
) -> None:
    playground = await make_playground(router={"channel_rate": 2, "channel_per_s": 60.0})
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann")
    bo = await playground.join(room["room"], "Bo")  # a second name does not buy more lines
    await ann.say("one")
    await bo.message(bot=False, contains="one")
    await bo.say("two")
    await bo.say("three")
    notice = await bo.next(lambda e: e["type"] == "message" and e["from"]["bot"])
    assert notice["private"] and "Slow down" in notice["text"]
    shown = [e["text"] for e in bo.events if e["type"] == "message" and not e["from"]["bot"]]
    assert shown == ["one", "two"]  # all the room saw before the notice: "three" was not shown


async def test_room_creation_is_limited_per_address(make_playground: PlaygroundFactory) -> None:
    playground = await make_playground(web={"rooms_per_hour": 2})
    await playground.create_room()
    await playground.create_room()
    response = await playground.http.post("/api/rooms", json={}, headers={})
    assert response.status_code == 429 and "try again" in response.json()["error"]


async def test_room_names_are_checked(playground: Playground) -> None:
    for body, expected in (
        (b"[1]", "JSON object"),
        (json.dumps({"name": "x" * 61}).encode(), "too long"),
        (json.dumps({"name": 5}).encode(), "must be text"),
    ):
        response = await playground.http.post("/api/rooms", content=body)
        assert response.status_code == 400 and expected in response.json()["error"]
    big = await playground.http.post("/api/rooms", content=b" " * 10_000)
    assert big.status_code == 413


async def test_mentions_mean_nothing_and_html_stays_text(playground: Playground) -> None:
    room = await playground.create_room()
    ann = await playground.join(room["room"], "Ann")
    bo = await playground.join(room["room"], "Bo")
    hostile = '<img src=x onerror="alert(1)"> @everyone <script>alert(2)</script>'
    await ann.say(hostile)
    shown = await bo.message(bot=False, contains="<img")
    assert shown["text"].startswith('<img src=x onerror="alert(1)">')  # as typed: the page
    assert "@everyone" not in shown["text"] and "@\u200beveryone" in shown["text"]  # escapes
