"""What a ``videos.list`` resource says about a video, in the types the database keeps.

Rules match on these (ytsync.rules): the publishing channel, the duration, the publish
date.  YouTube gives the duration in ISO 8601 (``PT1H2M3S``; ``P0D`` for a live or
upcoming broadcast, whose length is not known yet) and the date as an RFC 3339 time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ytsync.db import bounds
from ytsync.safetext import storable

_DURATION = TypeAdapter(timedelta)


@dataclass(frozen=True, slots=True)
class VideoDetails:
    title: str
    channel_id: str | None
    channel_title: str | None
    duration_seconds: int | None
    published_at: datetime | None


def video_details(resource: dict[str, Any]) -> VideoDetails:
    """The details of one item of a ``videos.list`` answer (parts snippet and
    contentDetails); a field YouTube left out or gave malformed is None."""
    snippet = resource.get("snippet", {})
    # Texts as every database stores them (ytsync.db.bounds): NUL becomes U+FFFD, and
    # a channel id that does not fit its column is malformed.
    channel_id = _text(snippet.get("channelId"))
    if channel_id and bounds.id_problem("channel id", channel_id, bounds.CHANNEL_ID):
        channel_id = None
    return VideoDetails(
        title=storable(str(snippet.get("title", ""))),
        channel_id=channel_id,
        channel_title=_text(snippet.get("channelTitle")),
        duration_seconds=parse_duration(resource.get("contentDetails", {}).get("duration")),
        published_at=_time(snippet.get("publishedAt")),
    )


def parse_duration(value: object) -> int | None:
    """Whole seconds of an ISO 8601 duration; None for P0D (not known yet) or junk."""
    if not isinstance(value, str):
        return None
    try:
        seconds = int(_DURATION.validate_python(value).total_seconds())
    except ValidationError:
        return None
    return seconds or None


def _text(value: object) -> str | None:
    return storable(value) if isinstance(value, str) and value else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
