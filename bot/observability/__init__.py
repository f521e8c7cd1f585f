"""What an operator watches: Prometheus metrics, ``/healthz``, and the fields of structured logs.

- :mod:`~bot.observability.scope`: the incoming event being handled (guild, channel, plugin,
  command), kept in a context variable by the router; log records and metric labels read it.
- :mod:`~bot.observability.metrics`: the bot process's metrics (:class:`BotMetrics`).
- :mod:`~bot.observability.server`: ``/metrics`` and ``/healthz`` on a local port (``[metrics]``).
"""
