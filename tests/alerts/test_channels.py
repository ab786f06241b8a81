"""`build_channel`: plain config values in, a channel (or one readable ConfigError) out."""

from __future__ import annotations

import pytest

from monitor.alerts import (
    AppriseChannel,
    EmailChannel,
    WebhookChannel,
    build_channel,
)
from monitor.alerts.channels import Channel
from monitor.errors import ConfigError


def test_builds_each_kind_from_toml_shaped_values() -> None:
    email = build_channel(
        "mail",
        "email",
        {"smtp_host": "smtp.example.org", "from": "m@example.org", "to": "desk@example.org"},
    )
    assert isinstance(email, EmailChannel)
    assert email.options.sender == "m@example.org"
    assert email.options.to == ("desk@example.org",)
    assert email.options.security == "starttls"

    hook = build_channel(
        "hook", "webhook", {"url": "https://example.org/h", "headers": {"X-Token": "t"}}
    )
    assert isinstance(hook, WebhookChannel)
    assert hook.options.headers == (("X-Token", "t"),)

    chat = build_channel("chat", "apprise", {"urls": ["json://127.0.0.1:9/"]})
    assert isinstance(chat, AppriseChannel)
    assert all(isinstance(c, Channel) for c in (email, hook, chat))


@pytest.mark.parametrize(
    ("kind", "settings", "message"),
    [
        ("pager", {}, "unknown channel type 'pager'"),
        ("webhook", {"url": "https://x.example/", "secrett": "x"}, "unknown keys secrett"),
        ("webhook", {"url": "ftp://x.example/"}, "must be http"),
        ("email", {"smtp_host": "h", "from": "a@b", "to": []}, "at least one recipient"),
        ("email", {"smtp_host": "h", "from": "a@b", "to": ["x@y\r\nBcc: z"]}, "invalid email"),
        ("email", {"smtp_host": "h", "from": "a@b", "to": ["x@y"], "security": "tls"}, "security"),
        ("email", {"smtp_host": "h", "to": ["x@y"]}, "sender"),
        ("webhook", {"url": "https://x.example/", "template": "{{ nope }}"}, "UndefinedError"),
        (
            "email",
            {"smtp_host": "h", "from": "a@b", "to": ["x"], "ca_file": "/nonexistent"},
            "No such",
        ),
    ],
)
def test_bad_settings_are_config_errors(
    kind: str, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        build_channel("c", kind, settings)
    assert str(caught.value).startswith('channel "c": ')
