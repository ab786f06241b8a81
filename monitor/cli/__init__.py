"""The `news-monitor` command: parse arguments, load config, call pipeline/service/archive.

The package holds the command implementations (`service`, `inspect`, `output`).

Thin by design; nothing imports it. Exit codes: 0 ok, 1 "no match" (test-rule), 2 usage or
invalid input, 78 (EX_CONFIG) a config the service cannot start with.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor import __version__
from monitor.cli import views
from monitor.errors import ConfigError, MonitorError
from monitor.logs import configure_logging

EX_USAGE = 2
EX_CONFIG = 78


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="news-monitor",
        description="Watch feeds, read the articles behind them, alert on the rules you write.",
    )
    parser.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $NEWS_MONITOR_CONFIG, then /etc/news-monitor/monitor.toml)",
    )
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("check", help="validate the config and its rules; exit 2 listing each problem")
    sub.add_parser("run", help="run the service: poll on schedule, deliver alerts, until SIGTERM")
    once = sub.add_parser("once", help="poll every feed once, deliver alerts, exit")
    once.add_argument("--json", action="store_true", help="one JSON object per feed")
    sub.add_parser("demo", help="run one cycle against the bundled offline site and print it")

    for name, what in (("parse", "the entries as we normalise them"), ("extract", "main text")):
        cmd = sub.add_parser(name, help=f"show {what} for a URL or a file")
        cmd.add_argument("source", metavar="URL|FILE")
        cmd.add_argument("--json", action="store_true")

    test = sub.add_parser("test-rule", help="try a query on a text, a page, a URL or the archive")
    test.add_argument("query")
    source = test.add_mutually_exclusive_group(required=True)
    source.add_argument("--text")
    source.add_argument("--file", type=Path)
    source.add_argument("--url")
    source.add_argument("--archive", action="store_true", help="replay over archived entries")
    test.add_argument("--since", help="with --archive: only entries newer than this (e.g. 7d)")
    test.add_argument("--language", default="english", help="Snowball stemmer (default english)")
    test.add_argument("--no-stemming", action="store_true")
    test.add_argument("--json", action="store_true")
    views.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(fmt=args.log_format, level=args.log_level)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"config error: {line}", file=sys.stderr)
        return EX_CONFIG if args.command in {"run", "once", "demo"} else EX_USAGE
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EX_USAGE
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    # Imported here so that `--help` stays fast.
    from monitor.cli import inspect, service  # noqa: PLC0415

    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "check": service.check,
        "run": service.run,
        "once": service.once,
        "demo": service.demo,
        "parse": inspect.parse,
        "extract": inspect.extract,
        "test-rule": inspect.test_rule,
        "status": views.status,
        "feeds": views.feeds,
        "search": views.search,
        "export": views.export,
        "alerts": views.alerts,
    }
    return handlers[args.command](args)
