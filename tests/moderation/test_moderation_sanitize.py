import pytest

from bot.moderation import redact_personal_data, sanitize_output
from bot.moderation.personal_data import find_personal_data

ZWSP = "\u200b"


def test_mass_mentions_are_broken_but_still_readable() -> None:
    out = sanitize_output("Hey @everyone and @here, gather round!")
    assert "@everyone" not in out and "@here" not in out
    assert out.replace(ZWSP, "") == "Hey @everyone and @here, gather round!"


@pytest.mark.parametrize(
    "mention",
    [
        "<@123456789012345678>",
        "<@!123456789012345678>",
        "<@&123456789012345678>",
        "<#123456789012345678>",
    ],
)
def test_user_role_and_channel_mentions_are_neutralised(mention: str) -> None:
    out = sanitize_output(f"ping {mention} now")
    assert mention not in out
    assert out.replace(ZWSP, "") == f"ping {mention} now"


@pytest.mark.parametrize(
    "link",
    ["discord.gg/abc123", "https://discord.com/invite/xyz-42", "http://discordapp.com/invite/q1"],
)
def test_invite_links_are_removed(link: str) -> None:
    out = sanitize_output(f"join {link} for loot")
    assert out == "join [invite link removed] for loot"


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("mail john.doe+tales@example.co.uk today", "[email removed]"),
        ("call +1 415 555 2671 now", "[phone removed]"),
        ("call (555) 123-4567 now", "[phone removed]"),
        ("call 020 7946 0958 now", "[phone removed]"),
        (
            "MTA4NzY1NDMyMTA5ODc2NTQzMg.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789",
            "[token removed]",
        ),
        ("key sk-abcdefghijklmnopqrstuvwxyz123456", "[key removed]"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", "[key removed]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "[key removed]"),
        ("card 4111 1111 1111 1111", "[card number removed]"),
    ],
)
def test_personal_data_is_redacted(text: str, placeholder: str) -> None:
    out = redact_personal_data(text)
    assert placeholder in out
    assert find_personal_data(out) == []


@pytest.mark.parametrize(
    "text",
    [
        "In 1492 Columbus sailed with 3000 men.",
        "The treasure was 12,500 gold coins on 12.5.2020.",
        "Chapter 7, verse 12: the dragon sleeps.",
        "the quick brown fox jumps over the lazy dog",
        "card 4111 1111 1111 1112",  # fails the Luhn check
        "#MakeAmericaGreatAgain2020Forever is a hashtag",
        "SuperCalifragilisticExpialidocious2 is a long word",
    ],
)
def test_story_numbers_are_not_personal_data(text: str) -> None:
    assert redact_personal_data(text) == text


def test_sanitize_is_idempotent() -> None:
    text = "@everyone mail a@b.io <@123456789012345678> discord.gg/x"
    once = sanitize_output(text)
    assert sanitize_output(once) == once
