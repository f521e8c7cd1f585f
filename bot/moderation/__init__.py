"""Moderation: filters and the pipeline that checks every text before it is posted.

The router calls :meth:`ModerationPipeline.check` on user input and on every model output, and
:func:`sanitize_output` on every post. See ``bot/moderation/pipeline.py`` for the filters.
"""

from bot.moderation.audit import AuditSink, MemoryAuditSink, format_mod_log
from bot.moderation.mentions import sanitize_output
from bot.moderation.personal_data import redact_personal_data
from bot.moderation.pipeline import ModerationPipeline, RulesProvider, StaticRulesProvider
from bot.moderation.settings import ModerationSettings
from bot.moderation.types import (
    Action,
    AuditEvent,
    Category,
    Direction,
    GuildRules,
    ModerationContext,
    Verdict,
)

__all__ = [
    "Action",
    "AuditEvent",
    "AuditSink",
    "Category",
    "Direction",
    "GuildRules",
    "MemoryAuditSink",
    "ModerationContext",
    "ModerationPipeline",
    "ModerationSettings",
    "RulesProvider",
    "StaticRulesProvider",
    "Verdict",
    "format_mod_log",
    "redact_personal_data",
    "sanitize_output",
]
