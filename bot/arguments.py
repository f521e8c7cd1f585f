"""Turning typed text (``/story start mode=vote A dark forest``) into a command's typed arguments.

File parameters (:class:`~bot.types.Upload`) cannot be typed: slash commands give them as options,
and a typed command's file parameters take the message's attachments in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.errors import UsageError
from bot.plugin import CommandSpec, ParamSpec
from bot.types import Upload

_TRUE = {"yes", "y", "true", "on", "1"}
_FALSE = {"no", "n", "false", "off", "0"}
MAX_ARGUMENT_CHARS = 4000
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""Whole numbers must fit a database BIGINT."""


def convert(spec: CommandSpec, param: ParamSpec, value: object) -> object:
    """Convert and check one value for ``param``; raises UsageError with the command's usage."""
    try:
        result = _convert_type(param, value)
    except (TypeError, ValueError):
        raise UsageError(
            f"`{param.name}` must be a {param.type_name}, not {_show(value)}.", usage=spec.usage
        ) from None
    if param.choices and result not in param.choices:
        options = ", ".join(f"`{c}`" for c in param.choices)
        raise UsageError(f"`{param.name}` must be one of {options}.", usage=spec.usage)
    if isinstance(result, int | float) and not isinstance(result, bool):
        if param.min is not None and result < param.min:
            raise UsageError(f"`{param.name}` must be at least {param.min:g}.", usage=spec.usage)
        if param.max is not None and result > param.max:
            raise UsageError(f"`{param.name}` must be at most {param.max:g}.", usage=spec.usage)
    if isinstance(result, str):
        limit = int(param.max) if param.max is not None else MAX_ARGUMENT_CHARS
        if len(result) > limit:
            raise UsageError(
                f"`{param.name}` is too long ({len(result)} characters; the limit is {limit}).",
                usage=spec.usage,
            )
        if param.min is not None and len(result.strip()) < param.min:
            raise UsageError(f"`{param.name}` is too short.", usage=spec.usage)
    return result


def _convert_type(param: ParamSpec, value: object) -> object:
    if param.type is Upload:
        if not isinstance(value, Upload):
            raise TypeError(value)
        return value
    if param.type is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(value)
    if param.type is int:
        if isinstance(value, bool):
            raise TypeError(value)
        number = value if isinstance(value, int) else int(str(value).strip()[:40])
        if not INT_MIN <= number <= INT_MAX:
            raise ValueError(value)
        return number
    if param.type is float:
        if isinstance(value, bool):
            raise TypeError(value)
        real = float(value) if isinstance(value, int | float) else float(str(value).strip())
        if real != real or real in (float("inf"), float("-inf")):
            raise ValueError(value)
        return real
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _show(value: object) -> str:
    text = str(value)
    return f"`{text[:20]}…`" if len(text) > 20 else f"`{text}`"


def bind_options(
    spec: CommandSpec, options: Mapping[str, object], attachments: Sequence[Upload] = ()
) -> dict[str, object]:
    """Bind structured options (slash commands) to the command's parameters; file parameters
    not given as options take ``attachments``."""
    unknown = set(options) - {p.name for p in spec.params}
    if unknown:
        raise UsageError(f"Unknown option `{sorted(unknown)[0]}`.", usage=spec.usage)
    values = {k: convert(spec, _param(spec, k), v) for k, v in options.items()}
    return _finish(spec, _attach(spec, values, attachments))


def parse_text(
    spec: CommandSpec, text: str, attachments: Sequence[Upload] = ()
) -> dict[str, object]:
    """Parse the text after a command name: positional words, ``name=value`` options, and a
    final ``rest`` parameter that takes the remainder of the line verbatim. File parameters
    take ``attachments`` (the message's files) in order."""
    values: dict[str, object] = _attach(spec, {}, attachments)
    params = [p for p in spec.params if p.type is not Upload]
    remaining = text.strip()
    while remaining:
        head, _, tail = remaining.partition(" ")
        key, eq, raw = head.partition("=")
        named = next((p for p in params if p.name == key.lower()), None) if eq else None
        if named is not None:
            if named.name in values:
                raise UsageError(f"`{named.name}` is given twice.", usage=spec.usage)
            value, remaining = _take_value(raw, tail, named.rest)
            values[named.name] = convert(spec, named, value)
        else:
            todo = [p for p in params if p.name not in values]
            if not todo:
                raise UsageError("Too many arguments.", usage=spec.usage)
            param = todo[0]
            if param.rest or (len(todo) == 1 and param.type is str):
                values[param.name] = convert(spec, param, remaining)
                remaining = ""
            else:
                word, remaining = _take_word(remaining)
                values[param.name] = convert(spec, param, word)
        remaining = remaining.strip()
    return _finish(spec, values)


def _take_word(text: str) -> tuple[str, str]:
    """The first word, or a "quoted phrase", and the text after it."""
    quote = text[:1]
    if quote in ("'", '"'):
        end = text.find(quote, 1)
        if end > 0:
            return text[1:end], text[end + 1 :]
    word, _, rest = text.partition(" ")
    return word, rest


def _take_value(raw: str, tail: str, rest: bool) -> tuple[str, str]:
    if rest:
        return (f"{raw} {tail}" if tail else raw).strip(), ""
    if raw[:1] in "\"'":
        return _take_word(f"{raw} {tail}" if tail else raw)
    return raw, tail


def _param(spec: CommandSpec, name: str) -> ParamSpec:
    return next(p for p in spec.params if p.name == name)


def _attach(
    spec: CommandSpec, values: dict[str, object], attachments: Sequence[Upload]
) -> dict[str, object]:
    """``values`` with the command's file parameters that have none filled from
    ``attachments`` in order. A command without file parameters ignores attachments (a picture
    sent with a turn); one with them refuses more files than it takes."""
    declared = [p for p in spec.params if p.type is Upload]
    files = [p for p in declared if p.name not in values]
    if declared and len(attachments) > len(files):
        raise UsageError(
            f"`/{spec.path}` takes {len(declared)} file(s); {len(attachments)} were attached.",
            usage=spec.usage,
        )
    return {**values, **{p.name: f for p, f in zip(files, attachments, strict=False)}}


def _finish(spec: CommandSpec, values: dict[str, object]) -> dict[str, object]:
    for p in spec.params:
        if p.name not in values:
            if p.required:
                raise UsageError(f"`{p.name}` is missing ({p.description}).", usage=spec.usage)
            values[p.name] = p.default
    return values
