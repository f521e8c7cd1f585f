"""Personal data and secrets: detection for verdicts and redaction for posts and stored prompts."""

from __future__ import annotations

import re
from dataclasses import dataclass

import regex


@dataclass(frozen=True, slots=True)
class PersonalDataKind:
    name: str
    placeholder: str
    secret: bool
    pattern: regex.Pattern[str]
    gate: re.Pattern[str]
    """A cheap pattern that must occur for ``pattern`` to be worth running (most texts have
    no candidate at all, and the full patterns' look-arounds are costly)."""


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


KINDS: tuple[PersonalDataKind, ...] = (
    PersonalDataKind(
        "discord_token",
        "[token removed]",
        True,
        regex.compile(r"(?<![\w-])[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}(?![\w-])"),
        re.compile(r"\."),
    ),
    PersonalDataKind(
        "api_key",
        "[key removed]",
        True,
        regex.compile(
            r"(?<![\w-])(?:"
            r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI / Anthropic style
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
            r"|hf_[A-Za-z0-9]{30,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}"
            r"|AKIA[0-9A-Z]{16}"
            r"|AIza[0-9A-Za-z_-]{35}"
            r"|glpat-[A-Za-z0-9_-]{20,}"
            r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
            r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # JWT
            r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
            r")(?![\w-])"
            # Long random-looking strings: 32+ chars mixing upper, lower case and several digits
            # (not hashtags or mentions).
            r"|(?<![\w/+=#@-])(?=[A-Za-z0-9_-]{32,}(?![\w/+=-]))(?=(?:[^\s\d]*\d){3})"
            r"(?=[^\s]*[a-z])(?=[^\s]*[A-Z])[A-Za-z0-9_-]{32,}(?![\w/+=-])"
        ),
        re.compile(r"[A-Za-z0-9_-]{15,}|-----BEGIN"),
    ),
    PersonalDataKind(
        "email",
        "[email removed]",
        False,
        regex.compile(
            r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"
        ),
        re.compile(r"@"),
    ),
    PersonalDataKind(
        "card_number",
        "[card number removed]",
        False,
        regex.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
        re.compile(r"(?:\d[ -]?){13}"),
    ),
    PersonalDataKind(
        "phone",
        "[phone removed]",
        False,
        regex.compile(
            r"(?<![\w+])(?:"
            r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){2,4}"  # +44 20 7946 0958
            r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (555) 123-4567
            r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
            r"|0\d{2,4}[\s-]\d{3,4}[\s-]\d{3,4}"  # 020 7946 0958
            r")(?![\w])"
        ),
        re.compile(r"\d{3}"),
    ),
)


@dataclass(frozen=True, slots=True)
class PersonalDataHit:
    kind: str
    secret: bool
    start: int
    end: int


def find_personal_data(text: str) -> list[PersonalDataHit]:
    """Personal data and secrets in ``text``, earliest first, without overlaps."""
    hits: list[PersonalDataHit] = []
    for kind in KINDS:
        if kind.gate.search(text) is None:
            continue
        for match in kind.pattern.finditer(text):
            if kind.name == "card_number" and not _luhn_ok(match.group()):
                continue
            if any(h.start < match.end() and match.start() < h.end for h in hits):
                continue
            hits.append(PersonalDataHit(kind.name, kind.secret, match.start(), match.end()))
    return sorted(hits, key=lambda h: h.start)


_PLACEHOLDERS = {k.name: k.placeholder for k in KINDS}


def redact_personal_data(text: str) -> str:
    """Replace personal data and secrets with placeholders like ``[email removed]``."""
    hits = find_personal_data(text)
    if not hits:
        return text
    parts: list[str] = []
    position = 0
    for hit in hits:
        parts.append(text[position : hit.start])
        parts.append(_PLACEHOLDERS[hit.kind])
        position = hit.end
    parts.append(text[position:])
    return "".join(parts)
