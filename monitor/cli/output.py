"""Output helpers shared by the commands: JSON lines, progress bars and config location."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def progress(what: str, *, total: int | None) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr when it is a terminal; a silent counter otherwise."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console  # noqa: PLC0415 - only terminals pay for it
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


def query_is_valid(query: str) -> bool:
    """Parse `query`; on a syntax error print the reason, column and a caret, and say no."""
    from monitor.errors import RuleSyntaxError  # noqa: PLC0415
    from monitor.query import parse_query  # noqa: PLC0415

    try:
        parse_query(query)
    except RuleSyntaxError as exc:
        print(f"invalid query: {exc.reason} at column {exc.column}", file=sys.stderr)
        print(exc.pointer(), file=sys.stderr)
        return False
    return True
