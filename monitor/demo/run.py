"""`news-monitor demo`: one real cycle against the bundled offline site, printed.

Serves the site and a webhook receiver on 127.0.0.1, writes a config with the rules of the
fixture table into a temporary folder, polls every feed twice (the second cycle must alert
on nothing), delivers through the real webhook channel and prints alerts and archive.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor import loop
from monitor.config import load_settings
from monitor.demo.receiver import Receiver, receive_webhooks
from monitor.demo.site import serve_site
from monitor.runtime import open_runtime

RULES = {
    "troop-withdrawal": '"troop withdrawal"',
    "iraq": "Iraq",
    "iraq-withdrawal": '"troop withdrawal" AND Iraq',
    "troop-and-withdrawal": "troop AND withdrawal",
    "derby": "(derby OR goal) NOT Iraq",
}
FEEDS = {
    "world": "world.rss",
    "wire": "syndication.atom",
    "broken": "broken.rss",
    "empty": "empty.xml",
    "not-a-feed": "not-a-feed.html",
}


def demo_config(origin: str, hook_url: str, archive: Path) -> str:
    """The TOML a user would write for the bundled site."""
    lines = [
        "# Written by `news-monitor demo` for the bundled offline site.",
        "[archive]",
        f'url = "sqlite:///{archive}"',
        "[fetch]",
        "allow_private = true  # the demo site runs on 127.0.0.1",
        "",
    ]
    for name, path in FEEDS.items():
        lines += [
            "[[feeds]]",
            f'name = "{name}"',
            f'url = "{origin}/{path}"',
            'interval = "5m"',
            "",
        ]
    for name, query in RULES.items():
        lines += ["[[rules]]", f'name = "{name}"', f"query = '{query}'", 'channels = ["desk"]', ""]
    lines += ["[channels.desk]", 'type = "webhook"', f'url = "{hook_url}"', 'secret = "demo"']
    return "\n".join(lines) + "\n"


def run_demo() -> int:
    with (
        serve_site() as site,
        receive_webhooks() as receiver,
        tempfile.TemporaryDirectory(prefix="news-monitor-demo-") as tmp,
    ):
        config = Path(tmp) / "monitor.toml"
        config.write_text(demo_config(site.origin, receiver.url, Path(tmp) / "archive.db"))
        print(f"news-monitor demo: bundled site at {site.origin}, config {config}\n")
        return loop.run(_cycles(config, receiver))


async def _cycles(config: Path, receiver: Receiver) -> int:
    settings = load_settings(config)
    now = datetime.now(UTC)
    async with open_runtime(settings) as runtime:
        for number in (1, 2):
            results = await runtime.run_cycle(now=now + timedelta(minutes=number - 1))
            report = await runtime.deliver(now=now + timedelta(minutes=number - 1))
            print(f"cycle {number}:")
            for result in results:
                if result.outcome == "error":
                    detail = f"error ({result.error_kind}): {result.error}"
                else:
                    detail = (
                        f"{result.outcome}, {result.entries} entries, {result.new_entries} new, "
                        f"{result.new_matches} matches, {result.new_alerts} alerts"
                    )
                    if result.warning:
                        detail += f" (warning: {result.warning})"
                print(f"  {result.feed:<11} {detail}")
            print(f"  delivered {report.sent} alerts, {report.retried} to retry\n")
        print(f"alerts received by the webhook at {receiver.url}:")
        for got in receiver.received:
            alert = got.json()
            print(f"  [{alert['rule']}] {alert['title']}")
            print(f"      {alert['url']}  (feed {alert['feed']})")
            print(f"      matched: {', '.join(alert['matched'])}")
            print(f"      snippet: {alert['snippet'][:160]}")
            print(f"      webhook-id: {got.headers.get('webhook-id')}")
        print("\narchive (matches):")
        for row in runtime.archive.matches():
            print(f"  {row.rule:<22} {row.title[:60]:<60} {row.feed}")
    return 0
