"""Wording problems: key paths as users write them, did-you-mean hints, safe value echoes.

Helpers of the loader; they read the schema (for the keys a table accepts) but never load.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, SecretStr

from ._schema import SECRET_KEYS, Settings
from ._toml import KeyPath, TomlFile

_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
# Keys people write that the schema spells otherwise.
RENAMED = {"sender": "from", "channel": "channels", "tag": "tags", "feed": "feeds"}


def format_path(path: KeyPath, file: TomlFile | None) -> str:
    text = ""
    for position, part in enumerate(path):
        if isinstance(part, int):
            text += f"[{part}]"
            if path[:1] == ("rules",) and position == 1 and file is not None:
                rules = file.data.get("rules")
                rule = rules[part] if isinstance(rules, list) and part < len(rules) else None
                if isinstance(rule, dict) and isinstance(rule.get("name"), str):
                    text += f" ({rule['name']})"
        else:
            name = part if _BARE_KEY_RE.fullmatch(part) else f'"{part}"'
            text += f".{name}" if text else name
    return text


def known_keys(path: KeyPath, data: Any) -> list[str]:
    """The keys the schema accepts at `path` (for did-you-mean), following the raw data."""
    annotation: Any = Settings
    value = data
    for part in path:
        model = _model_of(annotation, value)
        if model is not None:
            fields = {f.alias or n: f for n, f in model.model_fields.items()}
            if part not in fields:
                return []
            annotation = fields[str(part)].annotation
        else:
            args = typing.get_args(_unwrap(annotation))
            if not args:
                return []
            annotation = args[-1]  # list[X] -> X, dict[str, X] -> X
        value = value.get(part) if isinstance(value, dict) else None
        if isinstance(part, int):
            value = None
    model = _model_of(annotation, value)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _model_of(annotation: Any, value: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        models = [m for m in map(_unwrap, typing.get_args(annotation)) if _is_model(m)]
        wanted = value.get("type") if isinstance(value, dict) else None
        for model in models:
            field = model.model_fields.get("type")
            if field is not None and typing.get_args(field.annotation) == (wanted,):
                return typing.cast("type[BaseModel]", model)
        return models[0] if len(models) == 1 else None
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f' (did you mean "{close[0]}"?)'
    if not known:
        return " (none defined)"
    if len(known) <= 8:
        return f" (defined: {', '.join(known)})"
    return ""


def caused_by(path: KeyPath, env_path: KeyPath) -> bool:
    """Whether a schema problem at `path` is the echo of a bad `${NAME}` at `env_path`."""
    if path[: len(env_path)] == env_path:
        return True
    rest = env_path[len(path) :]
    return env_path[: len(path)] == path and all(isinstance(part, int) for part in rest)


def is_secret(path: KeyPath) -> bool:
    return any(isinstance(part, str) and part in SECRET_KEYS for part in path)


def short(value: Any) -> str:
    text = str(value) if not isinstance(value, SecretStr) else "***"
    text = text if len(text) <= 40 else text[:37] + "..."
    return f'"{text}"' if isinstance(value, str) else text


__all__ = [
    "RENAMED",
    "_is_model",
    "_model_of",
    "_unwrap",
    "caused_by",
    "format_path",
    "hint",
    "is_secret",
    "known_keys",
    "short",
]
