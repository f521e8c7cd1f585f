"""Files posted in rooms (story exports), kept briefly in memory and downloaded by link.

A reply's attachments are put on the shelf under an unguessable token; the message carries a
``/files/<token>/<name>`` link that only the room's members ever see. The shelf is bounded by
count, bytes and age. Downloads are always served as attachments with a plain content type, so
a file can never be rendered as a page of this site.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from bot.adapters.web.rooms import new_secret
from bot.types import Attachment

SAFE_TYPES = frozenset({"text/plain", "text/markdown", "application/json"})


@dataclass(frozen=True, slots=True)
class Shelved:
    attachment: Attachment
    expires: float


class FileShelf:
    """Attachments by token: at most ``max_files`` and ``max_bytes``, each for ``ttl_s``."""

    def __init__(
        self,
        *,
        max_files: int = 256,
        max_bytes: int = 64 * 1024 * 1024,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files: OrderedDict[str, Shelved] = OrderedDict()
        self._max_files = max_files
        self._max_bytes = max_bytes
        self._ttl = ttl_s
        self._clock = clock
        self._bytes = 0

    def put(self, attachment: Attachment) -> dict[str, object]:
        """Shelve ``attachment``; returns what a message shows: name, size and download link."""
        token = new_secret()
        self._files[token] = Shelved(attachment, self._clock() + self._ttl)
        self._bytes += len(attachment.data)
        self._evict()
        return {
            "name": attachment.filename,
            "size": len(attachment.data),
            "url": f"/files/{token}/{quote(attachment.filename, safe='')}",
        }

    def get(self, token: str) -> Attachment | None:
        self._evict()
        shelved = self._files.get(token)
        return shelved.attachment if shelved is not None else None

    def _evict(self) -> None:
        now = self._clock()
        while self._files:
            token, oldest = next(iter(self._files.items()))
            if (
                oldest.expires > now
                and len(self._files) <= self._max_files
                and self._bytes <= self._max_bytes
            ):
                break
            del self._files[token]
            self._bytes -= len(oldest.attachment.data)


def download_type(attachment: Attachment) -> str:
    """The Content-Type a download is served with: the attachment's own if it is plain text or
    JSON, else a byte stream."""
    kind = attachment.content_type.split(";")[0].strip().lower()
    if kind in SAFE_TYPES:
        return f"{kind}; charset=utf-8"
    return "application/octet-stream"
