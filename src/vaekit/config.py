"""Typed configs: dataclasses that are built from plain dicts (JSON, later TOML) strictly.

An unknown key, a missing required key or a value of the wrong type is a VaekitError that names
the key -- never a silent None.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from vaekit.errors import VaekitError

T = TypeVar("T")


def from_dict(
    cls: type[T], values: dict[str, Any], where: str = "config", complete: bool = False
) -> T:
    """Build dataclass `cls` from `values`, checking every key and type; with `complete`,
    every field must be given (a file vaekit wrote holds them all: a missing one is damage or
    an older schema to migrate, never a default to fill in)."""
    if not isinstance(values, dict):
        raise VaekitError(f"{where}: expected a table of keys, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise VaekitError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(fields)})")
    missing = sorted(set(fields) - set(values)) if complete else []
    if missing:
        raise VaekitError(f"{where}: missing key {missing[0]!r}")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required key is missing
        raise VaekitError(f"{where}: {err}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return json_ready(dataclasses.asdict(obj))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise VaekitError(f"{where}: expected a table, got {value!r}")
        return {k: _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise VaekitError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is typing.Any:
        return value
    else:
        raise TypeError(f"{where}: unsupported config type {hint}")
    raise VaekitError(f"{where}: expected {hint.__name__}, got {value!r}")
