"""The service's event loop: uvloop by default, asyncio's on request, the same result."""

from __future__ import annotations

import asyncio

import pytest

from monitor import loop


async def _which() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_the_service_runs_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(loop.LOOP_ENV, raising=False)
    assert loop.chosen() == "uvloop"
    assert loop.run(_which()) == "uvloop"


@pytest.mark.parametrize("value", ["asyncio", " AsyncIO "])
def test_the_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(loop.LOOP_ENV, value)
    assert loop.chosen() == "asyncio"
    assert loop.run(_which()) == "asyncio"
