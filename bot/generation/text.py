"""Turning generated tokens into text: incremental detokenizing and stop strings."""

from __future__ import annotations

from typing import Any

_REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    """Decodes one row's tokens a few at a time; cost per token does not grow with length."""

    __slots__ = ("_ids", "_prefix", "_read", "_tokenizer")

    def __init__(self, tokenizer: Any, context_ids: list[int] | tuple[int, ...] = ()) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = list(context_ids[-4:])
        self._prefix = 0
        self._read = len(self._ids)

    def push(self, token_id: int) -> str:
        """Add a token; return the text it completes (may be empty while a character is split)."""
        self._ids.append(token_id)
        decode = self._tokenizer.decode
        before = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after: str = decode(self._ids[self._prefix :], skip_special_tokens=True)
        if after.endswith(_REPLACEMENT) or len(after) <= len(before):
            return ""
        self._prefix = self._read
        self._read = len(self._ids)
        if len(self._ids) > 64:  # keep the window short
            drop = self._prefix
            self._ids = self._ids[drop:]
            self._prefix -= drop
            self._read -= drop
        return after[len(before) :]

    def flush(self) -> str:
        """At the end: whatever is still held back (even an incomplete character)."""
        decode = self._tokenizer.decode
        before = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self._ids[self._prefix :], skip_special_tokens=True)
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""


class StopScanner:
    """Accumulates text, finds stop strings, and says how much is safe to show.

    Text that might be the start of a stop string is held back until it is clear either way, so
    streamed text is always a prefix of the final text.
    """

    __slots__ = ("_emitted", "_stops", "stopped", "text")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self.text = ""
        self._emitted = 0
        self.stopped = False

    def feed(self, delta: str) -> str:
        """Add ``delta``; return newly safe text. Sets ``stopped`` when a stop string appears."""
        if self.stopped or not delta:
            return ""
        start = max(0, len(self.text) - max((len(s) for s in self._stops), default=0))
        self.text += delta
        if self._stops:
            cut = _first_stop(self.text, self._stops, start)
            if cut is not None:
                self.text = self.text[:cut]
                self.stopped = True
                return self._advance(len(self.text))
            return self._advance(len(self.text) - _held_back(self.text, self._stops))
        return self._advance(len(self.text))

    @property
    def shown(self) -> str:
        """The text handed out so far."""
        return self.text[: self._emitted]

    def flush(self) -> str:
        """At the end: everything not yet shown."""
        return self._advance(len(self.text))

    def _advance(self, upto: int) -> str:
        if upto <= self._emitted:
            return ""
        out = self.text[self._emitted : upto]
        self._emitted = upto
        return out


def _first_stop(text: str, stops: tuple[str, ...], start: int) -> int | None:
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    longest = min(max(len(s) for s in stops) - 1, len(text))
    for k in range(longest, 0, -1):
        tail = text[-k:]
        if any(s.startswith(tail) for s in stops):
            return k
    return 0
