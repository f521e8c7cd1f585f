"""The playground in a real browser: Debian's Chromium driven by Playwright, two people in one
room (a laptop and a phone), the real app behind it (bundled model, SQLite file).

``STORYLOOM_WEB_SCREENSHOTS=docs`` also writes the screenshots the docs show
(``docs/web-playground.png``, ``docs/web-playground-phone.png``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from bot.adapters.web.rooms import room_id
from tests.adapters.web.conftest import WAIT_S, Playground, StreamGate

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = WAIT_S * 1000
LAPTOP = {"viewport": {"width": 1100, "height": 760}}
PHONE = {
    "viewport": {"width": 390, "height": 760},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is missing: `make setup` installs it (scripts/setup.sh), or run "
            "`apt-get install -y chromium`"
        )
    return CHROMIUM


def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: $STORYLOOM_WEB_SCREENSHOTS (e.g. docs) or the test's tmp_path."""
    folder = Path(os.environ.get("STORYLOOM_WEB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    expect.set_options(timeout=WAIT_MS)  # an upper bound: every wait ends when its condition holds
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, timeout=WAIT_MS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def person(browser: Browser, playground: Playground, **options: object) -> Page:
    context: BrowserContext = await browser.new_context(base_url=playground.url, **options)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def start_room(page: Page, name: str, room: str) -> str:
    """Start a room from the landing page; returns the room's link."""
    await page.goto("/")
    await page.fill("#create-name", name)
    await page.fill("#create-room", room)
    await page.click("#create-button")
    await expect(page.locator("#room")).to_be_visible()
    return page.url


async def join_room(page: Page, link: str, name: str) -> None:
    await page.goto(link)
    await page.fill("#join-name", name)
    await page.click("#join-button")
    await expect(page.locator("#room")).to_be_visible()


async def two_in_a_room(
    browser: Browser,
    playground: Playground,
    room: str,
    *,
    second: str = "Bo",
    phone: bool = False,
) -> tuple[Page, Page, str]:
    """Ann starts ``room`` on a laptop; ``second`` joins with its link (on a phone if asked)."""
    ann = await person(browser, playground, **LAPTOP)
    other = await person(browser, playground, **(PHONE if phone else LAPTOP))
    link = await start_room(ann, "Ann", room)
    await join_room(other, link, second)
    return ann, other, link


async def say(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def storyteller(page: Page, text: str = "") -> Locator:
    messages = page.locator(".msg.bot:not(.private)")
    return messages.filter(has_text=text) if text else messages


def is_png(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(8) == b"\x89PNG\r\n\x1a\n"


def no_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], page.errors  # type: ignore[attr-defined]


async def test_two_people_share_a_room_and_watch_the_story_being_written(
    browser: Browser, playground: Playground, tmp_path: Path
) -> None:
    ann, bo, link = await two_in_a_room(browser, playground, "Lighthouse club", phone=True)
    assert "#" in link and len(link.split("#", 1)[1]) >= 22
    for page in (ann, bo):
        await expect(page.locator("#people-count")).to_have_text("👥 2 here")
        await expect(page.locator("#room-name")).to_have_text("Lighthouse club")
        await expect(page.locator(".hint-empty")).to_contain_text("New story")  # how to begin

    await say(ann, "/story start A lighthouse keeper finds a glowing map in the attic.")
    for page in (ann, bo):
        await expect(storyteller(page, "lighthouse keeper")).to_have_count(1)
        await expect(page.locator(".hint-empty")).to_have_count(0)
    await say(bo, "The keeper climbs the stairs with a lantern.")
    await expect(ann.locator(".msg:not(.bot)", has_text="climbs the stairs")).to_be_visible()
    await expect(
        ann.locator(".msg:not(.bot)", has_text="climbs the stairs").locator(".who")
    ).to_have_text("Bo")

    gate = StreamGate(playground.app.generation).install()
    try:
        await bo.click("nav.tools >> text=Continue")
        await gate.wait_paused()  # the storyteller is in the middle of writing
        room = playground.adapter.rooms.find(room_id(link.split("#", 1)[1]))
        assert room is not None
        partial = dict(list(room.history.values())[-1])  # what the room was sent so far
        assert partial["from"]["bot"] and partial["text"].strip() and not partial["buttons"]
        for page in (ann, bo):
            message = page.locator(f'.msg[data-id="{partial["id"]}"]')
            await expect(message.locator(".body")).to_have_text(partial["text"])
            assert await message.locator("button").count() == 0  # not finished: no buttons yet
    finally:
        gate.remove()
    finals = []
    for page in (ann, bo):  # the same message grows into the finished text, with its buttons
        message = page.locator(f'.msg[data-id="{partial["id"]}"]')
        await expect(message.locator("button", has_text="Undo")).to_be_visible()
        finals.append(await message.locator(".body").inner_text())
    assert finals[0] == finals[1] != partial["text"]

    # The phone layout: the message box and the send button are on screen, nothing overflows.
    box = await bo.locator("#send").bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["viewport"]["height"]  # type: ignore[index]
    overflow = await bo.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False

    await ann.click("#invite")
    await expect(ann.locator("#invite-link")).to_have_value(link)
    await ann.click("#invite")
    await ann.click("#people-toggle")
    await expect(ann.locator("#people li")).to_have_text(["Ann host", "Bo"])
    shots = screenshots(tmp_path)
    await ann.screenshot(path=str(shots / "web-playground.png"))
    await bo.screenshot(path=str(shots / "web-playground-phone.png"))
    for name in ("web-playground.png", "web-playground-phone.png"):
        assert is_png(shots / name)
    no_errors(ann, bo)


async def test_a_vote_with_two_players(browser: Browser, playground: Playground) -> None:
    ann, bo, _ = await two_in_a_room(browser, playground, "Vote night")
    await say(ann, "/story start mode=vote A haunted library where the books whisper.")
    await expect(storyteller(bo, "haunted library")).to_have_count(1)
    joined = await storyteller(ann).count()
    await say(bo, "/story join")
    await expect(storyteller(ann)).to_have_count(joined + 1)

    await say(ann, "/story continue")
    ballots = []
    for page in (ann, bo):
        ballot = storyteller(page).filter(has=page.locator("button", has_text="Vote 2")).last
        await expect(ballot).to_be_visible()
        ballots.append(ballot)
    before = {page: await storyteller(page).count() for page in (ann, bo)}

    await ballots[0].locator("button", has_text="Vote 1").click()
    await expect(ann.locator(".msg.private.bot")).to_have_count(1)  # "your vote is in": Ann's
    await ballots[1].locator("button", has_text="Vote 2").click()
    for page in (ann, bo):  # both voted: the vote closes and everyone sees the outcome
        await expect(storyteller(page)).to_have_count(before[page] + 1)
    outcome = [await storyteller(page).last.inner_text() for page in (ann, bo)]
    assert outcome[0] == outcome[1] and outcome[0].strip()
    assert await bo.locator(".msg.private.bot").count() == 0  # Ann's notice stayed hers
    no_errors(ann, bo)


async def test_hostile_text_stays_text(browser: Browser, playground: Playground) -> None:
    ann, bo, _ = await two_in_a_room(
        browser, playground, '<i id="pwn-room">club</i>', second='<b id="pwn-name">Bo</b>'
    )
    hostile = (
        '<img src=x onerror="window.__pwned = 1"> <script>window.__pwned = 2</script> '
        '<a href="javascript:window.__pwned=3">link</a> **bold** @everyone'
    )
    await say(bo, hostile)
    await say(ann, "/story start " + hostile)
    for page in (ann, bo):
        line = page.locator(".msg:not(.bot)", has_text="onerror").first
        await expect(line).to_be_visible()
        await expect(storyteller(page, "window.__pwned")).to_have_count(1)
        assert "<img src=x onerror=" in await line.locator(".body").inner_text()
        assert await line.locator(".body strong").inner_text() == "bold"  # the safe subset
        injected = await page.evaluate(
            """() => ({
              elements: document.querySelectorAll(
                "#log img, #log script, #log a:not([download]), #log i, #log b, "
                + "#people b, #room-name *").length,
              pwned: window.__pwned ?? null,
              room: document.getElementById("room-name").textContent,
            })"""
        )
        assert injected == {"elements": 0, "pwned": None, "room": '<i id="pwn-room">club</i>'}
        await expect(page.locator("#people li", has_text='<b id="pwn-name">Bo</b>')).to_have_count(
            1
        )
    no_errors(ann, bo)
