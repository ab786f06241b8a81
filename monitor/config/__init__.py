"""Configuration: monitor.toml (+ included rule files) -> validated, typed `Settings`.

The config edge: the only package that imports pydantic; may import `query` to compile
rules. Public surface: `load_settings`, `check_config`, `config_path`, `parse_duration` and
the settings models. `FeedSettings.interval is None` means "auto" (adaptive polling).
"""

from __future__ import annotations

from ._load import CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH, check_config, config_path, load_settings
from ._schema import (
    DEFAULT_ARCHIVE_URL,
    AppriseChannelSettings,
    ArchiveSettings,
    ChannelSettings,
    DeliverySettings,
    EmailChannelSettings,
    FeedSettings,
    FetchSettings,
    HealthSettings,
    HttpSettings,
    RetryOverride,
    RuleSettings,
    Settings,
    WebhookChannelSettings,
    derive_feed_name,
)
from ._values import format_duration, parse_duration, parse_size

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_ARCHIVE_URL",
    "DEFAULT_CONFIG_PATH",
    "AppriseChannelSettings",
    "ArchiveSettings",
    "ChannelSettings",
    "DeliverySettings",
    "EmailChannelSettings",
    "FeedSettings",
    "FetchSettings",
    "HealthSettings",
    "HttpSettings",
    "RetryOverride",
    "RuleSettings",
    "Settings",
    "WebhookChannelSettings",
    "check_config",
    "config_path",
    "derive_feed_name",
    "format_duration",
    "load_settings",
    "parse_duration",
    "parse_size",
]
