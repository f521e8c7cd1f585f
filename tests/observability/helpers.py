"""Reading the real ``/metrics`` and ``/healthz`` endpoints over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> Samples:
    """Every sample ``/metrics`` serves, keyed by (sample name, labels)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def health(port: int, *, wait_for_server: bool = False) -> tuple[int, dict[str, Any]]:
    """``/healthz``'s status and JSON body; with ``wait_for_server``, retry until it listens."""
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    return response.status, await response.json()
            except aiohttp.ClientConnectorError:
                if not wait_for_server:
                    raise
                await asyncio.sleep(0.02)
