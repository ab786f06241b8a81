"""Output helpers shared by the commands: JSON lines and config location."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import config_path


def config_file(args: argparse.Namespace) -> Path:
    """--config, then $NEWS_MONITOR_CONFIG, then /etc/news-monitor/monitor.toml."""
    return config_path(args.config, os.environ)


def print_json(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
