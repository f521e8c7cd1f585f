"""Regression over the committed labelled cases (the evaluation script reports the same rates)."""

import json
from pathlib import Path

import pytest

from bot.moderation import Direction, ModerationContext, ModerationPipeline, ModerationSettings

CASES = Path(__file__).parent / "cases"
CTX = ModerationContext(Direction.INPUT)


def load(name: str) -> list[dict[str, str]]:
    return [
        json.loads(line) for line in (CASES / name).read_text(encoding="utf-8").splitlines() if line
    ]


@pytest.fixture(scope="module")
def pipeline() -> ModerationPipeline:
    return ModerationPipeline(ModerationSettings())


def test_at_least_95_percent_of_obfuscated_profanity_is_blocked(
    pipeline: ModerationPipeline,
) -> None:
    cases = load("obfuscated.jsonl")
    missed = [c["text"] for c in cases if not pipeline.check_sync(c["text"], CTX).blocked]
    assert len(cases) >= 100
    assert len(missed) <= 0.05 * len(cases), missed


def test_benign_and_story_cases_are_never_blocked(pipeline: ModerationPipeline) -> None:
    cases = load("benign.jsonl")
    blocked = [c["text"] for c in cases if pipeline.check_sync(c["text"], CTX).blocked]
    assert len(cases) >= 60
    assert blocked == []
