"""Plain-text values of the config: durations, byte sizes and `${ENV}` references.

Pure helpers without pydantic, shared by the schema and the loader. Errors are ConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from monitor.errors import ConfigError

DURATION_HINT = '(use e.g. "30s", "15m", "1h")'

_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"(?:\d+[wdhms])+")
_DURATION_PART_RE = re.compile(r"(\d+)([wdhms])")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"(\d+)\s*([a-z]*)")

_ENV_REF_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_duration(text: str) -> timedelta:
    """ "90s", "15m", "1h30m", "2d", "1w" -> timedelta; units in decreasing order, each once.

    Raises ConfigError for anything else (bare numbers too: the unit is never implied).
    """
    compact = text.strip().lower()
    if not _DURATION_RE.fullmatch(compact):
        raise ConfigError(f"invalid duration {_quote(text)} {DURATION_HINT}")
    seconds = 0
    previous = None
    for amount, unit in _DURATION_PART_RE.findall(compact):
        size = _DURATION_UNITS[unit]
        if previous is not None and size >= previous:
            raise ConfigError(
                f"invalid duration {_quote(text)}: units must go from largest to smallest "
                f'(e.g. "1h30m")'
            )
        previous = size
        seconds += int(amount) * size
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest text parse_duration reads back as `value` (whole seconds)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _DURATION_UNITS.items():
        if unit == "w" and seconds % size:
            continue  # "90d" reads better than "12w6d"
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def parse_size(text: str) -> int:
    """ "512KiB", "10MB", "1048576" -> bytes. KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024."""
    match = _SIZE_RE.fullmatch(text.strip().lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ConfigError(f'invalid size {_quote(text)} (use e.g. "512KiB", "10MiB", 1048576)')
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def expand_env(text: str, environ: Mapping[str, str]) -> tuple[str, list[str], list[str]]:
    """Replace each `${NAME}` in `text` by the variable's value; `$${` stands for `${`.

    Returns (expanded text, the substituted values, problems). Problems name the variable,
    never a value, so they are safe to print.
    """
    values: list[str] = []
    problems: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        name = match.group(1)
        if name is None:
            problems.append('unterminated "${" (write "$${" for a literal "${")')
            return whole
        if not _ENV_NAME_RE.fullmatch(name):
            problems.append(f'invalid environment variable reference "${{{name}}}"')
            return whole
        if name not in environ:
            problems.append(f"environment variable {name} is not set")
            return whole
        values.append(environ[name])
        return environ[name]

    return _ENV_REF_RE.sub(substitute, text), values, problems


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


__all__ = ["DURATION_HINT", "expand_env", "format_duration", "parse_duration", "parse_size"]
