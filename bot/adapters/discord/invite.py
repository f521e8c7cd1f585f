"""The invite link: the OAuth2 URL that adds the bot to a server with the permissions it needs."""

from __future__ import annotations

import discord

REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,  # /story start thread=yes
    read_message_history=True,  # replies to the message that asked
    attach_files=True,  # story exports
)
"""What storyloom needs in the channels where it plays (no administrator, no mentions)."""

SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int | str) -> str:
    """The URL a server admin opens to add the bot (``application_id`` is the app's client id)."""
    return discord.utils.oauth_url(
        int(application_id), permissions=REQUIRED_PERMISSIONS, scopes=SCOPES
    )
