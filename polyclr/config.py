"""Typed dataclass configs: defaults < YAML file < ``--set key=value`` overrides.

Every pipeline has one dataclass config (nested dataclasses allowed). Unknown keys are errors
that name the key; values are checked against the field's type.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
import warnings
from pathlib import Path
from typing import Any, TypeVar

import yaml

from polyclr.errors import ConfigError

T = TypeVar("T")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check/convert ``value`` to ``annotation``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key '{key}': {value!r} does not match {annotation}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}': {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            value = [value]
        inner = args[0] if args else Any
        if origin is tuple and len(args) != 2 or (origin is tuple and args[1] is not Ellipsis):
            if origin is tuple and args and len(args) != len(value):
                raise ConfigError(f"config key '{key}': expected {len(args)} values, got {len(value)}")
            if origin is tuple and args:
                return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
        out = [_coerce(v, inner, key) for v in value]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_coerce(k, kt, key): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a section (mapping), got {value!r}")
        return from_dict(annotation, value, prefix=f"{key}.")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError as exc:
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}") from exc
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}") from exc
    if annotation is str:
        if isinstance(value, dict | list):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return str(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (possibly partial) mapping; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown config key '{prefix}{key}' (known keys here: {known})")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def renamed(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with keys that ``cls.RENAMED_KEYS`` lists (old dotted key -> new dotted key)
    moved to their new place, with a FutureWarning naming both; a new key given too wins."""
    moves = getattr(cls, "RENAMED_KEYS", None) or {}
    if not moves:
        return data
    data = copy.deepcopy(data)
    for old, new in moves.items():
        *path, key = old.split(".")
        node: Any = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or key not in node:
            continue
        value = node.pop(key)
        *path, key = new.split(".")
        target = data
        for part in path:
            target = target.setdefault(part, {})
        target.setdefault(key, value)
        warnings.warn(f"config key '{old}' is now '{new}'", FutureWarning, stacklevel=3)
    return data


def merge(cfg: T, overrides: dict[str, Any], prefix: str = "") -> T:
    """Return a copy of dataclass ``cfg`` with ``overrides`` (nested mapping) applied."""
    if not prefix:
        overrides = renamed(type(cfg), overrides)
    hints = typing.get_type_hints(type(cfg))
    names = {f.name for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"unknown config key '{prefix}{key}' (known keys here: {known})")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = merge(current, value, prefix=f"{prefix}{key}.")
        else:
            changes[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into a nested mapping; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping (errors name the file)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid YAML ({' '.join(str(exc).split())[:200]})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level of a config must be a mapping")
    return data


def resolve_config(
    cls: type[T], yaml_path: str | Path | None = None, sets: list[str] | None = None
) -> T:
    """Defaults of ``cls``, overridden by the YAML file, overridden by ``--set`` items."""
    cfg = cls()
    if yaml_path is not None:
        try:
            cfg = merge(cfg, load_yaml(yaml_path))
        except ConfigError as exc:
            if str(exc).startswith(str(yaml_path)):
                raise
            raise ConfigError(f"{yaml_path}: {exc}") from exc
    if sets:
        cfg = merge(cfg, parse_set(sets))
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-safe mapping of a dataclass config."""

    def clean(v: Any) -> Any:
        if isinstance(v, tuple):
            return [clean(x) for x in v]
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return clean(dataclasses.asdict(cfg))


def to_yaml(cfg: Any) -> str:
    """Serialise a dataclass config as YAML (what ``config.yaml`` in a run directory holds)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
