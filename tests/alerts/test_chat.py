"""The Apprise channel, through Apprise's json:// plugin against the local receiver."""

from __future__ import annotations

import json

import pytest

from monitor.alerts import AppriseChannel, AppriseOptions
from monitor.errors import AlertError
from tests.alerts.support import Reply, WebhookSink, make_alert

pytestmark = pytest.mark.anyio


def _json_url(sink: WebhookSink) -> str:
    return f"json://127.0.0.1:{sink.port}/hooks/alerts"


async def test_apprise_posts_subject_and_text(sink: WebhookSink) -> None:
    channel = AppriseChannel("chat", AppriseOptions(urls=(_json_url(sink),)))
    await channel.send(make_alert(title="<b>Bold</b> move"))
    await channel.aclose()

    [request] = sink.received
    assert request.path == "/hooks/alerts"
    body = json.loads(request.body)
    assert body["title"] == "[news-monitor] iraq withdrawal: <b>Bold</b> move"
    assert "The first [[troops]] began their [[withdrawal]]" in body["message"]


async def test_apprise_failure_is_retryable(sink: WebhookSink) -> None:
    sink.script.append(Reply(500))
    channel = AppriseChannel("chat", AppriseOptions(urls=(_json_url(sink),)))
    with pytest.raises(AlertError, match='channel "chat": apprise reported') as caught:
        await channel.send(make_alert())
    assert not caught.value.permanent


def test_unreadable_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(AlertError, match="URL #1 is not understood") as caught:
        AppriseChannel("chat", AppriseOptions(urls=("nosuchscheme://tok3n@host",)))
    assert "tok3n" not in str(caught.value)
