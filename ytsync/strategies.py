"""Rebuild and reuse side by side: the library and plan in the database, handed to the
pure cost model of ``ytsync.reuse``, for the preview and for a job that reuses.

A job started with ``--strategy reuse`` records the model's choice once, when it
starts (``record_kept``); its stages then work from that record, never from a new
computation, so retries and continued runs agree with each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import cast

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ytsync.db.models import (
    Category,
    CategoryVideo,
    JobKeptPlaylist,
    Playlist,
    PlaylistItem,
    Video,
)
from ytsync.importer import SPECIAL_PREFIXES
from ytsync.organize.sources import is_source
from ytsync.reuse import (
    PRIVACIES,
    CategorySpec,
    OldPlaylist,
    Privacy,
    ReusePlan,
    Writes,
    plan_reuse,
)

UNAVAILABLE = ("private", "deleted")
STRATEGIES = ("rebuild", "reuse")


class StrategyCost(BaseModel):
    creates: int
    updates: int
    adds: int
    item_deletes: int
    playlist_deletes: int
    writes: int
    quota_cost: int
    quota_periods_needed: int
    estimated_finish: datetime


class KeptPlaylistChoice(BaseModel):
    """An old playlist reuse would keep as a category's playlist."""

    category_id: int
    category_name: str
    playlist_id: int
    youtube_id: str
    title: str
    update: bool
    adds: int
    item_deletes: int
    out_of_plan_order: int


class Strategies(BaseModel):
    rebuild: StrategyCost
    reuse: StrategyCost
    reuse_keeps: list[KeptPlaylistChoice]
    # Items of kept playlists that would sit out of plan order (they are not moved).
    reuse_out_of_plan_order: int


def compare_strategies(
    session: Session, estimate: Callable[[int], tuple[int, datetime]]
) -> Strategies:
    """``estimate(units)``: the quota periods and finish the preview gives that many units."""
    categories = _categories(session)
    old, never_kept = _old_playlists(session)
    plan = plan_reuse([spec for spec, _has in categories], old)
    # A category that has its playlist already (from an earlier job) only gets adds,
    # and a playlist no category could keep is deleted, whichever the strategy.
    already = Writes(
        adds=sum(len(spec.video_ids) for spec, has in categories if has),
        playlist_deletes=never_kept,
    )

    def cost(plan_writes: Writes) -> StrategyCost:
        writes = plan_writes + already
        periods, finish = estimate(writes.units)
        return StrategyCost(
            creates=writes.creates,
            updates=writes.updates,
            adds=writes.adds,
            item_deletes=writes.item_deletes,
            playlist_deletes=writes.playlist_deletes,
            writes=writes.total,
            quota_cost=writes.units,
            quota_periods_needed=periods,
            estimated_finish=finish,
        )

    return Strategies(
        rebuild=cost(plan.rebuild),
        reuse=cost(plan.reuse),
        reuse_keeps=_kept(session, plan),
        reuse_out_of_plan_order=plan.out_of_order,
    )


def record_kept(session: Session, job_id: int) -> dict[int, int]:
    """Record which old playlist each category of a reusing job keeps (category id ->
    playlist id), as the preview computed it.

    A category whose playlist is still the one an earlier reusing job kept for it keeps
    it again: that job may have left items held back, and this one finishes them."""
    categories = _categories(session)
    old, _never_kept = _old_playlists(session)
    kept = plan_reuse([spec for spec, _has in categories], old).kept
    earlier = session.execute(
        select(JobKeptPlaylist.category_id, JobKeptPlaylist.playlist_id)
        .join(Category, Category.id == JobKeptPlaylist.category_id)
        .join(Playlist, Playlist.id == JobKeptPlaylist.playlist_id)
        .where(
            Category.youtube_playlist_id == Playlist.youtube_id,
            Category.is_protected.is_(False),
            Playlist.deleted_from_youtube_at.is_(None),
        )
        .distinct()
    )
    for category_id, playlist_id in earlier:
        kept.setdefault(category_id, playlist_id)
    for category_id, playlist_id in sorted(kept.items()):
        session.add(
            JobKeptPlaylist(job_id=job_id, category_id=category_id, playlist_id=playlist_id)
        )
    return kept


def _categories(session: Session) -> list[tuple[CategorySpec, bool]]:
    """Each category for the model, and whether it has its playlist already (then the
    model leaves it out, as it does a protected one)."""
    rows = session.execute(
        select(Category.id, Video.youtube_id, Video.availability)
        .join(CategoryVideo, CategoryVideo.category_id == Category.id)
        .join(Video, Video.id == CategoryVideo.video_id)
        .order_by(Category.id, CategoryVideo.position)
    )
    videos: dict[int, list[str]] = defaultdict(list)
    unavailable: dict[int, set[str]] = defaultdict(set)
    for category_id, video, availability in rows:
        if availability in UNAVAILABLE:
            unavailable[category_id].add(video)
        else:
            videos[category_id].append(video)
    return [
        (
            CategorySpec(
                id=cid,
                name=name,
                video_ids=tuple(dict.fromkeys(videos[cid])),
                protected=protected or playlist is not None,
                description=description,
                privacy=_privacy(privacy),
                unavailable_ids=frozenset(unavailable[cid]),
            ),
            playlist is not None and not protected,
        )
        for cid, name, protected, playlist, privacy, description in session.execute(
            select(
                Category.id,
                Category.name,
                Category.is_protected,
                Category.youtube_playlist_id,
                Category.privacy,
                Category.description,
            )
        )
    ]


def _privacy(value: str) -> Privacy:
    """A category's privacy, as the plan checked it (ytsync.plan)."""
    if value not in PRIVACIES:
        raise ValueError(f"category privacy {value!r} not in {PRIVACIES}")
    return cast(Privacy, value)


def _old_playlists(session: Session) -> tuple[list[OldPlaylist], int]:
    """The old playlists some category might keep, and how many others there are.

    Keeping playlist p for category c saves ``2 - update + 2 * overlap + unavailable -
    len(p)`` writes (ytsync.reuse), at most ``2 + 2 * shared - len(p)`` where ``shared``
    counts every planned video of c in p.  One GROUP BY finds the playlists where that
    bound is positive for some category; only their items are loaded (at 100,000 videos
    and 1,250 playlists, loading all of them tripled the preview's time)."""
    # A playlist that is already a category's (kept by an earlier job, or imported
    # again after a sync) is not an old playlist: no job deletes it or gives it to
    # another category (see ops.deletion_candidates).
    in_use = select(Category.youtube_playlist_id).where(Category.youtube_playlist_id.is_not(None))
    sizes: dict[int, int] = {
        pid: size
        for pid, size in session.execute(
            select(Playlist.id, func.count(PlaylistItem.id))
            .outerjoin(PlaylistItem, PlaylistItem.playlist_id == Playlist.id)
            .where(
                Playlist.deleted_from_youtube_at.is_(None),
                Playlist.youtube_id.not_in(in_use),
                # An organize source stays as it is (ytsync.organize.sources).
                ~is_source(),
            )
            .group_by(Playlist.id)
        )
    }
    shared = (
        select(PlaylistItem.playlist_id, func.count(func.distinct(PlaylistItem.video_id)))
        .join(CategoryVideo, CategoryVideo.video_id == PlaylistItem.video_id)
        .join(Category, Category.id == CategoryVideo.category_id)
        .join(Playlist, Playlist.id == PlaylistItem.playlist_id)
        .where(
            Category.is_protected.is_(False),
            Playlist.deleted_from_youtube_at.is_(None),
            Playlist.youtube_id.not_in(in_use),
        )
        .group_by(PlaylistItem.playlist_id, CategoryVideo.category_id)
    )
    best: dict[int, int] = defaultdict(int)
    for playlist_id, count in session.execute(shared):
        best[playlist_id] = max(best[playlist_id], count)
    candidates = [pid for pid, size in sizes.items() if 2 + 2 * best[pid] - size > 0]
    items: dict[int, list[str]] = defaultdict(list)
    for playlist_id, video in session.execute(
        select(PlaylistItem.playlist_id, Video.youtube_id)
        .join(Video, Video.id == PlaylistItem.video_id)
        .where(PlaylistItem.playlist_id.in_(candidates))
        .order_by(PlaylistItem.playlist_id, PlaylistItem.position)
    ):
        items[playlist_id].append(video)
    rows = session.execute(
        select(
            Playlist.id, Playlist.youtube_id, Playlist.title, Playlist.description, Playlist.privacy
        ).where(Playlist.id.in_(candidates))
    )
    old = [
        OldPlaylist(
            id=pid,
            youtube_id=youtube_id,
            title=title,
            description=description,
            privacy=privacy,
            video_ids=tuple(items[pid]),
            special=youtube_id.startswith(SPECIAL_PREFIXES),
        )
        for pid, youtube_id, title, description, privacy in rows
    ]
    return old, len(sizes) - len(candidates)


def _kept(session: Session, plan: ReusePlan) -> list[KeptPlaylistChoice]:
    names: dict[int, str] = {
        cid: name for cid, name in session.execute(select(Category.id, Category.name))
    }
    playlists = {p.id: p for p in session.scalars(select(Playlist))}
    choices = []
    for category in plan.categories:
        kept = category.kept
        if kept is None:
            continue
        playlist = playlists[kept.playlist_id]
        choices.append(
            KeptPlaylistChoice(
                category_id=category.category_id,
                category_name=names[category.category_id],
                playlist_id=playlist.id,
                youtube_id=playlist.youtube_id,
                title=playlist.title,
                update=kept.update,
                adds=len(kept.missing),
                item_deletes=len(kept.removed_positions),
                out_of_plan_order=kept.out_of_order,
            )
        )
    return sorted(choices, key=lambda c: c.category_name)
