"""Helpers the generation tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds: state that another thread, task or server changes and
    that offers nothing to await (the test's timeout bounds the wait)."""
    while not condition():  # noqa: ASYNC110 - polled: nothing to await for this state
        await asyncio.sleep(0.005)
