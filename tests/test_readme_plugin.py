"""The plugin in the README's "Writing a plugin" runs as written, through the public API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.adapters.console import run_jsonl
from bot.plugin import Plugin
from tests.conftest import AppFactory

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_plugin() -> type[Plugin]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Writing a plugin", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "the README's plugin example is missing"
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code.group(1), str(README), "exec"), namespace)
    plugins = [
        v for v in namespace.values() if isinstance(v, type) and issubclass(v, Plugin) and v.name
    ]
    assert len(plugins) == 1, plugins
    return plugins[0]


async def test_the_readme_plugin_streams_a_moderated_reply(make_app: AppFactory) -> None:
    plugin = _readme_plugin()
    app = await make_app(plugin_classes=[plugin])
    line = json.dumps({"user": "ann", "text": f"/{plugin.name} the baker"})
    out = await run_jsonl(app, [line])
    texts = [r["text"] for r in out if r["kind"] in ("message", "edit")]
    assert texts and all(t.startswith("🔮 ") for t in texts), out
    assert len(texts[-1]) > len("🔮 ")
