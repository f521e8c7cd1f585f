"""Container health check: ``python -m bot.adapters.discord.health`` (the image's HEALTHCHECK).

Asks the running process itself, on this machine:

1. ``/healthz`` on the ``[metrics]`` port (``storyloom run`` serves it by default): its answer
   decides — 200 when the model is loaded, the database answers and the bot is connected to
   Discord (or reconnecting for under two minutes); 503 otherwise.
2. Nothing listens there: ``/healthz`` on the ``[web]`` port (``storyloom web``).
3. Neither: the heartbeat file that ``storyloom run`` writes every 30 s while connected
   (``[metrics] enabled = false``), younger than ``--max-age`` seconds.

Exits 0 when healthy, 1 otherwise, printing why. Settings are read as the bot reads them (the
``--config`` file or ``$STORYLOOM_CONFIG``, and ``STORYLOOM_*`` variables), so a changed port is
followed.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.adapters.discord.runner import HEARTBEAT_FILE

PROBE_TIMEOUT_S = 5.0
LOCAL_HOSTS = ("", "0.0.0.0", "::", "127.0.0.1", "localhost")


def check(data_dir: Path, max_age_s: float, *, now: float | None = None) -> tuple[bool, str]:
    """Whether the heartbeat in ``data_dir`` is younger than ``max_age_s``, and why not."""
    path = data_dir / HEARTBEAT_FILE
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False, f"no heartbeat at {path} (not connected to Discord yet?)"
    if age > max_age_s:
        return False, f"last heartbeat {age:.0f}s ago (limit {max_age_s:.0f}s)"
    return True, f"heartbeat {age:.0f}s ago"


def probe(host: str, port: int) -> tuple[int, str] | None:
    """``GET /healthz`` on ``host:port``: (status, body), or None when nothing listens."""
    address = "127.0.0.1" if host in LOCAL_HOSTS else host
    url = f"http://{address}:{port}/healthz"
    if ":" in address:
        url = f"http://[{address}]:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None


def diagnose(
    *, metrics: tuple[str, int] | None, web: tuple[str, int], data_dir: Path, max_age_s: float
) -> tuple[bool, str]:
    """(healthy, why), trying the metrics port (unless it is off), the web port, the heartbeat."""
    if metrics is not None:
        answer = probe(*metrics)
        if answer is not None:
            status, body = answer
            return status == 200, f"/healthz on port {metrics[1]}: {status} {body.strip()}"
    answer = probe(*web)
    if answer is not None:
        status, body = answer
        return status == 200, f"storyloom web /healthz on port {web[1]}: {status} {body.strip()}"
    ok, why = check(data_dir, max_age_s)
    if not ok and metrics is not None:
        why = f"nothing answers on port {metrics[1]} or {web[1]}; {why}"
    return ok, why


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="See the module documentation for the order of the checks.",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=120.0,
        help="seconds a heartbeat file stays good, when no port answers (default 120)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="where the heartbeat is")
    parser.add_argument("--config", type=Path, default=None, help="the bot's settings file")
    args = parser.parse_args(argv)
    from bot.config import load_settings
    from bot.errors import ConfigError

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"unhealthy: the settings do not load: {exc}")
        return 1
    served = settings.metrics.enabled is not False
    metrics = (settings.metrics.host, settings.metrics.port) if served else None
    ok, detail = diagnose(
        metrics=metrics,
        web=(settings.web.host, settings.web.port),
        data_dir=args.data_dir or settings.data_dir,
        max_age_s=args.max_age,
    )
    print(("healthy: " if ok else "unhealthy: ") + detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
