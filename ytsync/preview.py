"""The cost preview: what a sync would create, add and delete, and what it costs.

Every figure comes from aggregate SQL (GROUP BY, COUNT), never from loading rows one
by one, so a library of 100,000 videos previews in well under a second.  The JSON form
(``Preview.model_dump(mode="json")``) is part of the outside contract: the keys listed
in the design must stay; the others are extras.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.models import Category, CategoryVideo, Playlist, PlaylistItem, Video
from ytsync.organize.sources import is_source, source_playlists
from ytsync.quota import WRITE_COST, QuotaClock
from ytsync.strategies import Strategies, compare_strategies

# Videos YouTube refuses to add (failedPrecondition / videoNotFound): skipped for free.
UNAVAILABLE = ("private", "deleted")
# Lists of videos in the JSON are capped; their ``count`` stays the true number.
MAX_LISTED_VIDEOS = 100


class CategoryRef(BaseModel):
    category_id: int
    category_name: str


class CategoryCount(BaseModel):
    category_id: int
    category_name: str
    video_count: int


class PlaylistRef(BaseModel):
    playlist_id: int
    name: str
    youtube_id: str


class PlaylistsToCreate(BaseModel):
    count: int
    quota_cost: int
    items: list[CategoryRef]


class VideosToAdd(BaseModel):
    count: int
    quota_cost: int
    by_category: list[CategoryCount]


class PlaylistsToDelete(BaseModel):
    count: int
    quota_cost: int
    items: list[PlaylistRef]


class UnavailableVideo(BaseModel):
    video_id: str
    title: str
    availability: str
    categories: list[str]


class UnavailableVideos(BaseModel):
    count: int
    items: list[UnavailableVideo]


class UncategorizedVideo(BaseModel):
    video_id: str
    title: str
    playlists: list[str]


class UncategorizedVideos(BaseModel):
    count: int
    items: list[UncategorizedVideo]


class Preview(BaseModel):
    playlists_to_create: PlaylistsToCreate
    videos_to_add: VideosToAdd
    playlists_to_delete: PlaylistsToDelete
    total_quota_cost: int
    estimated_days: int
    daily_quota_limit: int
    # Extras beyond the contract's keys.
    quota_reserve: int
    usable_quota_per_period: int
    remaining_quota_today: int
    quota_periods_needed: int
    estimated_finish: datetime
    next_quota_reset: datetime
    unavailable_videos: UnavailableVideos
    uncategorized_videos: UncategorizedVideos
    protected_categories: list[CategoryCount]
    computed_at: datetime
    # Rebuild (what a job does) and reuse (keeping old playlists), side by side.
    strategies: Strategies
    # The other channels signed in through the same OAuth client, whose jobs spend the
    # same quota (remaining_quota_today is what they all have left).
    quota_shared_with: list[str] = Field(default_factory=list)
    # Old playlists an organize schedule reads from (its inbox): never deleted.
    sources_kept: list[PlaylistRef] = []


def compute_preview(session: Session, settings: Settings, now: datetime) -> Preview:
    """What a sync started at ``now`` would do, from the plan and library in the DB."""
    # The contract's times are UTC; a naive ``now`` is taken to be UTC already.
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    create = _playlists_to_create(session)
    add = _videos_to_add(session)
    remove = _playlists_to_delete(session)
    total = create.quota_cost + add.quota_cost + remove.quota_cost
    clock = settings.quota_clock
    # The same rule the sync charges by: an exhausted period has nothing left.
    remaining = ledger.remaining_for(settings, session, clock.period_start(now))
    periods, finish = finish_estimate(total, remaining, settings.usable_quota, clock, now)
    strategies = compare_strategies(
        session, lambda units: finish_estimate(units, remaining, settings.usable_quota, clock, now)
    )
    return Preview(
        playlists_to_create=create,
        videos_to_add=add,
        playlists_to_delete=remove,
        total_quota_cost=total,
        # The seed's rule, kept for scripts that read it: the whole daily limit a day.
        estimated_days=math.ceil(total / settings.daily_quota),
        daily_quota_limit=settings.daily_quota,
        quota_reserve=settings.quota_reserve,
        usable_quota_per_period=settings.usable_quota,
        remaining_quota_today=remaining,
        quota_periods_needed=periods,
        estimated_finish=finish,
        next_quota_reset=clock.next_reset(now),
        unavailable_videos=_unavailable_videos(session),
        uncategorized_videos=_uncategorized_videos(session),
        protected_categories=_protected_categories(session),
        computed_at=now,
        strategies=strategies,
        quota_shared_with=settings.quota_shared_with,
        sources_kept=[
            PlaylistRef(playlist_id=pid, name=title, youtube_id=youtube_id)
            for pid, title, youtube_id in source_playlists(session)
        ],
    )


def finish_estimate(
    total_units: int, remaining_now: int, usable: int, clock: QuotaClock, now: datetime
) -> tuple[int, datetime]:
    """Quota periods the writes span, and when the last of them begins.

    The job spends what is left of the current period first, then ``usable`` units a
    period, in whole writes.  The finish is the start of the last period needed (or
    ``now`` when everything fits today): the writes themselves take minutes, the waits
    take days.
    """
    writes = math.ceil(total_units / WRITE_COST)
    if writes == 0:
        return 0, now
    today = max(remaining_now, 0) // WRITE_COST
    if writes <= today:
        return 1, now
    writes -= today
    per_period = usable // WRITE_COST
    if per_period < 1:  # Settings refuses this; a direct caller must not loop forever
        raise ValueError(f"usable quota {usable} is less than one write ({WRITE_COST})")
    periods = 1 if today else 0
    moment = now
    # One step per period: at most a few thousand even for a huge library.
    while True:
        moment = clock.next_reset(moment)
        periods += 1
        if writes <= per_period:
            return periods, moment
        writes -= per_period


def _playlists_to_create(session: Session) -> PlaylistsToCreate:
    rows = session.execute(
        select(Category.id, Category.name)
        .where(Category.is_protected.is_(False), Category.youtube_playlist_id.is_(None))
        .order_by(Category.name)
    ).all()
    items = [CategoryRef(category_id=cid, category_name=name) for cid, name in rows]
    return PlaylistsToCreate(count=len(items), quota_cost=len(items) * WRITE_COST, items=items)


def _videos_to_add(session: Session) -> VideosToAdd:
    count = func.count().label("video_count")
    rows = session.execute(
        select(Category.id, Category.name, count)
        .join(CategoryVideo, CategoryVideo.category_id == Category.id)
        .join(Video, Video.id == CategoryVideo.video_id)
        .where(Category.is_protected.is_(False), Video.availability.not_in(UNAVAILABLE))
        .group_by(Category.id, Category.name)
        .order_by(count.desc(), Category.name)
    ).all()
    by_category = [
        CategoryCount(category_id=cid, category_name=name, video_count=n) for cid, name, n in rows
    ]
    total = sum(entry.video_count for entry in by_category)
    return VideosToAdd(count=total, quota_cost=total * WRITE_COST, by_category=by_category)


def _playlists_to_delete(session: Session) -> PlaylistsToDelete:
    rows = session.execute(
        select(Playlist.id, Playlist.title, Playlist.youtube_id)
        .where(Playlist.deleted_from_youtube_at.is_(None), ~is_source())
        .order_by(Playlist.title, Playlist.id)
    ).all()
    items = [PlaylistRef(playlist_id=pid, name=title, youtube_id=yid) for pid, title, yid in rows]
    return PlaylistsToDelete(count=len(items), quota_cost=len(items) * WRITE_COST, items=items)


def _unavailable_videos(session: Session) -> UnavailableVideos:
    in_syncable = (
        select(CategoryVideo.video_id)
        .join(Category, Category.id == CategoryVideo.category_id)
        .where(Category.is_protected.is_(False))
    )
    count, videos = _first_videos(
        session,
        Video.availability.in_(UNAVAILABLE),
        Video.id.in_(in_syncable),
    )
    names = _names_by_video(
        session.execute(
            in_syncable.add_columns(Category.name)
            .where(CategoryVideo.video_id.in_([row[0] for row in videos]))
            .order_by(Category.name)
        )
    )
    items = [
        UnavailableVideo(video_id=yid, title=title, availability=availability, categories=names[pk])
        for pk, yid, title, availability in videos
    ]
    return UnavailableVideos(count=count, items=items)


def _uncategorized_videos(session: Session) -> UncategorizedVideos:
    in_old = (
        select(PlaylistItem.video_id)
        .join(Playlist, Playlist.id == PlaylistItem.playlist_id)
        .where(Playlist.deleted_from_youtube_at.is_(None))
    )
    # EXCEPT is one hashed set operation on both databases; category_videos has no
    # index led by video_id, so a per-video NOT EXISTS probe would scan it each time.
    uncategorized = in_old.except_(select(CategoryVideo.video_id))
    count, videos = _first_videos(session, Video.id.in_(uncategorized))
    names = _names_by_video(
        session.execute(
            in_old.add_columns(Playlist.title)
            .where(PlaylistItem.video_id.in_([row[0] for row in videos]))
            .distinct()
            .order_by(Playlist.title)
        )
    )
    items = [
        UncategorizedVideo(video_id=row[1], title=row[2], playlists=names[row[0]]) for row in videos
    ]
    return UncategorizedVideos(count=count, items=items)


def _first_videos(
    session: Session, *criteria: ColumnElement[bool]
) -> tuple[int, list[tuple[int, str, str, str]]]:
    """How many videos match, and the first MAX_LISTED_VIDEOS of them.

    ``count(*) OVER ()`` counts the whole match before LIMIT, so the (possibly large)
    filter is evaluated once rather than once for the count and once for the list.
    """
    total = func.count().over()
    rows = session.execute(
        select(Video.id, Video.youtube_id, Video.title, Video.availability, total)
        .where(*criteria)
        .order_by(Video.id)
        .limit(MAX_LISTED_VIDEOS)
    ).all()
    count = int(rows[0][4]) if rows else 0
    return count, [(pk, yid, title, availability) for pk, yid, title, availability, _ in rows]


def _names_by_video(rows: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    for video_id, name in rows:
        names[video_id].append(name)
    return names


def _protected_categories(session: Session) -> list[CategoryCount]:
    rows = session.execute(
        select(Category.id, Category.name, func.count(CategoryVideo.video_id))
        .outerjoin(CategoryVideo, CategoryVideo.category_id == Category.id)
        .where(Category.is_protected.is_(True))
        .group_by(Category.id, Category.name)
        .order_by(Category.name)
    ).all()
    return [
        CategoryCount(category_id=cid, category_name=name, video_count=n) for cid, name, n in rows
    ]
