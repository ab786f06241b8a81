"""The config schema: pydantic(-settings) models for every table of monitor.toml.

The only place pydantic models live; the loader (`_load`) feeds them from the TOML files.
Every model forbids unknown keys. Durations are `timedelta`, sizes are `int` bytes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.cron import Cron, Every, Schedule
from monitor.errors import ConfigError
from monitor.models import RuleSpec

from ._values import format_duration, parse_duration, parse_size

if TYPE_CHECKING:
    from monitor.query import RuleSet

DEFAULT_ARCHIVE_URL = "sqlite:////var/lib/news-monitor/archive.db"
CHANNEL_TYPES = ("email", "webhook", "apprise")
# Keys whose values are secrets: never echoed in errors (also scrubbed by value, see _load).
SECRET_KEYS = frozenset({"password", "secret", "headers", "urls"})


def _to_duration(value: object) -> object:
    if isinstance(value, str):
        try:
            value = parse_duration(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('expected a duration with a unit such as "30s", "15m" or "1h"')
    if isinstance(value, timedelta) and value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _to_interval(value: object) -> object:
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    return _to_duration(value)


def _to_size(value: object) -> object:
    if isinstance(value, str):
        try:
            return parse_size(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
    return value


def _dump_duration(value: timedelta | None) -> str | None:
    return None if value is None else format_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
# A feed's poll interval: a duration, or None for "auto" (adaptive: the poller derives the
# interval from the feed's own hints (ttl, sy:updatePeriod) and how often it really changes).
Interval = Annotated[
    timedelta | None,
    BeforeValidator(_to_interval),
    PlainSerializer(_dump_duration, return_type=str | None, when_used="json"),
]
ByteSize = Annotated[int, BeforeValidator(_to_size), Field(ge=1)]


def _not_blank(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_not_blank)]  # a required, non-blank string


def _check_http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


HttpUrl = Annotated[str, BeforeValidator(lambda v: _check_http_url(v) if isinstance(v, str) else v)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class ArchiveSettings(_Model):
    """Where matches are archived. `url` may hold a password: it is kept out of repr."""

    url: str = Field(default=DEFAULT_ARCHIVE_URL, repr=False)
    keep_entries: Duration | None = None  # None: keep forever

    @field_validator("url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_archive_url(value, base_dir=None)

    @property
    def display_url(self) -> str:
        """The URL with any password masked, for logs and `news-monitor check`."""
        return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", self.url)


class FetchSettings(_Model):
    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=30)
    total_timeout: Duration = timedelta(seconds=60)
    max_feed_bytes: ByteSize = 10 * 1024**2
    max_page_bytes: ByteSize = 5 * 1024**2
    max_redirects: int = Field(default=5, ge=0, le=30)
    per_host: int = Field(default=2, ge=1)
    global_limit: int = Field(default=64, ge=1)
    allow_private: bool = False
    user_agent: str | None = None  # None: "news-monitor/<version> (+homepage)"
    transport: Literal["auto", "aiohttp", "httpcore"] = "auto"


class FeedSettings(_Model):
    url: HttpUrl
    name: Text  # filled from host+path by the loader when the file leaves it out
    interval: Interval = timedelta(minutes=15)  # None means "auto"
    full_text: bool = True
    tags: list[str] = Field(default_factory=list)
    allow_private: bool | None = None  # None: fetch.allow_private
    enabled: bool = True

    @field_validator("tags")
    @classmethod
    def _fold_tags(cls, value: list[str]) -> list[str]:
        return [tag.strip().lower() for tag in value]


class _Digest(_Model):
    """`mode = "digest"` with `every = "1h"` or a cron expression in `timezone`."""

    mode: Literal["instant", "digest"] | None = None  # None: a rule follows its channels
    every: str | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _check_digest(self) -> _Digest:
        if self.mode == "digest" and not self.every:
            raise ValueError('mode = "digest" needs every = "1h" or a cron like "0 8 * * 1-5"')
        if self.every is not None:
            digest_schedule(self.every, self.timezone)  # raises ValueError with the reason
        return self

    def schedule(self) -> Schedule | None:
        if self.mode != "digest" or self.every is None:
            return None
        return digest_schedule(self.every, self.timezone)


def digest_schedule(every: str, timezone: str) -> Schedule:
    """A duration ("1h": fixed windows) or a five-field cron expression in `timezone`."""
    if len(every.split()) == 5:
        return Cron.parse(every, timezone)
    duration = _to_duration(every)
    assert isinstance(duration, timedelta)
    return Every(duration)


class RuleSettings(_Digest):
    name: Text
    query: Text
    channels: list[str]  # may be empty: the rule only archives its matches
    feeds: list[str] = Field(default_factory=list)  # feed names; empty: every feed
    tags: list[str] = Field(default_factory=list)  # feed tags; empty: every feed
    language: str = "english"  # Snowball stemmer name
    stemming: bool = True
    # Storm guard for this rule on each of its channels; None: the channel's, else [delivery].
    storm_limit: int | None = Field(default=None, ge=0)  # 0: this rule is never folded
    storm_window: Duration | None = None

    @field_validator("tags")
    @classmethod
    def _fold_tags(cls, value: list[str]) -> list[str]:
        return [tag.strip().lower() for tag in value]

    @field_validator("language")
    @classmethod
    def _fold_language(cls, value: str) -> str:
        return value.strip().lower()

    def spec(self) -> RuleSpec:
        return RuleSpec(
            name=self.name,
            query=self.query,
            language=self.language,
            stemming=self.stemming,
            feeds=tuple(self.feeds),
            feed_tags=tuple(self.tags),
        )


class RetryOverride(_Model):
    """A channel's own retry schedule; keys left out fall back to [delivery]."""

    retry_first: Duration | None = None
    retry_max: Duration | None = None
    give_up_after: Duration | None = None


class _ChannelBase(_Digest):
    subject_template: str | None = None  # Jinja (sandboxed); None: the built-in template
    body_template: str | None = None
    retry: RetryOverride | None = None
    # Storm guard override for this channel; None: [delivery] storm_limit / storm_window.
    storm_limit: int | None = Field(default=None, ge=0)  # 0: no limit on this channel
    concurrency: int | None = Field(default=None, ge=1)  # None: [delivery] concurrency
    storm_window: Duration | None = None


class EmailChannelSettings(_ChannelBase):
    type: Literal["email"]
    smtp_host: Text
    smtp_port: int = Field(default=587, ge=1, le=65535)  # default 465 when security = "ssl"
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    verify_tls: bool = True
    timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and "smtp_port" not in data and data.get("security") == "ssl":
            return {**data, "smtp_port": 465}
        return data

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        return [_check_address(address) for address in value]

    @model_validator(mode="after")
    def _check_login(self) -> EmailChannelSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both or neither")
        return self


def _check_address(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+|.*<[^@\s<>]+@[^@\s<>]+>", value):
        raise ValueError('expected an address like "desk@example.org" or "Desk <desk@example.org>"')
    return value


class WebhookChannelSettings(_ChannelBase):
    type: Literal["webhook"]
    url: HttpUrl
    secret: SecretStr | None = None  # HMAC-SHA256 key for the signature header
    headers: dict[str, SecretStr] = Field(default_factory=dict)  # values may hold tokens
    timeout: Duration = timedelta(seconds=10)


class AppriseChannelSettings(_ChannelBase):
    type: Literal["apprise"]
    urls: list[SecretStr] = Field(min_length=1)  # apprise URLs embed tokens


ChannelSettings = Annotated[
    EmailChannelSettings | WebhookChannelSettings | AppriseChannelSettings,
    Field(discriminator="type"),
]


class DeliverySettings(_Model):
    retry_first: Duration = timedelta(seconds=10)
    retry_max: Duration = timedelta(hours=1)
    give_up_after: Duration = timedelta(hours=24)
    concurrency: int = Field(default=4, ge=1)
    # Storm guard: at most storm_limit alerts per (rule, channel) per storm_window; the rest of
    # the window's matches fold into one summary alert. 0 turns it off.
    storm_limit: int = Field(default=20, ge=0)
    storm_window: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _check_order(self) -> DeliverySettings:
        if self.retry_first > self.retry_max:
            raise ValueError("retry_first must not be longer than retry_max")
        return self


def _to_silence(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in {"auto", "off"}:
        return value.strip().lower()
    return _to_duration(value)


class HealthSettings(_Model):
    """[health]: feed health alerts (monitor.health). No `channel`: tracked and logged only."""

    channel: str | None = None
    failures: int = Field(default=5, ge=1)  # consecutive failed polls
    failing_for: Duration = timedelta(hours=6)  # or failing this long
    silent_for: Annotated[timedelta | Literal["auto", "off"], BeforeValidator(_to_silence)] = "auto"
    recover_after: int = Field(default=2, ge=1)  # consecutive good polls before "recovered"


class HttpSettings(_Model):
    listen: str | None = None  # "127.0.0.1:9464"; None: no health/metrics endpoint

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError('expected "host:port", e.g. "127.0.0.1:9464"')
        return value


class Settings(BaseSettings):
    """The whole configuration. Build it with `load_settings`, which also compiles the rules.

    Environment variables NEWS_MONITOR_<TABLE>__<KEY> (e.g. NEWS_MONITOR_ARCHIVE__URL)
    override the files; `load_settings` applies them from the mapping it is given.
    """

    model_config = SettingsConfigDict(
        env_prefix="NEWS_MONITOR_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    archive: ArchiveSettings = ArchiveSettings()  # frozen: safe to share
    fetch: FetchSettings = FetchSettings()  # frozen: safe to share
    feeds: list[FeedSettings] = Field(default_factory=list)
    rules: list[RuleSettings] = Field(default_factory=list)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    delivery: DeliverySettings = DeliverySettings()  # frozen: safe to share
    http: HttpSettings = HttpSettings()  # frozen: safe to share
    health: HealthSettings = HealthSettings()  # frozen: safe to share
    include: list[str] = Field(default_factory=list)
    watch: bool = True
    # On SIGTERM, in-flight polls and deliveries get this long; the unit's TimeoutStopSec is longer.
    stop_grace: Duration = timedelta(seconds=30)

    _source_files: tuple[Path, ...] = PrivateAttr(default=())
    _watch_dirs: tuple[Path, ...] = PrivateAttr(default=())
    _ruleset: Any = PrivateAttr(default=None)  # a monitor.query.RuleSet once loaded

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The loader merges the environment it is given (not os.environ) before validation.
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _name_feeds(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("feeds"), list):
            return {**data, "feeds": with_feed_names(data["feeds"])}
        return data

    @property
    def source_files(self) -> list[Path]:
        """The main file and the included files, in load order: what a reload re-reads."""
        return list(self._source_files)

    @property
    def watch_dirs(self) -> list[Path]:
        """Directories of the include patterns: a file added there changes the config."""
        return list(self._watch_dirs)

    @property
    def ruleset(self) -> RuleSet:
        """The compiled RuleSet (monitor.query), compiled once by load_settings."""
        if self._ruleset is None:
            raise ConfigError("settings were not built by load_settings: no compiled rules")
        ruleset: RuleSet = self._ruleset
        return ruleset

    def rule_specs(self) -> list[RuleSpec]:
        return [rule.spec() for rule in self.rules]

    def delivery_for(self, channel: str) -> DeliverySettings:
        """[delivery] with the channel's `retry` override applied."""
        override = self.channels[channel].retry
        if override is None:
            return self.delivery
        update = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.delivery.model_copy(update=update)


def normalise_archive_url(url: str, *, base_dir: Path | None) -> str:
    """postgres(ql):// -> postgresql+psycopg://; a relative sqlite path joins `base_dir`."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError('expected a database URL such as "sqlite:////var/lib/news-monitor/a.db"')
    if scheme in {"postgres", "postgresql"}:
        return f"postgresql+psycopg://{rest}"
    if scheme.startswith("postgresql+"):
        return url
    if scheme in {"sqlite", "sqlite+pysqlite"}:
        path, qsep, query = rest.partition("?")
        if path.startswith("/") and not path.startswith("//") and path != "/:memory:":
            relative = path[1:]
            if relative and base_dir is not None:
                path = "/" + str((base_dir / relative).resolve())
        return f"{scheme}://{path}{qsep}{query}"
    safe = re.sub(r"[^a-z0-9+]", "", scheme.lower())[:20]
    raise ValueError(f'unsupported database "{safe}" (expected sqlite:/// or postgresql://)')


def derive_feed_name(url: str) -> str:
    """A readable name from a feed URL: host (without www.) and path, no extension."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "feed").removeprefix("www.")
    path = parts.path.rstrip("/")
    path = re.sub(r"/(rss|feed|atom|index)(\.[a-z]+)?$", "", path, flags=re.IGNORECASE)
    path = re.sub(r"\.(rss|xml|atom|rdf)$", "", path, flags=re.IGNORECASE)
    return f"{host}{path}"


def with_feed_names(feeds: list[Any]) -> list[Any]:
    """Feeds with `name` filled where missing; derived names are made unique with -2, -3."""
    taken = {f["name"] for f in feeds if isinstance(f, dict) and isinstance(f.get("name"), str)}
    named: list[Any] = []
    for feed in feeds:
        if isinstance(feed, dict) and "name" not in feed and isinstance(feed.get("url"), str):
            base = name = derive_feed_name(feed["url"])
            counter = 1
            while name in taken:
                counter += 1
                name = f"{base}-{counter}"
            taken.add(name)
            named.append({**feed, "name": name})
        else:
            named.append(feed)
    return named


__all__ = [
    "CHANNEL_TYPES",
    "DEFAULT_ARCHIVE_URL",
    "SECRET_KEYS",
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
    "derive_feed_name",
    "normalise_archive_url",
    "with_feed_names",
]
