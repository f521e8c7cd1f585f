"""``python -m bench NAME [options]``: run one benchmark from a source checkout.

``python -m bench NAME --help`` explains a benchmark's options; each is also
``python -m bench.<module>``. Results are JSON files under ``bench/results/``.
"""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = {
    "generation": "naive per-request generate vs. the service vs. one bare static batch",
    "context": "prompt assembly for 100 vs 100,000 turns; durable turns/s from 50 writers",
    "load": "the full path under load: channels of players, latency, nothing lost",
    "model-speed": "one-core tokens/s of the bundled model for one request",
    "poems": "form-valid rate of generated poems per form",
    "quality": "writing quality of stories, poems and headlines through the real app",
    "scale": "2 and 4 bot processes on one PostgreSQL and one inference server vs one; SIGKILL",
    "banned-words": "regenerations saved by keeping banned words out of sampling",
}


def usage() -> str:
    lines = ["usage: python -m bench NAME [options]   (python -m bench NAME --help)", ""]
    lines += [f"  {name:<12} {what}" for name, what in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    sys.argv = [f"python -m bench {name}", *rest]
    runpy.run_module(f"bench.{name.replace('-', '_')}", run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
