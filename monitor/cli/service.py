"""Commands that run the monitor: `check`, `run`, `once` and `demo`."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from monitor import loop
from monitor.cli.output import config_file, print_json, progress
from monitor.config import check_config, load_settings

EX_INVALID = 2


def check(args: argparse.Namespace) -> int:
    path = config_file(args)
    problems = check_config(path, os.environ)
    for line in problems:
        print(line)
    if problems:
        return EX_INVALID
    settings = load_settings(path)
    print(
        f"{path}: ok ({len(settings.feeds)} feeds, {len(settings.rules)} rules, "
        f"{len(settings.channels)} channels)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from monitor.daemon import Service  # noqa: PLC0415 - APScheduler only when serving

    return loop.run(Service(config_file(args)).run())


def once(args: argparse.Namespace) -> int:
    from monitor.runtime import open_runtime  # noqa: PLC0415

    settings = load_settings(config_file(args))

    async def cycle() -> int:
        now = datetime.now(UTC)
        async with open_runtime(settings) as runtime:
            with progress("polling feeds", total=len(runtime.feeds)) as advance:
                results = await runtime.run_cycle(now=now, on_result=lambda _: advance())
            report = await runtime.deliver(now=datetime.now(UTC))
        failed = [r for r in results if r.outcome == "error"]
        for result in results:
            if args.json:
                print_json(
                    {
                        "feed": result.feed,
                        "outcome": result.outcome,
                        "entries": result.entries,
                        "new_entries": result.new_entries,
                        "new_matches": result.new_matches,
                        "new_alerts": result.new_alerts,
                        "error": result.error,
                        "error_kind": result.error_kind,
                        "warning": result.warning,
                    }
                )
            elif result.outcome == "error":
                print(f"{result.feed}: error ({result.error_kind}): {result.error}")
            else:
                print(
                    f"{result.feed}: {result.outcome}, {result.new_entries} new entries, "
                    f"{result.new_matches} matches, {result.new_alerts} alerts"
                )
        if not args.json:
            print(
                f"{len(results)} feeds polled, {len(failed)} failed; "
                f"alerts: {report.sent} sent, {report.retried} to retry, {report.failed} failed"
            )
        return 0

    return loop.run(cycle())


def demo(args: argparse.Namespace) -> int:
    from monitor.demo.run import run_demo  # noqa: PLC0415

    return run_demo()
