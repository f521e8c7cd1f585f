"""Adapters: turn a chat platform's events into :class:`bot.types.Incoming` and answer them.

``console`` drives the router from a terminal or a JSON-lines script; ``discord`` runs storyloom as a
Discord bot (slash commands, prefix commands, buttons, streaming edits, sharding); ``web`` serves
group story rooms to browsers over WebSockets (``storyloom web``).
"""
