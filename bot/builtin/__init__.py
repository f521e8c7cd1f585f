"""The plugins every app loads: ``core`` (help, plugin switches, privacy) and ``moderation``
(moderators' commands). They use the same public plugin API (:mod:`bot.plugin`) as third-party plugins."""
