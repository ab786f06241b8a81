"""Log lines: key=value fields, JSON for shippers, no timestamp under journald."""

from __future__ import annotations

import json
import logging

from monitor.logs import JsonFormatter, KeyValueFormatter, fields


def _record(**values: object) -> logging.LogRecord:
    record = logging.LogRecord("monitor.x", logging.WARNING, __file__, 1, "feed failed", (), None)
    record.__dict__.update(fields(**values))
    return record


def test_key_value_line_quotes_what_needs_it() -> None:
    line = KeyValueFormatter(timestamps=False).format(
        _record(feed="world", problem="not a feed: html", errors=3, skipped=None)
    )
    assert line == 'warning feed failed feed=world problem="not a feed: html" errors=3'


def test_timestamps_unless_journald() -> None:
    line = KeyValueFormatter(timestamps=True).format(_record(feed="w"))
    assert line[:4].isdigit()
    assert line.split(" ", 1)[0].endswith("Z")


def test_json_line() -> None:
    data = json.loads(JsonFormatter().format(_record(feed="world", errors=3)))
    assert data["event"] == "feed failed"
    assert data["level"] == "warning"
    assert data["feed"] == "world"
    assert data["errors"] == 3
