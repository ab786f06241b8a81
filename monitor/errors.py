"""The one exception tree of news-monitor; every module raises only these.

    MonitorError                  root: str() gives message, subject (feed/rule/channel), cause
    ├── ConfigError               the config cannot be used; `problems` lists one line each
    │   └── RuleSyntaxError       a query that does not parse; carries query and column
    ├── FeedError                 one feed failed this poll; stored on the feed, never fatal
    │   ├── FetchError            network or HTTP trouble; `kind`, `status`, `retry_after`
    │   └── ParseError            the bytes are not a feed we can read
    ├── ExtractError              an article page yielded no text (the pipeline falls back)
    ├── ArchiveError              the database failed (locked, gone, migration mismatch)
    └── AlertError                a channel could not deliver; `retry_after`, `permanent`

Library errors are translated into these once, at a module's edge, and only for failures
of the environment; bugs propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence


class MonitorError(Exception):
    """Root of every error news-monitor raises on purpose."""

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.subject = subject

    def __str__(self) -> str:
        text = f"{self.subject}: {self.message}" if self.subject else self.message
        cause = self.__cause__
        if cause is not None and str(cause) and str(cause) not in text:
            text = f"{text} ({type(cause).__name__}: {cause})"
        return text


class ConfigError(MonitorError):
    """The configuration cannot be used. `problems` holds one readable line per problem."""

    def __init__(
        self, message: str, *, subject: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        super().__init__(message, subject=subject)
        self.problems: tuple[str, ...] = tuple(problems) or (str(self),)


class RuleSyntaxError(ConfigError):
    """A rule's query does not parse. `column` is 1-based; `pointer()` draws the caret."""

    def __init__(self, message: str, *, query: str, column: int, rule: str | None = None) -> None:
        self.query = query
        self.column = column
        self.rule = rule
        self.reason = message
        subject = f'rule "{rule}"' if rule else None
        super().__init__(f"{message} at column {column}", subject=subject)

    def with_rule(self, rule: str) -> RuleSyntaxError:
        """The same error, naming the rule it came from."""
        return RuleSyntaxError(self.reason, query=self.query, column=self.column, rule=rule)

    def pointer(self) -> str:
        """The query and a caret under the offending column, for terminals and logs."""
        return f"  {self.query}\n  {' ' * (self.column - 1)}^"


class FeedError(MonitorError):
    """One feed failed this poll. The error is stored on the feed and polling goes on."""


# The kinds a FetchError can have; `news-monitor feeds` shows them.
FETCH_ERROR_KINDS = (
    "bad-url",
    "dns",
    "connect",
    "tls",
    "timeout",
    "http-status",
    "too-big",
    "redirect",
    "blocked-address",
    "bad-encoding",
    "not-a-feed",
    "parse",
)


class FetchError(FeedError):
    """Network or HTTP failure for one URL."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        subject: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, subject=subject)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class ParseError(FeedError):
    """The fetched bytes are not a feed we can read (empty, HTML, hopelessly broken).

    `kind` is "not-a-feed" when the body is something else (an HTML page), else "parse".
    """

    def __init__(self, message: str, *, subject: str | None = None, kind: str = "parse") -> None:
        super().__init__(message, subject=subject)
        self.kind = kind


class ExtractError(MonitorError):
    """An article page could not be turned into text."""


class ArchiveError(MonitorError):
    """The archive database failed in a way the environment caused."""


class AlertError(MonitorError):
    """A channel could not deliver an alert.

    `retry_after` is the receiver's hint in seconds; `permanent` means retrying the same
    alert cannot help (e.g. 4xx other than 408/429); `gone` means the receiver said 410 and
    the channel should be disabled while its alerts are kept.
    """

    def __init__(
        self,
        message: str,
        *,
        subject: str | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
        gone: bool = False,
    ) -> None:
        super().__init__(message, subject=subject)
        self.retry_after = retry_after
        self.permanent = permanent
        self.gone = gone


__all__ = [
    "FETCH_ERROR_KINDS",
    "AlertError",
    "ArchiveError",
    "ConfigError",
    "ExtractError",
    "FeedError",
    "FetchError",
    "MonitorError",
    "ParseError",
    "RuleSyntaxError",
]
