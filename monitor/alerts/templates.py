"""User templates for a channel's subject and body, in a sandboxed Jinja2 environment.

A template is compiled and test-rendered when the channel is built, so a typo shows up at
start-up; any later failure is an AlertError naming the channel. Imports `render`, `models`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from monitor.alerts.render import marked_html, template_context
from monitor.errors import AlertError
from monitor.models import Alert

_SAMPLE = Alert(
    id="sample",
    rule="sample rule",
    channel="sample",
    title="Sample <title>",
    url="https://example.org/story",
    feed="Example feed",
    published=datetime(2024, 1, 1, tzinfo=UTC),
    matched=("sample",),
    snippet="a sample snippet",
    marks=((2, 8),),
    detected_at=datetime(2024, 1, 1, tzinfo=UTC),
)


def _environment(*, html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
    )


_TEXT_ENV = _environment(html=False)
_HTML_ENV = _environment(html=True)


class Template:
    """One compiled user template; `render(alert)` raises AlertError(permanent) on failure."""

    __slots__ = ("_channel", "_html", "_role", "_template")

    def __init__(self, source: str, *, channel: str, role: str, html: bool = False) -> None:
        self._channel = channel
        self._role = role
        self._html = html
        env = _HTML_ENV if html else _TEXT_ENV
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise AlertError(
                f"{role} template does not compile: {exc.message} (line {exc.lineno})",
                subject=f'channel "{channel}"',
                permanent=True,
            ) from None
        self.render(_SAMPLE)  # fail at start-up, not at the first alert

    def render(self, alert: Alert) -> str:
        """The template applied to `alert` (HTML templates autoescape feed text)."""
        context = template_context(alert)
        if self._html:
            context["snippet_html"] = Markup(marked_html(alert))  # noqa: S704 - escaped by marked_html
        try:
            return self._template.render(context)
        except jinja2.TemplateError as exc:  # undefined names, sandbox refusals, filter errors
            raise AlertError(
                f"{self._role} template failed: {type(exc).__name__}: {exc}",
                subject=f'channel "{self._channel}"',
                permanent=True,
            ) from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise AlertError(
                f"{self._role} template failed: {type(exc).__name__}: {exc}",
                subject=f'channel "{self._channel}"',
                permanent=True,
            ) from None


def compile_template(
    source: str | None, *, channel: str, role: str, html: bool = False
) -> Template | None:
    """A compiled template, or None when the channel uses the default rendering."""
    if source is None:
        return None
    return Template(source, channel=channel, role=role, html=html)


__all__ = ["Template", "compile_template"]
