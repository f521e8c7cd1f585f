"""The bot's /metrics, scraped over HTTP from a real app after real events through the console
adapter and the router: commands by plugin/command/outcome, moderation verdicts, storage and
generation timings."""

from __future__ import annotations

import json
from typing import Annotated, ClassVar

import pytest

from bot import __version__
from bot.adapters.console import run_jsonl
from bot.errors import ConfigError
from bot.generation.types import GenerationRequest, SamplingParams
from bot.models import BUNDLED_MODEL_NAME
from bot.observability.metrics import filter_of, outcome_of
from bot.plugin import Call, Param, Plugin, command
from tests.conftest import AppFactory
from tests.observability.helpers import scrape, value


class Probe(Plugin):
    name: ClassVar[str] = "probe"
    description: ClassVar[str] = "Answers, or fails, on request."

    @command("probe", description="Say it back.")
    async def probe(self, call: Call, text: Annotated[str, Param("Text", rest=True)]) -> str:
        return f"heard {len(text)} characters"

    @command("explode", description="Fails.")
    async def explode(self, call: Call) -> str:
        raise RuntimeError("a bug in a plugin")


def lines(*texts: str) -> list[str]:
    return [json.dumps({"user": "ann", "text": text}) for text in texts]


async def test_commands_moderation_and_storage_are_counted(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Probe], metrics={"enabled": True, "port": 0})
    assert app.metrics_server is not None and app.metrics_server.port > 0
    port = app.metrics_server.port
    before = await scrape(port)
    assert (
        value(before, "storyloom_commands_total", plugin="probe", command="probe", outcome="ok")
        == 0
    )

    out = await run_jsonl(
        app,
        lines(
            "/probe a lighthouse keeper finds a map",
            "/probe what the fuck",
            "/explode",
            "/nosuch thing",
            "just chatting about the weather",
        ),
    )
    assert [o["kind"] for o in out] == ["message", "notice", "notice", "notice"]
    after = await scrape(port)

    def commands(plugin: str, cmd: str, outcome: str) -> float:
        return value(after, "storyloom_commands_total", plugin=plugin, command=cmd, outcome=outcome)

    assert commands("probe", "probe", "ok") == 1
    assert commands("probe", "probe", "blocked") == 1
    assert commands("probe", "explode", "error") == 1
    assert commands("", "", "unknown") == 1
    assert value(after, "storyloom_events_total", kind="message") == 5  # the chat line too
    assert value(after, "storyloom_command_seconds_count", plugin="probe", command="probe") == 2
    # Nothing that people wrote becomes a label.
    assert not any("weather" in v or "lighthouse" in v for (_, ls) in after for _, v in ls)

    def verdicts(direction: str, filter_: str, verdict: str) -> float:
        return value(
            after,
            "storyloom_moderation_verdicts_total",
            direction=direction,
            filter=filter_,
            verdict=verdict,
        )

    assert verdicts("input", "keyword:builtin", "block") == 1
    assert verdicts("input", "none", "allow") >= 1
    assert verdicts("output", "none", "allow") >= 1  # the probe's reply, checked before posting

    for operation in ("read", "batch"):  # settings reads; the chat line's group commit
        name = "storyloom_storage_seconds_count"
        assert value(after, name, operation=operation) > value(before, name, operation=operation)


async def test_generation_queue_wait_and_latency(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Probe], metrics={"enabled": True, "port": 0})
    assert app.metrics_server is not None
    port = app.metrics_server.port
    before = await scrape(port)
    model = app.generation.model_name
    assert model.endswith(BUNDLED_MODEL_NAME)
    assert value(before, "storyloom_build_info", version=__version__, model=model) == 1
    request = GenerationRequest(
        prompt="Once upon a time", params=SamplingParams(max_new_tokens=8, seed=1)
    )
    result = await app.generation.complete(request)
    assert result.completion_tokens > 0
    after = await scrape(port)
    completed = {"outcome": "completed"}
    assert value(after, "storyloom_generation_request_seconds_count", **completed) == 1
    assert value(after, "storyloom_generation_request_seconds_sum", **completed) > 0
    assert value(after, "storyloom_generation_queue_wait_seconds_count") == 1
    assert value(after, "storyloom_generation_queue_depth") == 0
    assert value(after, "storyloom_generation_active") == 0


async def test_the_app_counts_without_serving_and_a_taken_port_is_a_clear_error(
    make_app: AppFactory,
) -> None:
    quiet = await make_app(plugin_classes=[Probe])  # [metrics] unset: not served (play, tests)
    assert quiet.metrics_server is not None and not quiet.metrics_server.serving
    await run_jsonl(quiet, lines("/probe hello"))
    labels = {"plugin": "probe", "command": "probe", "outcome": "ok"}
    assert quiet.metrics.registry.get_sample_value("storyloom_commands_total", labels) == 1

    serving = await make_app(plugin_classes=[Probe], metrics={"enabled": True, "port": 0})
    assert serving.metrics_server is not None
    taken = serving.metrics_server.port
    with pytest.raises(ConfigError, match=rf"127\.0\.0\.1:{taken}.*\[metrics\] port"):
        await make_app(plugin_classes=[Probe], metrics={"enabled": True, "port": taken})


def test_outcomes_and_filter_families() -> None:
    from bot.errors import Blocked, Overloaded, RateLimited, StateError

    assert outcome_of(None) == "ok"
    assert outcome_of(Blocked("no", category="profanity", rule="keyword:builtin")) == "blocked"
    assert outcome_of(RateLimited("slow", retry_after=1.0)) == "rate_limited"
    assert outcome_of(Overloaded(position=3)) == "busy"
    assert outcome_of(StateError("no story")) == "refused"
    assert outcome_of(KeyError("x")) == "error"
    assert filter_of("") == "none"
    assert filter_of("keyword:custom") == "keyword:custom"
    assert filter_of("regex:3:timeout") == "regex"
    assert filter_of("personal_data:email") == "personal_data"
    assert filter_of("classifier") == "classifier"
