"""A real, tiny OpenAI-compatible HTTP server that misbehaves on purpose.

It speaks just enough HTTP/1.1 for ``/v1/completions`` and ``/v1/chat/completions`` with
``stream=true``: server-sent events in a chunked body. The first ``drop_first`` requests send
``chunks_before_drop`` events and then cut the TCP connection without finishing the chunked
body (what a crashed or restarted inference server looks like); later requests stream a whole
answer and ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import socket


class FlakySSEServer:
    """``async with FlakySSEServer() as url:`` gives ``http://127.0.0.1:PORT/v1``."""

    def __init__(
        self,
        *,
        drop_first: int = 1,
        chunks_before_drop: int = 2,
        words: tuple[str, ...] = ("The", " owl", " smiled", " and", " flew", " home", "."),
    ) -> None:
        self.drop_first = drop_first
        self.chunks_before_drop = chunks_before_drop
        self.words = words
        self.requests: list[dict[str, object]] = []
        self.dropped = 0
        self._server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._handle, sock=sock)
        port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for raw in head.split(b"\r\n"):
                name, _, value = raw.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = json.loads(await reader.readexactly(length)) if length else {}
            self.requests.append(body)
            chat = b"/chat/completions" in head.split(b"\r\n", 1)[0]
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            drop = len(self.requests) <= self.drop_first
            words = self.words[: self.chunks_before_drop] if drop else self.words
            for word in words:
                choice: dict[str, object] = {"index": 0, "finish_reason": None}
                if chat:
                    choice["delta"] = {"content": word}
                else:
                    choice["text"] = word
                self._chunk(writer, {"id": "x", "object": "text_completion", "choices": [choice]})
                await writer.drain()
                await asyncio.sleep(0.02)
            if drop:
                self.dropped += 1
                writer.transport.abort()  # mid-body: no final chunk, no [DONE]
                return
            self._chunk(
                writer,
                {
                    "id": "x",
                    "choices": [{"index": 0, "text": "", "delta": {}, "finish_reason": "stop"}],
                },
            )
            writer.write(_frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.transport.abort()

    @staticmethod
    def _chunk(writer: asyncio.StreamWriter, payload: dict[str, object]) -> None:
        writer.write(_frame(b"data: " + json.dumps(payload).encode() + b"\n\n"))


def _frame(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
