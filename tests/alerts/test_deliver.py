"""The deliverer on an in-memory outbox, driven with an advancing `now` (no sleeps)."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from monitor.alerts import RetryPolicy, WebhookChannel, WebhookOptions, deliver_due
from monitor.alerts.channels import Channel
from monitor.alerts.deliver import UNROUTED_DELAY
from monitor.errors import AlertError
from monitor.models import Alert
from tests.alerts.support import NOW, FakeOutbox, Reply, WebhookSink, free_port, make_alert

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(first=timedelta(seconds=10), max=timedelta(minutes=10), jitter="none")


def _hook(url: str) -> WebhookChannel:
    return WebhookChannel("hook", WebhookOptions(url=url, secret="s3cret"), clock=lambda: NOW)


class Recorder:
    """A channel that records sends and answers from a script of errors (None = success)."""

    def __init__(self, name: str, script: list[Exception | None] | None = None) -> None:
        self.name = name
        self.script = list(script or [])
        self.sent: list[Alert] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, alert: Alert) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)  # yield to the loop so that sends overlap
            error = self.script.pop(0) if self.script else None
            if error is not None:
                raise error
            self.sent.append(alert)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


async def test_500_500_200_is_one_alert_three_attempts(sink: WebhookSink) -> None:
    sink.script += [Reply(500), Reply(500), Reply(200)]
    outbox = FakeOutbox()
    row = outbox.add(make_alert(channel="hook"))
    channels: dict[str, Channel] = {"hook": _hook(sink.url)}
    now = NOW
    statuses = []
    for _ in range(10):  # bounded: each round jumps to the row's next attempt
        report = await deliver_due(outbox, channels, now=now, policies={"hook": FAST})
        statuses.append((report.sent, report.retried, report.failed))
        if outbox.rows[row].status != "pending":
            break
        now = outbox.rows[row].next_attempt_at
    await channels["hook"].aclose()

    assert statuses == [(0, 1, 0), (0, 1, 0), (1, 0, 0)]
    assert outbox.rows[row].status == "sent"
    assert [retry[0] - NOW for retry in outbox.rows[row].retries] == [
        timedelta(seconds=10),
        timedelta(seconds=30),  # second failure at +10s, then 20s more
    ]
    assert len(sink.received) == 3
    assert {r.headers["webhook-id"] for r in sink.received} == {"a1b2c3d4e5f60718"}
    assert {r.body for r in sink.received} == {sink.received[0].body}


async def test_429_retry_after_is_respected(sink: WebhookSink) -> None:
    sink.script.append(Reply(429, (("Retry-After", "2"),)))
    outbox = FakeOutbox()
    row = outbox.add(make_alert(channel="hook"))
    channel = _hook(sink.url)
    policy = RetryPolicy(first=timedelta(seconds=1), jitter="full")
    report = await deliver_due(
        outbox, {"hook": channel}, now=NOW, policies={"hook": policy}, rng=random.Random(7)
    )
    assert report.retried == 1
    assert outbox.rows[row].next_attempt_at >= NOW + timedelta(seconds=2)
    assert report.errors == (("hook", "a1b2c3d4e5f60718", 'channel "hook": HTTP 429: ok'),)
    early = await deliver_due(outbox, {"hook": channel}, now=NOW + timedelta(seconds=1))
    assert early.outcomes == ()  # not before the receiver said
    waited = await deliver_due(outbox, {"hook": channel}, now=outbox.rows[row].next_attempt_at)
    await channel.aclose()
    assert waited.sent == 1
    assert len({got.headers["webhook-id"] for got in sink.received}) == 1


async def test_410_marks_channel_gone_and_keeps_its_alerts(sink: WebhookSink) -> None:
    sink.script.append(Reply(410))
    outbox = FakeOutbox()
    first = outbox.add(make_alert(id="one", channel="hook"))
    second = outbox.add(make_alert(id="two", channel="hook"))
    channel = _hook(sink.url)
    report = await deliver_due(outbox, {"hook": channel}, now=NOW, concurrency=1)
    await channel.aclose()

    assert report.gone == ("hook",)
    assert len(sink.received) == 1  # the second alert was not sent to a gone receiver
    assert [o.status for o in report.outcomes] == ["retry", "unrouted"]
    assert outbox.rows[first].status == outbox.rows[second].status == "pending"


async def test_receiver_down_then_up() -> None:
    port = free_port()
    down = WebhookSink(port=port)
    outbox = FakeOutbox()
    rows = [outbox.add(make_alert(id=f"alert-{n}", channel="hook")) for n in range(5)]
    channel = _hook(down.url)

    now = NOW
    for _ in range(3):  # down for three rounds of retries
        report = await deliver_due(outbox, {"hook": channel}, now=now, policies={"hook": FAST})
        assert report.retried == 5
        assert "ConnectError" in report.errors[0][2]
        now = max(outbox.rows[row].next_attempt_at for row in rows)

    down.start()  # the receiver comes up on the same port
    try:
        report = await deliver_due(outbox, {"hook": channel}, now=now, policies={"hook": FAST})
        again = await deliver_due(outbox, {"hook": channel}, now=now + timedelta(hours=1))
    finally:
        await channel.aclose()
        down.stop()
    assert report.sent == 5
    assert again.outcomes == ()
    assert {outbox.rows[row].status for row in rows} == {"sent"}
    ids = sorted(got.headers["webhook-id"] for got in down.received)
    assert ids == [f"alert-{n}" for n in range(5)]  # every alert once, with its id


async def test_permanent_errors_fail_after_max_client_errors() -> None:
    channel = Recorder("chat", [AlertError("HTTP 400", permanent=True)] * 3)
    outbox = FakeOutbox()
    row = outbox.add(make_alert(channel="chat"))
    policy = RetryPolicy(max_client_errors=3, jitter="none")
    now = NOW
    for _ in range(5):
        await deliver_due(outbox, {"chat": channel}, now=now, policies={"chat": policy})
        if outbox.rows[row].status != "pending":
            break
        now = outbox.rows[row].next_attempt_at
    assert outbox.rows[row].status == "failed"
    assert len(outbox.rows[row].retries) == 2
    assert outbox.rows[row].last_error == "HTTP 400 (after 3 attempts)"


async def test_retryable_errors_give_up_by_age() -> None:
    channel = Recorder("chat", [AlertError("HTTP 502")])
    outbox = FakeOutbox()
    row = outbox.add(make_alert(channel="chat"), created_at=NOW - timedelta(hours=25), attempts=9)
    report = await deliver_due(outbox, {"chat": channel}, now=NOW)
    assert report.failed == 1
    assert outbox.rows[row].status == "failed"
    assert outbox.rows[row].last_error == "HTTP 502 (gave up after 10 attempts)"


async def test_unknown_channel_stays_pending_and_is_reported() -> None:
    outbox = FakeOutbox()
    row = outbox.add(make_alert(channel="retired"))
    known = Recorder("chat")
    sent = outbox.add(make_alert(id="ok", channel="chat"))
    report = await deliver_due(outbox, {"chat": known}, now=NOW)
    assert report.unrouted == 1
    assert report.sent == 1
    assert outbox.rows[row].status == "pending"
    assert outbox.rows[row].next_attempt_at == NOW + UNROUTED_DELAY
    assert outbox.rows[sent].status == "sent"
    assert report.errors == (
        ("retired", "a1b2c3d4e5f60718", 'channel "retired" is not configured'),
    )


async def test_a_crashing_channel_does_not_stop_the_others() -> None:
    broken = Recorder("broken", [RuntimeError("bug")])
    fine = Recorder("fine")
    outbox = FakeOutbox()
    outbox.add(make_alert(id="x", channel="broken"))
    outbox.add(make_alert(id="y", channel="fine"))
    report = await deliver_due(outbox, {"broken": broken, "fine": fine}, now=NOW)
    assert (report.sent, report.retried) == (1, 1)
    assert report.errors == (("broken", "x", "RuntimeError: bug"),)


async def test_concurrency_is_bounded_per_channel() -> None:
    a, b = Recorder("a"), Recorder("b")
    outbox = FakeOutbox()
    for index in range(8):
        outbox.add(make_alert(id=f"a{index}", channel="a"))
        outbox.add(make_alert(id=f"b{index}", channel="b"))
    report = await deliver_due(outbox, {"a": a, "b": b}, now=NOW, concurrency=2)
    assert report.sent == 16
    assert a.most_in_flight == b.most_in_flight == 2
    assert [o.alert_id for o in report.outcomes][:4] == ["a0", "b0", "a1", "b1"]  # claim order


async def test_concurrency_can_differ_per_channel() -> None:
    a, b = Recorder("a"), Recorder("b")
    outbox = FakeOutbox()
    for index in range(8):
        outbox.add(make_alert(id=f"a{index}", channel="a"))
        outbox.add(make_alert(id=f"b{index}", channel="b"))
    report = await deliver_due(outbox, {"a": a, "b": b}, now=NOW, concurrency={"a": 1, "b": 4})
    assert report.sent == 16
    assert (a.most_in_flight, b.most_in_flight) == (1, 4)


async def test_nothing_due_nothing_done() -> None:
    outbox = FakeOutbox()
    row = outbox.add(make_alert(channel="chat"), created_at=NOW + timedelta(minutes=1))
    channel = Recorder("chat")
    report = await deliver_due(outbox, {"chat": channel}, now=NOW)
    assert report.outcomes == ()
    assert channel.sent == []
    assert outbox.rows[row].status == "pending"
