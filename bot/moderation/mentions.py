"""Mentions and invite links: detection and neutralisation for everything the bot posts."""

from __future__ import annotations

import regex

from bot.moderation.personal_data import redact_personal_data

_ZWSP = "\u200b"
MASS_MENTION = regex.compile(r"@(everyone|here)\b", regex.IGNORECASE)
ENTITY_MENTION = regex.compile(r"<(@[!&]?|#)(\d{15,25})>")
INVITE = regex.compile(
    r"(?:https?://)?(?:www\.)?"
    r"(?:discord(?:app)?\.com/invite|discord\.(?:gg|io|me|li)|dsc\.gg|invite\.gg)"
    r"\s*/\s*[\w-]+",
    regex.IGNORECASE,
)
INVITE_PLACEHOLDER = "[invite link removed]"


def has_mass_mention(text: str) -> bool:
    return MASS_MENTION.search(text) is not None


def has_invite(text: str) -> bool:
    return INVITE.search(text) is not None


def neutralize_mentions(text: str) -> str:
    """Break @everyone/@here and user/role/channel mentions with a zero-width space; drop invites.

    The text still reads the same ("@everyone", "<@123...>") but Discord no longer pings anyone.
    Use it together with ``AllowedMentions.none()`` in the adapter.
    """
    text = INVITE.sub(INVITE_PLACEHOLDER, text)
    text = MASS_MENTION.sub(lambda m: "@" + _ZWSP + m.group(1), text)
    return ENTITY_MENTION.sub(lambda m: f"<{m.group(1)}{_ZWSP}{m.group(2)}>", text)


def sanitize_output(text: str) -> str:
    """Make a text safe to post: neutralise mentions and invites, redact personal data.

    Used by the router on every post, streamed partial texts included. Idempotent.
    """
    return neutralize_mentions(redact_personal_data(text))
