from bot.moderation import (
    Direction,
    MemoryAuditSink,
    ModerationContext,
    ModerationPipeline,
    ModerationSettings,
    generate_checked,
)

CTX = ModerationContext(Direction.OUTPUT, guild_id="g", channel_id="c")


def pipeline(audit: MemoryAuditSink) -> ModerationPipeline:
    return ModerationPipeline(
        ModerationSettings(classifier_enabled=False, max_regen_attempts=2), audit=audit
    )


async def test_blocked_output_is_regenerated_and_never_returned() -> None:
    audit = MemoryAuditSink()
    candidates = iter(["the shit hit the fan", "the dragon roared, @everyone ran"])
    seen: list[tuple[int, tuple[str, ...]]] = []

    async def generate(attempt: int, rejected: tuple[str, ...]) -> str:
        seen.append((attempt, rejected))
        return next(candidates)

    result = await generate_checked(pipeline(audit), generate, CTX)
    assert not result.refused and result.attempts == 2
    assert "shit" not in result.text and "@everyone" not in result.text  # sanitised too
    assert seen == [(0, ()), (1, ("the shit hit the fan",))]
    assert [e.action for e in audit.events] == ["block"]


async def test_refusal_after_too_many_blocked_outputs() -> None:
    audit = MemoryAuditSink()
    posted: list[str] = []

    async def generate(attempt: int, rejected: tuple[str, ...]) -> str:
        return f"fuck number {attempt}"

    result = await generate_checked(pipeline(audit), generate, CTX)
    posted.append(result.text)
    assert result.refused and result.attempts == 3
    assert posted == [ModerationSettings().refusal_message]
    assert len(audit.events) == 3
