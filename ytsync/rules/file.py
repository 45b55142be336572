"""The rules file: TOML, read with ``tomllib`` and checked as a whole.

```toml
[category."Shorts"]          # optional: the category's playlist settings
privacy = "unlisted"         # private (default), unlisted or public
description = "Under a minute"
protected = false            # true: no playlist, its videos are added nowhere

[[rule]]                     # rules in order; the first that matches places the video
category = "Shorts"
max_duration = "60s"         # also min_duration; 60s, 5m, 1h30m, or a number of seconds

[[rule]]
category = "Live music"
playlist = "Music*"          # the title of a playlist the video sits in (glob, any case)
title = 'live|concert'       # a regular expression searched in the video's title (any case)
channel = ["* Official", "UCxxxxxxxxxxxxxxxxxxxxxx"]  # publishing channel: title glob or id
published_after = 2020-01-01 # on or after; published_before: strictly before

[sources]                    # what a schedule sorts (ytsync.organize); plan rules ignores it
inbox = "Inbox"              # a playlist (title or id): matched videos move out of it
uploads = true               # the channel's uploads: matched videos are copied
```

Every problem is reported at once, by line and rule, and nothing is applied when there
is one.  ``tomllib`` gives no positions: ``ytsync.rules.lines`` finds the line of each
``[[rule]]`` and ``[category.NAME]`` header and of the keys under them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from ytsync.errors import UserError
from ytsync.files import read_regular
from ytsync.plan import Problems
from ytsync.rules.lines import Header, Layout
from ytsync.rules.model import Rule, title_pattern

# A rules file is written by hand: a few hundred rules are a few tens of KiB.
MAX_RULES_BYTES = 1024 * 1024
WHAT = "rules file"
MATCH_KEYS = (
    "playlist",
    "title",
    "channel",
    "min_duration",
    "max_duration",
    "published_after",
    "published_before",
)
RULE_KEYS = ("category", *MATCH_KEYS)
SETTING_KEYS = ("privacy", "description", "protected")
SOURCE_KEYS = ("inbox", "uploads")
TOP_KEYS = ("rule", "category", "sources")
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.IGNORECASE)
_DURATION_HINT = "write it like 60s, 5m, 1h30m or a number of seconds"
_DATE_HINT = "write a date (2024-01-31) or a time with its offset (2024-01-31T18:00:00Z)"

# Notes a problem with a key of the table being checked (None: the table itself).
Report = Callable[[str | None, str], None]


@dataclass(frozen=True)
class CategorySettings:
    name: str
    line: int
    protected: bool = False
    privacy: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Sources:
    """Where a scheduled run takes new videos from."""

    # A playlist's title or id; None: no inbox.
    inbox: str | None = None
    uploads: bool = False

    @property
    def any(self) -> bool:
        return self.inbox is not None or self.uploads


@dataclass
class RuleSet:
    """A rules file, read: its rules in order and the settings of its categories.

    ``problems`` holds what is wrong with the file, not raised yet: the plan built from
    it adds what only the library can tell, and they are reported together."""

    source: str
    rules: list[Rule]
    settings: dict[str, CategorySettings]
    problems: Problems
    # Category name -> the line its name is checked on (its settings, else its first rule).
    category_lines: dict[str, int] = field(default_factory=dict)
    sources: Sources = field(default_factory=Sources)

    @property
    def categories(self) -> list[str]:
        """Category names in the order the file first names them."""
        return list(self.category_lines)


def read_rules(path: Path) -> RuleSet:
    """Read and check the rules file at ``path``; raise UserError for a file that is not
    TOML at all, and collect every other problem in ``RuleSet.problems``."""
    return parse_rules(read_rules_text(path), str(path))


def parse_rules(text: str, source: str) -> RuleSet:
    """Check the rules ``text`` (read from ``source``), as ``read_rules`` does."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{WHAT} {source} is not valid TOML: {exc}; nothing was applied") from None
    return _Checker(source, Layout(text)).check(data)


def read_rules_text(path: Path) -> str:
    """The text of the rules file at ``path``: a regular file, UTF-8, at most 1 MiB."""
    try:
        data = read_regular(path, MAX_RULES_BYTES, WHAT)
    except FileNotFoundError:
        raise UserError(f"cannot read {WHAT} {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"cannot read {WHAT} {path}: it is a directory") from None
    except PermissionError:
        raise UserError(f"cannot read {WHAT} {path}: permission denied") from None
    except OSError as exc:
        raise UserError(f"cannot read {WHAT} {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{WHAT} {path} is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None


class _Where:
    """Words a line: ``line 12 (rule 3)``, ``line 4 (category 'Music')``."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int, str]] = []

    def add(self, first: int, last: int, label: str) -> None:
        self.spans.append((first, last, label))

    def __call__(self, line: int) -> str:
        label = next((lb for first, last, lb in self.spans if first <= line < last), None)
        return f"line {line} ({label})" if label else f"line {line}"


class _Checker:
    def __init__(self, source: str, layout: Layout) -> None:
        self.layout = layout
        self.where = _Where()
        self.problems = Problems(source, what=WHAT, where=self.where)
        self.source = source

    def check(self, data: dict[str, Any]) -> RuleSet:
        for key in data:
            if key not in TOP_KEYS:
                self.problems.add(
                    self.layout.top_key_line(key) or 1,
                    f"unknown key {key!r}; a rules file holds [[rule]] tables, "
                    "[category.NAME] tables and a [sources] table",
                )
        rules = self._rules(data.get("rule"))
        settings = self._settings(data.get("category", {}))
        sources = self._sources(data.get("sources", {}))
        lines: dict[str, int] = {}
        given = [(found.line, name) for name, found in settings.items()]
        for line, name in sorted(given + [(rule.line, rule.category) for rule in rules]):
            lines.setdefault(name, line)
        raw_rules = data.get("rule")
        # Rules with problems of their own still name their category.
        named = {
            table["category"].strip()
            for table in (raw_rules if isinstance(raw_rules, list) else [])
            if isinstance(table, dict) and isinstance(table.get("category"), str)
        }
        for name, found in settings.items():
            if name not in named:
                self.problems.add(
                    found.line,
                    f"no rule places videos in category {name!r}; add a rule for it or "
                    "remove its settings",
                )
        return RuleSet(self.source, rules, settings, self.problems, lines, sources)

    def _sources(self, raw: object) -> Sources:
        headers = self.layout.tables("sources")
        header = headers[0] if headers else None
        line = header.line if header else self.layout.top_key_line("sources") or 1
        if header is not None:
            self.where.add(line, self.layout.end_of(header), "sources")

        def add(key: str | None, message: str) -> None:
            at = self.layout.key_line(key, header) if key and header else None
            self.problems.add(at or line, message)

        if not isinstance(raw, dict):
            add(None, "'sources' must be a [sources] table (inbox, uploads)")
            return Sources()
        for key in raw:
            if key not in SOURCE_KEYS:
                add(key, f"unknown key {key!r}; [sources] takes {', '.join(SOURCE_KEYS)}")
        inbox = raw.get("inbox")
        if inbox is not None and (not isinstance(inbox, str) or not inbox.strip()):
            add("inbox", "inbox must be a playlist's title or id in quotes")
            inbox = None
        uploads = raw.get("uploads", False)
        if not isinstance(uploads, bool):
            add("uploads", "uploads must be true or false (no quotes)")
            uploads = False
        return Sources(inbox.strip() if isinstance(inbox, str) else None, uploads)

    # ------------------------------------------------------------------ rules

    def _rules(self, raw: object) -> list[Rule]:
        if raw is None:
            self.problems.add(
                1, "there is no rule; add a [[rule]] table with a category and its conditions"
            )
            return []
        headers = self.layout.tables("rule", array=True)
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            self.problems.add(
                self.layout.top_key_line("rule") or 1,
                "'rule' must be [[rule]] tables, each with a category and its conditions",
            )
            return []
        inline = len(headers) != len(raw)
        if inline:
            # An inline array of tables (rule = [{...}, ...]): the rules share its line.
            line = self.layout.top_key_line("rule") or 1
            headers = [Header(line, True, ("rule",)) for _ in raw]
        rules: list[Rule] = []
        for number, (table, header) in enumerate(zip(raw, headers, strict=True), start=1):
            if not inline:
                self.where.add(header.line, self.layout.end_of(header), f"rule {number}")
            rule = self._rule(number, header, table, inline=inline)
            if rule is not None:
                rules.append(rule)
        self._check_reachable(rules)
        return rules

    def _rule(
        self, number: int, header: Header, table: dict[str, Any], *, inline: bool
    ) -> Rule | None:
        problems_before = len(self.problems.found)

        def add(key: str | None, message: str) -> None:
            if inline:
                self.problems.add(header.line, f"rule {number}: {message}")
                return
            line = self.layout.key_line(key, header) if key else None
            self.problems.add(line or header.line, message)

        for key in table:
            if key not in RULE_KEYS:
                add(key, f"unknown key {key!r}; a rule takes {', '.join(RULE_KEYS)}")
        category = table.get("category")
        if category is None:
            add(None, 'the rule has no category; add category = "NAME"')
        elif not isinstance(category, str) or not category.strip():
            add("category", "category must be a category's name in quotes")
        fields: dict[str, Any] = {}
        for key in ("playlist", "title", "channel"):
            if key in table:
                fields[key] = self._texts(key, table[key], add)
        for pattern in fields.get("title", ()):
            try:
                title_pattern(pattern)
            except re.error as exc:
                add("title", f"title {pattern!r} is not a regular expression: {exc}")
        for key in ("min_duration", "max_duration"):
            if key in table:
                fields[key] = _duration(key, table[key], add)
        for key in ("published_after", "published_before"):
            if key in table:
                fields[key] = _moment(key, table[key], add)
        low, high = fields.get("min_duration"), fields.get("max_duration")
        if low is not None and high is not None and low > high:
            add("min_duration", "min_duration is more than max_duration: the rule matches nothing")
        after, before = fields.get("published_after"), fields.get("published_before")
        if after is not None and before is not None and after >= before:
            add(
                "published_after",
                "published_after is not before published_before: the rule matches nothing",
            )
        if len(self.problems.found) > problems_before or not isinstance(category, str):
            return None
        return Rule(number, header.line, category.strip(), **fields)

    def _texts(self, key: str, value: object, add: Report) -> tuple[str, ...]:
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            add(key, f"{key} must be text in quotes, or a list of them, none empty")
            return ()
        return tuple(values)

    def _check_reachable(self, rules: list[Rule]) -> None:
        catch_all = next((rule for rule in rules if rule.catches_all), None)
        if catch_all is None:
            return
        for rule in rules:
            if rule.number > catch_all.number:
                self.problems.add(
                    rule.line,
                    f"this rule never places a video: rule {catch_all.number} (line "
                    f"{catch_all.line}) has no condition and places every video first; "
                    "put it last",
                )

    # -------------------------------------------------------------- categories

    def _settings(self, raw: object) -> dict[str, CategorySettings]:
        if not isinstance(raw, dict):
            self.problems.add(
                self.layout.top_key_line("category") or 1,
                "'category' must be [category.NAME] tables of settings",
            )
            return {}
        headers = self.layout.sub_tables("category")
        fallback = self.layout.top_key_line("category") or 1
        settings: dict[str, CategorySettings] = {}
        for name, table in raw.items():
            header = headers.get(name)
            line = header.line if header else fallback
            if header is not None:
                self.where.add(line, self.layout.end_of(header), f"category {name!r}")
            found = self._category(name, line, header, table)
            if found is not None:
                settings[name] = found
        return settings

    def _category(
        self, name: str, line: int, header: Header | None, table: object
    ) -> CategorySettings | None:
        def add(key: str | None, message: str) -> None:
            at = self.layout.key_line(key, header) if key and header else None
            self.problems.add(at or line, message)

        if not isinstance(table, dict):
            add(None, f"category {name!r} must be a table of settings ({', '.join(SETTING_KEYS)})")
            return None
        problems_before = len(self.problems.found)
        for key in table:
            if key not in SETTING_KEYS:
                add(key, f"unknown key {key!r}; a category takes {', '.join(SETTING_KEYS)}")
        protected = table.get("protected", False)
        if not isinstance(protected, bool):
            add("protected", "protected must be true or false (no quotes)")
        texts: dict[str, str | None] = {}
        for key in ("privacy", "description"):
            value = table.get(key)
            if value is not None and not isinstance(value, str):
                add(key, f"{key} must be text in quotes")
            texts[key] = value if isinstance(value, str) else None
        if len(self.problems.found) > problems_before:
            return None
        return CategorySettings(name, line, bool(protected), texts["privacy"], texts["description"])


def _duration(key: str, value: object, add: Report) -> int | None:
    """Seconds: a whole number, or text such as 60s, 5m, 1h30m."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip().replace(" ", ""))
        if match and any(match.groups()):
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    add(key, f"{key} {value!r} is not a duration; {_DURATION_HINT}")
    return None


def _moment(key: str, value: object, add: Report) -> datetime | None:
    """A TOML date (midnight UTC), a time with its offset, or either as text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            add(key, f"{key} {value!r} is not a date; {_DATE_HINT}")
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            add(key, f"{key} {value.isoformat()} has no offset; {_DATE_HINT}")
            return None
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    add(key, f"{key} {value!r} is not a date; {_DATE_HINT}")
    return None
