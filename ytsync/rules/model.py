"""Rules, and what they are matched against: a video of the library and where it sits.

A rule places a video in its category when every condition it gives holds; a condition
given as a list holds when any of its entries does.  Rules are tried in order and the
first that matches wins.  A condition on something the library does not know (the
duration of a deleted video, the date of one imported before ytsync read dates) does
not hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import translate


@dataclass(slots=True)
class LibraryVideo:
    """A video as rules see it; ``playlists`` index ``Library.playlist_titles``."""

    youtube_id: str
    title: str
    availability: str
    channel_id: str | None
    channel_title: str | None
    duration_seconds: int | None
    published_at: datetime | None
    playlists: list[int] = field(default_factory=list)


@dataclass
class Library:
    """The videos rules sort, in the order a category keeps them, and the titles of the
    playlists they sit in."""

    videos: list[LibraryVideo]
    playlist_titles: list[str]


def glob(pattern: str) -> re.Pattern[str]:
    """A shell-style pattern (``*``, ``?``, ``[abc]``) over a whole title, in any case."""
    return re.compile(translate(pattern), re.IGNORECASE | re.DOTALL)


def title_pattern(pattern: str) -> re.Pattern[str]:
    """A regular expression found anywhere in a title, in any case unless it says
    otherwise (``(?-i:...)``); raises re.error."""
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    number: int  # 1-based, in file order
    line: int
    category: str
    playlist: tuple[str, ...] = ()
    title: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    min_duration: int | None = None
    max_duration: int | None = None
    published_after: datetime | None = None
    published_before: datetime | None = None

    @property
    def catches_all(self) -> bool:
        return not self.conditions()

    def conditions(self) -> list[str]:
        """The conditions as the rules file gives them, for a person to read."""
        found: list[str] = []
        for key in ("playlist", "title", "channel"):
            values: tuple[str, ...] = getattr(self, key)
            if values:
                found.append(f"{key} {' or '.join(repr(v) for v in values)}")
        if self.min_duration is not None:
            found.append(f"at least {format_duration(self.min_duration)}")
        if self.max_duration is not None:
            found.append(f"at most {format_duration(self.max_duration)}")
        if self.published_after is not None:
            found.append(f"published from {_moment(self.published_after)}")
        if self.published_before is not None:
            found.append(f"published before {_moment(self.published_before)}")
        return found


def _moment(moment: datetime) -> str:
    """A date when it is midnight UTC (how a date in the file is read), else the time."""
    if moment.time() == datetime.min.time():
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def format_duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"  # "60s", as a Shorts rule is written
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


class Matcher:
    """One rule made ready for a library: its playlist condition resolved to the
    library's playlists once, channel answers remembered per channel."""

    def __init__(self, rule: Rule, library: Library) -> None:
        self.rule = rule
        self._titles = [title_pattern(p) for p in rule.title]
        self._channels = [glob(p) for p in rule.channel]
        self._channel_ids = set(rule.channel)
        self._channel_seen: dict[str | None, bool] = {}
        self._playlists: frozenset[int] | None = None
        if rule.playlist:
            patterns = [glob(p) for p in rule.playlist]
            self._playlists = frozenset(
                index
                for index, title in enumerate(library.playlist_titles)
                if any(p.fullmatch(title) for p in patterns)
            )

    def matches(self, video: LibraryVideo) -> bool:
        rule = self.rule
        # The cheap conditions first: most videos fail one of them.
        if rule.min_duration is not None or rule.max_duration is not None:
            duration = video.duration_seconds
            if duration is None:
                return False
            if rule.min_duration is not None and duration < rule.min_duration:
                return False
            if rule.max_duration is not None and duration > rule.max_duration:
                return False
        if rule.published_after is not None or rule.published_before is not None:
            published = video.published_at
            if published is None:
                return False
            if rule.published_after is not None and published < rule.published_after:
                return False
            if rule.published_before is not None and published >= rule.published_before:
                return False
        if self._playlists is not None and self._playlists.isdisjoint(video.playlists):
            return False
        if self._channels and not self._channel(video):
            return False
        return not self._titles or any(p.search(video.title) for p in self._titles)

    def _channel(self, video: LibraryVideo) -> bool:
        if video.channel_id in self._channel_ids:
            return True
        title = video.channel_title
        found = self._channel_seen.get(title)
        if found is None:
            found = title is not None and any(p.fullmatch(title) for p in self._channels)
            self._channel_seen[title] = found
        return found


def first_matches(rules: Sequence[Rule], library: Library) -> list[Rule | None]:
    """For each video of ``library``, in order, the first rule that matches it."""
    matchers = [Matcher(rule, library) for rule in rules]
    return [next((m.rule for m in matchers if m.matches(video)), None) for video in library.videos]
