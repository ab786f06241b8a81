"""Shared fixtures: the fixture site on a loopback server and archive databases.

PostgreSQL tests use $NEWS_MONITOR_TEST_PG (default: the local server). Outside CI an
unreachable server skips them with a message; with CI=true it fails them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from monitor.config import load_settings
from monitor.demo.site import serve_site
from monitor.runtime import open_runtime
from tests.alerts.support import WebhookSink

DATA = Path(__file__).parent / "data"
SITE = DATA / "site"
PG_URL = os.environ.get("NEWS_MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def site_origin() -> Iterator[str]:
    """Origin (http://127.0.0.1:PORT) of the repo's copy of the fixture site."""
    with serve_site(SITE) as server:
        yield server.origin


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[tuple[str, str]]:
    """(url, schema): a fresh PostgreSQL schema for this test run, dropped afterwards."""
    problem = _pg_reachable()
    if problem:
        message = f"PostgreSQL at {PG_URL} is unreachable: {problem}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message + " (CI must run the PostgreSQL tests)")
        pytest.skip(message)
    schema = f"nm_test_{os.getpid()}_{secrets.token_hex(3)}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield PG_URL, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def archive_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str | None]]:
    """(url, schema) of an empty archive database, on SQLite and on PostgreSQL.

    On PostgreSQL each test gets its own schema inside the run's database.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'archive.db'}", None
        return
    url, run_schema = request.getfixturevalue("pg_schema")
    schema = f"{run_schema}_{secrets.token_hex(3)}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield url, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        engine.dispose()


def archive_url(target: tuple[str, str | None]) -> str:
    """An `[archive] url` for `archive_target`: PostgreSQL's schema rides in the options."""
    url, schema = target
    if schema is None:
        return url
    return f"{url}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(autouse=True)
def _monitor_logging() -> Iterator[None]:
    """A CLI test's configure_logging must not outlive it (caplog needs propagation)."""
    logger = logging.getLogger("monitor")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    """A real webhook receiver on loopback answering from its `script` (default 200)."""
    server = WebhookSink()
    server.start()
    yield server
    server.stop()


RULES = {
    "iraq-withdrawal": '"troop withdrawal" AND Iraq',
    "derby": "(derby OR goal) NOT Iraq",
    "scouts": "scout*",
}


@pytest.fixture
def filled(tmp_path: Path, site_origin: str, archive_target: tuple[str, str | None]) -> Path:
    """A config whose archive holds one real cycle over the fixture site's good feeds."""
    lines = [
        f'[archive]\nurl = "{archive_url(archive_target)}"\n[fetch]\nallow_private = true',
        f'[[feeds]]\nname = "world"\nurl = "{site_origin}/world.rss"',
        f'[[feeds]]\nname = "not-a-feed"\nurl = "{site_origin}/not-a-feed.html"',
        '[channels.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:9/nobody-listens"',
    ]
    lines += [
        f'[[rules]]\nname = "{name}"\nquery = \'{query}\'\nchannels = ["hook"]'
        for name, query in RULES.items()
    ]
    config = tmp_path / "monitor.toml"
    config.write_text("\n".join(lines) + "\n")
    settings = load_settings(config)

    async def cycle() -> None:
        async with open_runtime(settings, workers=False) as runtime:
            await runtime.run_cycle(now=datetime.now(UTC))

    asyncio.run(cycle())
    return config
