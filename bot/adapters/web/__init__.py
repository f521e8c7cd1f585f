"""storyloom in the browser: group story rooms over WebSockets (``storyloom web``).

- :class:`WebAdapter` wraps a started :class:`~bot.app.App` (the same router, plugins,
  moderation and storage as Discord and the console); ``WebAdapter(app, settings).asgi()`` is
  the ASGI application (tests serve it with uvicorn on a free port).
- :func:`run_web` is ``storyloom web``: the bundled model and a SQLite file by default.

The page is plain HTML, CSS and JavaScript in ``static/`` (no build step). See ``docs/web.md``.
Importing this package needs the ``web`` extra (Starlette, uvicorn, websockets).
"""

from bot.adapters.web.adapter import WebAdapter, origin_allowed
from bot.adapters.web.runner import run_web, serve

__all__ = ["WebAdapter", "origin_allowed", "run_web", "serve"]
