"""Buttons: ``Reply.buttons`` as a discord.ui view whose presses survive restarts.

A button's ``custom_id`` is its storyloom ``action_id`` (``plugin:action:arg``). The
:class:`ActionButton` dynamic item matches every such id, so a press on a message posted before
a restart still reaches the router as ``Incoming(kind=ACTION, action_id=...)``; nothing is kept
in memory per message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

import discord

from bot.types import Button, ButtonStyle

log = logging.getLogger(__name__)

ACTION_TEMPLATE = r"[a-z][a-z0-9_-]{0,31}:[^:]+(?::.*)?"
MAX_CUSTOM_ID = 100
MAX_LABEL = 80
MAX_BUTTONS = 25

_STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.SUCCESS: discord.ButtonStyle.success,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}


class ActionHandler(Protocol):
    """What a button press is handed to (the Discord adapter)."""

    async def on_action(self, interaction: discord.Interaction, action_id: str) -> None: ...


class ActionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=ACTION_TEMPLATE):
    """A persistent button carrying a storyloom action id."""

    def __init__(
        self,
        action_id: str,
        *,
        label: str = "",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                custom_id=action_id, label=label or None, style=style, disabled=disabled
            )
        )
        self.action_id = action_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionButton:
        label = getattr(item, "label", None) or ""
        style = getattr(item, "style", discord.ButtonStyle.secondary)
        return cls(match.group(0), label=label, style=style)

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: ActionHandler | None = getattr(interaction.client, "storyloom", None)
        if handler is None:
            log.warning("button %s pressed but no storyloom adapter is attached", self.action_id)
            return
        await handler.on_action(interaction, self.action_id)


def build_view(buttons: Sequence[Button]) -> discord.ui.View | None:
    """A persistent view (no timeout) with one :class:`ActionButton` per usable button."""
    view = discord.ui.View(timeout=None)
    seen: set[str] = set()
    for button in buttons:
        if len(view.children) >= MAX_BUTTONS:
            log.warning("more than %d buttons on one message; the rest are dropped", MAX_BUTTONS)
            break
        if len(button.action_id) > MAX_CUSTOM_ID or not re.fullmatch(
            ACTION_TEMPLATE, button.action_id
        ):
            log.warning("button %r has an unusable action id; dropped", button.label)
            continue
        if button.action_id in seen:
            log.warning(
                "two buttons share the action id of %r; the second is dropped", button.label
            )
            continue
        seen.add(button.action_id)
        view.add_item(
            ActionButton(
                button.action_id,
                label=button.label[:MAX_LABEL],
                style=_STYLES.get(button.style, discord.ButtonStyle.secondary),
                disabled=button.disabled,
            )
        )
    return view if view.children else None
