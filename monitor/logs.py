"""One log line per event, with key=value fields (or JSON for log shippers).

Call sites log `log.info("feed polled", extra=fields(feed=..., entries=3))`; the formatter
renders the event and its fields. Under systemd (JOURNAL_STREAM set) no timestamp is
printed, since journald adds its own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

_FIELDS = "nm_fields"


def fields(**values: object) -> dict[str, Any]:
    """`extra=` payload for a log call: the event's key=value fields (None values dropped)."""
    return {_FIELDS: {k: v for k, v in values.items() if v is not None}}


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """`2026-01-10T18:53:00Z warning feed polled feed=world entries=3`."""

    def __init__(self, *, timestamps: bool = True) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.timestamps:
            stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            parts.append(stamp)
        parts.append(record.levelname.lower())
        parts.append(record.getMessage())
        for key, value in getattr(record, _FIELDS, {}).items():
            parts.append(f"{key}={_quote(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in getattr(record, _FIELDS, {}).items():
            data[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record, not at set-up."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """The stream is always the current sys.stderr."""


def configure_logging(*, fmt: str = "text", level: str = "info") -> None:
    """Route the `monitor` loggers to stderr in the chosen format."""
    handler = _StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(KeyValueFormatter(timestamps="JOURNAL_STREAM" not in os.environ))
    root = logging.getLogger("monitor")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
