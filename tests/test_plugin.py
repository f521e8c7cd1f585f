"""Plugin declarations are validated, all-or-nothing per plugin."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pytest

from bot.errors import PluginLoadError
from bot.plugin import Call, Param, Plugin, action, command, trigger
from bot.registry import PluginRegistry, discover
from bot.types import Permission


def _ctx(name: str):  # PluginContext is not needed to validate declarations
    return None


class Good(Plugin):
    name: ClassVar[str] = "good"

    @command("say", description="Say something.", aliases=("echo",))
    async def say(self, call: Call, text: Annotated[str, Param("What to say", rest=True)]) -> str:
        return text

    @command("pick", description="Pick a mode.")
    async def pick(self, call: Call, mode: Literal["free", "vote"] = "free", n: int = 2) -> str:
        return f"{mode}{n}"

    @trigger("listen")
    async def listen(self, call: Call) -> bool:
        return False

    @action("press")
    async def press(self, call: Call, arg: str) -> None:
        return None


def test_declarations_are_collected_with_typed_params() -> None:
    decl = Good.declarations()
    specs = {c.path: c for c in decl.commands}
    assert set(specs) == {"say", "pick"}
    assert specs["say"].aliases == ("echo",)
    assert specs["say"].params[0].rest and specs["say"].params[0].required
    pick = specs["pick"].params
    assert pick[0].choices == ("free", "vote") and pick[0].default == "free"
    assert pick[1].type is int and not pick[1].required
    assert specs["pick"].usage == "/pick [free|vote] [n]"
    assert [t.name for t in decl.triggers] == ["listen"]
    assert [a.name for a in decl.actions] == ["press"]


def _plugin(body: dict[str, object], name: str = "bad") -> type[Plugin]:
    return type("P", (Plugin,), {"name": name, **body})


def _ok_factory():
    async def handler(self, call):
        return None

    return handler


def test_sync_handler_rejected() -> None:
    def handler(self, call):
        return None

    cls = _plugin({"h": command("x", description="d")(handler)})
    with pytest.raises(PluginLoadError, match="async def"):
        cls.declarations()


def test_unsupported_parameter_type_rejected() -> None:
    async def handler(self, call: Call, when: list[int]) -> None:
        return None

    cls = _plugin({"h": command("x", description="d")(handler)})
    with pytest.raises(PluginLoadError, match="unsupported type"):
        cls.declarations()


def test_missing_annotation_and_order_rejected() -> None:
    async def untyped(self, call: Call, x) -> None:
        return None

    async def order(self, call: Call, a: int = 1, b: str = "") -> None:
        return None

    async def required_after_optional(self, call: Call, a: int = 1, *, b: str) -> None:
        return None

    with pytest.raises(PluginLoadError, match="annotation"):
        _plugin({"h": command("x", description="d")(untyped)}).declarations()
    _plugin({"h": command("x", description="d")(order)}).declarations()
    with pytest.raises(PluginLoadError, match="follows an optional"):
        _plugin({"h": command("x", description="d")(required_after_optional)}).declarations()


def test_duplicate_command_names_in_one_plugin_rejected() -> None:
    cls = _plugin(
        {
            "a": command("x", description="d")(_ok_factory()),
            "b": command("y", description="d", aliases=("x",))(_ok_factory()),
        }
    )
    with pytest.raises(PluginLoadError, match="declared twice"):
        cls.declarations()


@pytest.mark.parametrize("name", ["", "Bad Name", "x" * 40, "1abc"])
def test_bad_plugin_names_rejected(name: str) -> None:
    with pytest.raises(PluginLoadError, match="plugin name"):
        _plugin({}, name=name).declarations()


def test_bad_command_name_and_description() -> None:
    with pytest.raises(PluginLoadError, match="bad command name"):
        _plugin({"a": command("Story Add!", description="d")(_ok_factory())}).declarations()
    with pytest.raises(PluginLoadError, match="description"):
        _plugin({"a": command("x", description="")(_ok_factory())}).declarations()


def test_only_permissioned_commands_may_skip_moderation() -> None:
    with pytest.raises(PluginLoadError, match="need a permission may skip moderation"):
        _plugin({"a": command("x", description="d", moderated=False)(_ok_factory())}).declarations()
    decl = _plugin(
        {
            "a": command(
                "x", description="d", moderated=False, permission=Permission.MANAGE_MESSAGES
            )(_ok_factory())
        }
    ).declarations()
    assert decl.commands[0].moderated is False
    assert Good.declarations().commands[0].moderated is True


def test_registry_is_all_or_nothing_and_reports_failures() -> None:
    registry = PluginRegistry()
    registry.load([("good", lambda: Good)], _ctx)  # type: ignore[arg-type]
    clash = _plugin(
        {
            "a": command("other", description="d")(_ok_factory()),
            "b": command("say", description="d")(_ok_factory()),
        },
        name="clash",
    )

    def broken() -> type[Plugin]:
        raise ImportError("no module named 'missing_dependency'")

    registry.load([("clash", lambda: clash), ("broken", broken)], _ctx)  # type: ignore[arg-type]
    assert set(registry.plugins) == {"good"}
    assert "other" not in registry.commands, "a failing plugin registers nothing"
    reasons = {f.name: f.reason for f in registry.failures}
    assert "already provided by plugin 'good'" in reasons["clash"]
    assert "missing_dependency" in reasons["broken"]


def test_resolve_longest_command_path() -> None:
    registry = PluginRegistry()
    registry.add(Good, _ctx)  # type: ignore[arg-type]
    spec, rest = registry.resolve("say  hello there") or (None, "")
    assert spec is not None and spec.path == "say" and rest == "hello there"
    assert registry.resolve("nothing here") is None
    assert registry.suggest("sya") == "say"


def test_builtin_and_third_party_plugins_are_entry_points() -> None:
    names = {name for name, _ in discover()}
    assert {"story", "poem", "headline", "dice"} <= names
