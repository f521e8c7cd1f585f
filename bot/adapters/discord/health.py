"""Container health check: ``python -m bot.adapters.discord.health [--max-age SECONDS]``.

Exits 0 when the bot wrote its heartbeat (while connected to Discord) recently, 1 otherwise. The
data directory is ``$STORYLOOM_DATA_DIR`` (default ``var``), as in the settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bot.adapters.discord.runner import HEARTBEAT_FILE


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-age", type=float, default=120.0, help="seconds (default 120)")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(os.environ.get("STORYLOOM_DATA_DIR", "var")).expanduser()
    ok, detail = check(data_dir, args.max_age)
    print(("healthy: " if ok else "unhealthy: ") + detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
