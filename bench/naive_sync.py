"""The original naive policy, as a plain script: the yardstick ``quota_days.py`` measures
ytsync against.  No ytsync code: google-api-python-client only.

The policy: writes go out in batches of 10; before each batch the script asks how much
quota is left today, and when fewer than 1,000 units remain it stops for the day and
starts again at the next reset.  No reconciliation: a write that fails is logged and
skipped, a lost answer is whatever httplib2 makes of it.  Steps, as the first script did
them: list the channel's playlists (the ones to delete afterwards), create one playlist
per unprotected category of the plan, add every video of the plan to its category's
playlist (unavailable ones included: the script does not know), delete the old
playlists.

Where "quota left" comes from is a parameter (``remaining``): YouTube has no API for it,
so a real script keeps its own count or reads the Cloud console; the benchmark passes the
emulator's own counter, which is what the console would show.  Time is a parameter too:
``clock.sleep_until`` jumps to the next reset instead of sleeping for hours.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from benchkit import SimClock
from googleapiclient.errors import HttpError

from ytsync.quota import QuotaClock

BATCH = 10
STOP_BELOW = 1_000


@dataclass
class NaiveResult:
    writes_ok: int = 0
    writes_failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    stops: int = 0  # times it stopped for the day
    idle_seconds: float = 0.0  # simulated seconds spent waiting for resets
    quota_refusals: int = 0


def _reason(error: HttpError) -> str:
    try:
        body = json.loads(error.content)
        return str(body["error"]["errors"][0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError):
        return f"http {error.resp.status}"


def naive_sync(
    youtube: Any,
    plan_rows: list[tuple[str, str, bool]],
    *,
    clock: SimClock,
    quota_clock: QuotaClock,
    remaining: Callable[[], int],
    batch: int = BATCH,
    stop_below: int = STOP_BELOW,
) -> NaiveResult:
    """Reorganize the library the naive way; returns what happened."""
    result = NaiveResult()

    old: list[str] = []
    token: str | None = None
    while True:
        page = (
            youtube.playlists().list(part="id", mine=True, maxResults=50, pageToken=token).execute()
        )
        old += [item["id"] for item in page.get("items", [])]
        token = page.get("nextPageToken")
        if not token:
            break

    categories: list[str] = []
    for category, _video, protected in plan_rows:
        if not protected and category not in categories:
            categories.append(category)
    created: dict[str, str] = {}

    def create(category: str) -> None:
        body = {"snippet": {"title": category}, "status": {"privacyStatus": "private"}}
        response = youtube.playlists().insert(part="snippet,status", body=body).execute()
        created[category] = response["id"]

    def add(category: str, video_id: str) -> None:
        body = {
            "snippet": {
                "playlistId": created[category],
                "resourceId": {"kind": "youtube#video", "videoId": video_id},
            }
        }
        youtube.playlistItems().insert(part="snippet", body=body).execute()

    def delete(playlist_id: str) -> None:
        youtube.playlists().delete(id=playlist_id).execute()

    writes: list[Callable[[], None]] = [partial(create, c) for c in categories]
    writes += [partial(add, c, v) for c, v, protected in plan_rows if not protected]
    writes += [partial(delete, p) for p in old]

    def stop_for_the_day() -> None:
        result.stops += 1
        result.idle_seconds += clock.sleep_until(quota_clock.next_reset(clock()))

    index = 0
    while index < len(writes):
        if remaining() < stop_below:
            stop_for_the_day()
            continue
        for write in writes[index : index + batch]:
            while True:
                try:
                    write()
                    result.writes_ok += 1
                except HttpError as error:
                    reason = _reason(error)
                    if reason in ("quotaExceeded", "dailyLimitExceeded"):
                        result.quota_refusals += 1
                        stop_for_the_day()
                        continue  # the same write again after the reset
                    result.writes_failed += 1
                    result.errors[reason] = result.errors.get(reason, 0) + 1
                except KeyError:  # its category's playlist was never created
                    result.writes_failed += 1
                    result.errors["no playlist"] = result.errors.get("no playlist", 0) + 1
                break
        index += batch
    return result
