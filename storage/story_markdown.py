"""The Markdown form of a story export, written for people and read back by ``/story import``.

Layout (what :func:`render_markdown` writes and :func:`parse_markdown` reads)::

    # Title
    *Started by Ann on 2026-01-02 · mode: free*
    ## Premise / ## Memory / ## Author's note    (each optional)
    ## Lore                                       (- **key, key**: text)
    ## Story
    **Ann:** a player's turn                      (one paragraph per turn)
    the storyteller's turn
    *a note from the game*
    ---
    Written by Ann and the storyteller.

Each turn is one paragraph, so the turns come back as they were: a blank line inside a turn is
written as a line holding a single ``\\`` (a line break when rendered), and a storyteller's turn
that begins with ``*`` or ``\\`` gets a backslash in front (CommonMark shows the character
itself). Markdown carries names, not user ids: imported players' turns have no author id, and
the storyteller's turns take the ``narrator`` the importer names. Markdown written before the
``\\`` lines existed still reads, one paragraph per turn.
"""

from __future__ import annotations

import re
from typing import Any

from bot.errors import UsageError
from bot.records import TurnKind

PARAGRAPH_BREAK = "\\"
"""A line holding only this, inside a turn, stands for a blank line of the turn's text."""
UNTITLED = "Untitled story"
SECTIONS = {"Premise": "premise", "Memory": "memory", "Author's note": "author_note"}
_PLAYER = re.compile(r"^\*\*(?P<name>[^\n]+?):\*\*(?: (?P<text>.*))?$", re.S)
_BYLINE = re.compile(r"^\*Started by .* · mode: (?P<mode>[a-z-]+)\*$")
_LORE = re.compile(r"^- \*\*(?P<keys>.+?)\*\*: ?(?P<text>.*)$")
_HEADING = re.compile(r"^## (?P<name>.+?)\s*$")
_ESCAPED = ("*", "\\")


def render_markdown(doc: dict[str, Any]) -> str:
    """Markdown for an export document: header, premise, then the story with authors."""
    story = doc["story"]
    lines = [f"# {story['title'] or UNTITLED}", ""]
    started = story["created_at"][:10]
    lines += [f"*Started by {story['created_by_name']} on {started} · mode: {story['mode']}*", ""]
    for heading, key in SECTIONS.items():
        if story[key].strip():
            lines += [f"## {heading}", "", story[key].strip(), ""]
    if doc["lore"]:
        lines += ["## Lore", ""]
        lines += [f"- **{', '.join(e['keys'])}**: {e['text'].strip()}" for e in doc["lore"]]
        lines.append("")
    lines += ["## Story", ""]
    authors: dict[str, int] = {}
    for turn in doc["turns"]:
        text = _one_paragraph(turn["text"].strip())
        if turn["kind"] == TurnKind.PLAYER.value:
            lines += [f"**{turn['author_name']}:** {text}", ""]
            authors[turn["author_name"]] = authors.get(turn["author_name"], 0) + 1
        elif turn["kind"] == TurnKind.BOT.value:
            lines += ["\\" + text if text.startswith(_ESCAPED) else text, ""]
        else:
            lines += [f"*{text}*", ""]
    if authors:
        lines += [
            "---",
            "",
            "Written by " + ", ".join(sorted(authors)) + " and the storyteller.",
            "",
        ]
    return "\n".join(lines)


def _one_paragraph(text: str) -> str:
    return "\n".join(line if line.strip() else PARAGRAPH_BREAK for line in text.split("\n"))


def parse_markdown(text: str, *, narrator_id: str = "", narrator_name: str = "") -> dict[str, Any]:
    """The export document (the JSON form's fields) of a Markdown export; raises UsageError
    saying what is missing when ``text`` is not one."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not lines[first].startswith("# "):
        raise UsageError(
            "That Markdown file is not a story export: it should begin with the story's title "
            "(`# Title`), as `/story export md` writes it."
        )
    title = lines[first][2:].strip()
    headings = [
        (i, m["name"]) for i, line in enumerate(lines) if (m := _HEADING.match(line)) is not None
    ]
    story_at = next((i for i, name in headings if name == "Story"), None)
    if story_at is None:
        raise UsageError(
            "That Markdown file has no `## Story` section, so there are no turns to import. "
            "Use a file that `/story export md` wrote."
        )
    before = [(i, name) for i, name in headings if i < story_at]
    ends = [i for i, _ in before[1:]] + [story_at] if before else []
    sections = {
        name: "\n".join(lines[start + 1 : end]).strip()
        for (start, name), end in zip(before, ends, strict=True)
    }
    mode = "free"
    for line in lines[first + 1 : before[0][0] if before else story_at]:
        if (m := _BYLINE.match(line.strip())) is not None:
            mode = m["mode"]
    story: dict[str, Any] = {
        "title": "" if title == UNTITLED else title,
        "mode": mode,
        **{key: sections.get(heading, "") for heading, key in SECTIONS.items()},
    }
    lore = [
        {"keys": [k.strip() for k in m["keys"].split(",") if k.strip()], "text": m["text"]}
        for line in sections.get("Lore", "").split("\n")
        if (m := _LORE.match(line.strip())) is not None
    ]
    blocks = _blocks(lines[story_at + 1 :])
    if len(blocks) >= 2 and blocks[-2] == ["---"] and blocks[-1][0].startswith("Written by "):
        blocks = blocks[:-2]
    turns = [_turn(block, narrator_id, narrator_name) for block in blocks]
    return {"format": "storyloom.story", "version": 1, "story": story, "lore": lore, "turns": turns}


def _blocks(lines: list[str]) -> list[list[str]]:
    """Paragraphs: runs of non-blank lines."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _turn(block: list[str], narrator_id: str, narrator_name: str) -> dict[str, Any]:
    text = "\n".join("" if line == PARAGRAPH_BREAK else line for line in block)
    if (m := _PLAYER.match(text)) is not None:
        name = m["name"].strip()
        return _record(TurnKind.PLAYER, "", name, (m["text"] or "").strip())
    if len(text) >= 2 and text.startswith("*") and text.endswith("*") and text[1] != "*":
        return _record(TurnKind.SYSTEM, "", "", text[1:-1].strip())
    if text[:1] == "\\" and text[1:2] in _ESCAPED:
        text = text[1:]
    return _record(TurnKind.BOT, narrator_id, narrator_name, text)


def _record(kind: TurnKind, author_id: str, author_name: str, text: str) -> dict[str, Any]:
    return {"author_id": author_id, "author_name": author_name, "kind": kind.value, "text": text}
