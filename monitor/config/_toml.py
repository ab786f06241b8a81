"""One config file as read from disk: its TOML data and a cheap key -> line locator.

Pure text handling (tomllib and regexes): no pydantic, no project imports but errors.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

KeyPath = tuple[str | int, ...]

_TOML_POSITION_RE = re.compile(r"^(.*?) \((at line (\d+), column (\d+)|at end of document)\)$")
_KEY_PART_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)')


@dataclass(frozen=True, slots=True)
class _Section:
    key: KeyPath  # ("archive",) for [archive]; ("feeds", 2) for the third [[feeds]]
    line: int  # 1-based line of the header; 0 for the top of the file
    end: int  # last line (inclusive) before the next header


@dataclass(slots=True)
class TomlFile:
    """A parsed TOML file. `display` is how problems name it (relative to the main file)."""

    path: Path
    display: str
    text: str
    data: dict[str, Any]
    _sections: list[_Section] | None = field(default=None, repr=False)

    def line_of(self, path: KeyPath) -> int | None:
        """The line defining `path` (or its nearest table), or None when not found cheaply."""
        sections = self._sections if self._sections is not None else self._scan()
        best = sections[0]
        for section in sections:
            if path[: len(section.key)] == section.key and len(section.key) > len(best.key):
                best = section
        rest = path[len(best.key) :]
        if rest and isinstance(rest[0], str):
            line = self._key_line(best, rest[0])
            if line is not None:
                return line
            # `path` may be a table that only has sub-tables: [[feeds]] for ("feeds",)
            for section in sections:
                if section.key[: len(path)] == path:
                    return section.line
        return best.line or None

    def _key_line(self, section: _Section, key: str) -> int | None:
        lines = self.text.splitlines()
        for number in range(section.line + 1, section.end + 1):
            stripped = lines[number - 1].lstrip()
            if stripped.startswith(("[", "#")):
                continue
            head = stripped.split("=", 1)[0] if "=" in stripped else None
            if head is not None and _split_key(head)[:1] == [key]:
                return number
        return None

    def _scan(self) -> list[_Section]:
        lines = self.text.splitlines()
        starts: list[tuple[KeyPath, int]] = [((), 0)]
        counts: dict[tuple[str, ...], int] = {}
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if line.startswith("[["):
                name = tuple(_split_key(line[2:].split("]]", 1)[0]))
                index = counts.get(name, 0)
                counts[name] = index + 1
                starts.append(((*name, index), number))
            elif line.startswith("["):
                starts.append((tuple(_split_key(line[1:].split("]", 1)[0])), number))
        sections = []
        for position, (key, line_number) in enumerate(starts):
            end = starts[position + 1][1] - 1 if position + 1 < len(starts) else len(lines)
            sections.append(_Section(key, line_number, end))
        self._sections = sections
        return sections


def _split_key(text: str) -> list[str]:
    """'channels."my desk"' -> ['channels', 'my desk'] (TOML dotted key, quotes removed)."""
    parts = []
    for match in _KEY_PART_RE.finditer(text):
        quoted, literal, bare = match.groups()
        parts.append(quoted if quoted is not None else literal if literal is not None else bare)
    return parts


def read_toml(path: Path, display: str) -> TomlFile:
    """Read and parse one file; ConfigError with a one-line `file: ...` problem otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{display}: cannot read config file: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{display}: {describe_toml_error(exc)}") from None
    return TomlFile(path=path, display=display, text=text, data=data)


def describe_toml_error(exc: tomllib.TOMLDecodeError) -> str:
    """'TOML syntax error at line 7, column 12: Invalid value' from tomllib's message."""
    match = _TOML_POSITION_RE.match(str(exc))
    if match is None:
        return f"TOML syntax error: {exc}"
    reason, where, line, column = match.groups()
    if line is None:
        return f"TOML syntax error {where}: {reason}"
    return f"TOML syntax error at line {line}, column {column}: {reason}"


__all__ = ["KeyPath", "TomlFile", "describe_toml_error", "read_toml"]
