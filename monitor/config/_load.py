"""Loading: TOML files and includes, `${ENV}` expansion, environment overrides, validation.

Every problem found is collected (never just the first) as one line naming the file, line
and key path; secret values are scrubbed from every line. Rules are compiled here, once.
"""

from __future__ import annotations

import difflib
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource, SettingsError

from monitor.errors import ConfigError
from monitor.models import RuleSpec
from monitor.query import compile_rules

from ._schema import (
    CHANNEL_TYPES,
    SECRET_KEYS,
    RuleSettings,
    Settings,
    normalise_archive_url,
    with_feed_names,
)
from ._toml import KeyPath, TomlFile, read_toml
from ._values import expand_env
from ._wording import (
    RENAMED,
    caused_by,
    format_path,
    hint,
    is_secret,
    known_keys,
    short,
)

DEFAULT_CONFIG_PATH = Path("/etc/news-monitor/monitor.toml")
CONFIG_ENV_VAR = "NEWS_MONITOR_CONFIG"
ENV_PREFIX = "NEWS_MONITOR_"

_RULE_PROBLEM_RE = re.compile(r'^rule "((?:[^"\\]|\\.)*)": (.*)$', re.DOTALL)
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """The config file: --config, else $NEWS_MONITOR_CONFIG, else /etc/news-monitor/monitor.toml."""
    chosen = cli_value or environ.get(CONFIG_ENV_VAR) or None
    return Path(chosen).expanduser() if chosen else DEFAULT_CONFIG_PATH


def load_settings(path: Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, expand, validate and compile the config at `path` (with its included files).

    Raises ConfigError whose `problems` lists every problem found, one line each.
    """
    return _Loader(Path(path).absolute(), os.environ if environ is None else environ).load()


def check_config(path: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """The problem lines for `news-monitor check` (empty when the config is valid)."""
    try:
        load_settings(path, environ=environ)
    except ConfigError as exc:
        return list(exc.problems)
    return []


@dataclass(frozen=True, slots=True)
class _Problem:
    message: str
    file: TomlFile | None = None
    path: KeyPath = ()  # inside `file` (rule indexes are the file's own)
    subject: str | None = None  # replaces the key path, e.g. 'rule "iraq"'
    line: int | None = None


@dataclass(frozen=True, slots=True)
class _Origin:
    file: TomlFile
    index: int  # position in that file's [[rules]]


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping instead of os.environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._environ)
        return {key.lower(): value for key, value in self._environ.items()}


class _Loader:
    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.base_dir = path.parent
        self.environ = environ
        self.problems: list[_Problem] = []
        self.files: list[TomlFile] = []
        self.origins: list[_Origin] = []  # one per merged rule
        self.env_paths: set[KeyPath] = set()  # keys the environment overrode
        self.watch_dirs: list[Path] = []
        self.secrets: set[str] = set()
        self.env_problems: list[tuple[TomlFile, KeyPath]] = []  # where a ${NAME} failed

    # -- the steps ---------------------------------------------------------------------

    def load(self) -> Settings:
        main = self._read(self.path, self.path.name)
        if main is None:
            raise self._error()
        data = dict(main.data)
        rules = data.get("rules", [])
        if isinstance(rules, list):
            self.origins = [_Origin(main, i) for i in range(len(rules))]
        included = self._included_rules(data.get("include"))
        if isinstance(rules, list):  # else the schema reports the main file's "rules"
            data["rules"] = list(rules) + included
        data = self._apply_environment(data)
        if isinstance(data.get("feeds"), list):
            data["feeds"] = with_feed_names(data["feeds"])
        self._collect_secrets(data, ())
        settings = self._validate(data)
        self._check_references(data)
        ruleset = self._compile(data.get("rules"))
        if self.problems or settings is None:
            raise self._error()
        settings._source_files = tuple(file.path for file in self.files)
        settings._watch_dirs = tuple(dict.fromkeys(self.watch_dirs))
        settings._ruleset = ruleset
        return settings

    def _read(self, path: Path, display: str) -> TomlFile | None:
        try:
            file = read_toml(path, display)
        except ConfigError as exc:
            self.problems.append(_Problem(exc.message))
            return None
        self.files.append(file)
        file.data = self._expand(file, file.data, ())
        return file

    def _expand(self, file: TomlFile, value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            expanded, used, problems = expand_env(value, self.environ)
            self.secrets.update(used)
            for problem in problems:
                self.problems.append(_Problem(problem, file, path))
                self.env_problems.append((file, path))
            return expanded
        if isinstance(value, dict):
            return {k: self._expand(file, v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._expand(file, v, (*path, i)) for i, v in enumerate(value)]
        return value

    def _included_rules(self, include: Any) -> list[Any]:
        if not isinstance(include, list):
            return []  # the schema reports the wrong type
        main = self.files[0]
        seen = {self.path.resolve()}
        rules: list[Any] = []
        for position, pattern in enumerate(include):
            if not isinstance(pattern, str):
                continue
            full = os.path.join(self.base_dir, os.path.expanduser(pattern))
            self.watch_dirs.append(_glob_root(Path(full)))
            matches = sorted(glob.glob(full, recursive=True))
            if not matches and not glob.has_magic(pattern):
                message = f'included file "{pattern}" does not exist'
                self.problems.append(_Problem(message, main, ("include", position)))
            for match in matches:
                resolved = Path(match).resolve()
                if resolved in seen or not resolved.is_file():
                    continue
                seen.add(resolved)
                file = self._read(Path(match), _display(Path(match), self.base_dir))
                if file is not None:
                    rules.extend(self._rules_of(file))
        return rules

    def _rules_of(self, file: TomlFile) -> list[Any]:
        for key in file.data:
            if key != "rules":
                message = "unknown key: an included file holds only [[rules]]"
                self.problems.append(_Problem(message, file, (key,)))
        rules = file.data.get("rules", [])
        if not isinstance(rules, list):
            self.problems.append(
                _Problem("must be an array of tables ([[rules]])", file, ("rules",))
            )
            return []
        self.origins.extend(_Origin(file, i) for i in range(len(rules)))
        return list(rules)

    def _apply_environment(self, data: dict[str, Any]) -> dict[str, Any]:
        archive = data.get("archive")
        if isinstance(archive, dict) and isinstance(archive.get("url"), str):
            try:
                url = normalise_archive_url(archive["url"], base_dir=self.base_dir)
                data["archive"] = {**archive, "url": url}
            except ValueError:
                pass  # the schema reports it
        try:
            overrides = _EnvSource(self.environ)()
        except SettingsError as exc:
            self.problems.append(_Problem(f"environment: {exc}"))
            return data
        self.env_paths = set(_leaf_paths(overrides, ()))
        return _deep_merge(data, overrides)

    def _collect_secrets(self, value: Any, path: KeyPath) -> None:
        secret = any(isinstance(part, str) and part in SECRET_KEYS for part in path)
        if isinstance(value, str):
            if secret:
                self.secrets.add(value)
            elif path == ("archive", "url"):
                password = re.search(r"//[^/:@]*:([^/@]*)@", value)
                if password:
                    self.secrets.add(password.group(1))
        elif isinstance(value, dict):
            for key, item in value.items():
                self._collect_secrets(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._collect_secrets(item, (*path, index))

    def _validate(self, data: dict[str, Any]) -> Settings | None:
        try:
            return Settings(**data)
        except ValidationError as exc:
            for error in exc.errors():
                self._schema_problem(error, data)
        return None

    def _schema_problem(self, error: Any, data: dict[str, Any]) -> None:
        loc: KeyPath = tuple(error["loc"])
        kind: str = error["type"]
        message: str = error["msg"]
        if loc[:1] == ("channels",) and len(loc) > 2 and loc[2] in CHANNEL_TYPES:
            loc = loc[:2] + loc[3:]  # drop the discriminator pydantic puts in the location
        expected = ", ".join(CHANNEL_TYPES[:-1]) + f" or {CHANNEL_TYPES[-1]}"
        if kind == "extra_forbidden":
            known = known_keys(loc[:-1], data)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            if not close and RENAMED.get(str(loc[-1])) in known:
                close = [RENAMED[str(loc[-1])]]
            message = f'unknown key (did you mean "{close[0]}"?)' if close else "unknown key"
        elif kind == "missing":
            message = "missing required key"
        elif kind == "union_tag_invalid":
            loc = (*loc, "type")
            tag = error.get("ctx", {}).get("tag", "")
            message = f'unknown channel type "{tag}" (expected {expected})'
        elif kind == "union_tag_not_found":
            loc = (*loc, "type")
            message = f"missing required key ({expected})"
        elif kind in {"value_error", "assertion_error"}:
            message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        else:
            message = message[:1].lower() + message[1:]
            if kind == "literal_error" and not is_secret(loc):
                message = f"{message} (got {short(error.get('input'))})"
        problem = self._at(loc, message)
        if any(problem.file is f and caused_by(problem.path, p) for f, p in self.env_problems):
            return  # the unexpanded "${NAME}" fails validation too: reported once is enough
        self.problems.append(problem)

    def _check_references(self, data: dict[str, Any]) -> None:
        feeds = [f if isinstance(f, dict) else {} for f in _list(data.get("feeds"))]
        feed_names = self._unique(feeds, "name", "feed name", "feeds")
        self._unique(feeds, "url", "feed url", "feeds")
        feed_tags = {t for f in feeds for t in _list(f.get("tags")) if isinstance(t, str)}
        feed_tags = {t.strip().lower() for t in feed_tags}
        channels = data.get("channels")
        channel_names = sorted(channels) if isinstance(channels, dict) else []
        rules = [r if isinstance(r, dict) else {} for r in _list(data.get("rules"))]
        self._unique(rules, "name", "rule name", "rules")
        health = data.get("health")
        watcher = health.get("channel") if isinstance(health, dict) else None
        if isinstance(watcher, str) and watcher not in channel_names:
            known = ", ".join(channel_names) or "none"
            message = f'undefined channel "{watcher}" (defined: {known})'
            self.problems.append(self._at(("health", "channel"), message))
        for index, rule in enumerate(rules):
            for name in _strings(rule.get("channels")):
                if name not in channel_names:
                    known = ", ".join(channel_names) or "none"
                    message = f'undefined channel "{name}" (defined: {known})'
                    self.problems.append(self._at(("rules", index, "channels"), message))
            for name in _strings(rule.get("feeds")):
                if name not in feed_names:
                    message = f'unknown feed "{name}"{hint(name, feed_names)}'
                    self.problems.append(self._at(("rules", index, "feeds"), message))
            for tag in _strings(rule.get("tags")):
                if tag.strip().lower() not in feed_tags:
                    suggestion = hint(tag.strip().lower(), sorted(feed_tags))
                    message = f'no feed has the tag "{tag}"{suggestion}'
                    self.problems.append(self._at(("rules", index, "tags"), message))

    def _unique(self, items: list[dict[str, Any]], key: str, what: str, table: str) -> list[str]:
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            value = item.get(key)
            if not isinstance(value, str):
                continue
            if value in first:
                where = self._where((table, first[value], key))
                message = f'duplicate {what} "{value}" (first defined at {where})'
                self.problems.append(self._at((table, index, key), message))
            else:
                first[value] = index
        return list(first)

    def _compile(self, rules: Any) -> Any:
        specs: list[RuleSpec] = []
        origins: dict[str, int] = {}
        for index, raw in enumerate(_list(rules)):
            try:
                rule = RuleSettings.model_validate(raw)
            except ValidationError:
                continue  # reported by the schema
            if rule.name not in origins:
                origins[rule.name] = index
                specs.append(rule.spec())
        try:
            return compile_rules(specs)
        except ConfigError as exc:
            for line in exc.problems:
                match = _RULE_PROBLEM_RE.match(line)
                if match is None or match.group(1) not in origins:
                    self.problems.append(_Problem(line))
                    continue
                origin = self.origins[origins[match.group(1)]]
                at = origin.file.line_of(("rules", origin.index, "query"))
                subject = f'rule "{match.group(1)}"'
                self.problems.append(_Problem(match.group(2), origin.file, (), subject, at))
        return None

    # -- locating and formatting ---------------------------------------------------------

    def _at(self, path: KeyPath, message: str) -> _Problem:
        """A problem at `path` of the merged data, placed in the file that defines it."""
        for env_path in self.env_paths:
            if path[: len(env_path)] == env_path:
                variable = ENV_PREFIX + "__".join(str(p) for p in env_path).upper()
                return _Problem(f"{message} (set by {variable})", None, path)
        index = path[1] if path[:1] == ("rules",) and len(path) > 1 else None
        if isinstance(index, int) and index < len(self.origins):
            origin = self.origins[index]
            return _Problem(message, origin.file, ("rules", origin.index, *path[2:]))
        return _Problem(message, self.files[0], path)

    def _where(self, path: KeyPath) -> str:
        problem = self._at(path, "")
        if problem.file is None:
            return "the environment"
        line = problem.file.line_of(problem.path)
        return f"{problem.file.display}:{line}" if line else problem.file.display

    def _format(self, problem: _Problem) -> str:
        file = problem.file
        line = problem.line
        if file is not None and line is None and problem.path:
            line = file.line_of(problem.path)
        prefix = ""
        if file is not None and line is not None:
            prefix = f"{file.display}:{line}: "
        elif file is not None and file is not self.files[0]:
            prefix = f"{file.display}: "
        message = problem.message
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                message = message.replace(secret, "***")
        subject = problem.subject or format_path(problem.path, file)
        return f"{prefix}{subject}: {message}" if subject else prefix + message

    def _error(self) -> ConfigError:
        order = {id(file): position for position, file in enumerate(self.files)}

        def key(problem: _Problem) -> tuple[int, int]:
            file = problem.file
            if file is None:
                return (len(order), 0)
            line = problem.line or (file.line_of(problem.path) if problem.path else None)
            return (order.get(id(file), 0), line or 0)

        problems = [self._format(p) for p in sorted(self.problems, key=key)]
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        return ConfigError(
            f"invalid configuration ({count})", subject=str(self.path), problems=problems
        )


def _glob_root(pattern: Path) -> Path:
    """The directory part of a glob pattern before its first wildcard."""
    parts = []
    for part in pattern.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    root = Path(*parts) if parts else Path()
    return root if glob.has_magic(pattern.name) or root.is_dir() else root.parent


def _display(path: Path, base_dir: Path) -> str:
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _leaf_paths(value: Any, path: KeyPath) -> list[KeyPath]:
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in _leaf_paths(v, (*path, k))]
    return [path]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


__all__ = ["CONFIG_ENV_VAR", "DEFAULT_CONFIG_PATH", "check_config", "config_path", "load_settings"]
