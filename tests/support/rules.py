"""Rules files for tests, and what a rule should place, read from the emulator itself.

The expected sets come from the emulator's own records of the library (titles, owners,
ISO 8601 durations, publish dates), with Python's fnmatch and re, not from ytsync's
matcher: a test compares two independent readings of the same library.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from ytsync_emulator import EmulatorState
from ytsync_emulator.model import Video

_ISO = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def write_rules(folder: Path, text: str, name: str = "rules.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def iso_seconds(duration: str) -> int:
    match = _ISO.fullmatch(duration)
    assert match, duration
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class Truth:
    """One video of the library as the emulator knows it: its record (None when the
    channel may not see it: deleted, someone else's private), and its playlists."""

    video_id: str
    video: Video | None
    playlists: frozenset[str]

    def glob(self, pattern: str, text: str | None) -> bool:
        return text is not None and fnmatchcase(text.casefold(), pattern.casefold())


def library_truth(state: EmulatorState) -> dict[str, Truth]:
    """The videos of the channel's normal playlists (what import brings in)."""
    with state.lock:
        where: dict[str, set[str]] = {}
        for playlist in state.playlists.values():
            if playlist.special:
                continue
            for item in playlist.items:
                where.setdefault(item.video_id, set()).add(playlist.title)
        result: dict[str, Truth] = {}
        for video_id, titles in where.items():
            video = state.videos.get(video_id)
            visible = (
                video is not None
                and not video.deleted
                and (video.privacy != "private" or video.owner_channel_id == state.channel_id)
            )
            result[video_id] = Truth(video_id, video if visible else None, frozenset(titles))
    return result


def shown(predicate: Callable[[Video], bool]) -> Callable[[Truth], bool]:
    """A condition on what videos.list shows: never true of a video it does not show."""
    return lambda truth: truth.video is not None and predicate(truth.video)
