"""The cost preview: what a sync would create, add and delete, and what it costs.

Every figure comes from aggregate SQL (GROUP BY, COUNT), never from loading rows one
by one, so a library of 100,000 videos previews in well under a second.  The JSON form
(``Preview.model_dump(mode="json")``) is part of the outside contract: the keys listed
in the design must stay; the others are extras.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.models import Category, CategoryVideo, Playlist, PlaylistItem, Video
from ytsync.quota import WRITE_COST, QuotaClock
from ytsync.strategies import Strategies, compare_strategies

# Videos YouTube refuses to add (failedPrecondition / videoNotFound): skipped for free.
UNAVAILABLE = ("private", "deleted")
# Lists of videos in the JSON are capped; their ``count`` stays the true number.
MAX_LISTED_VIDEOS = 100
# Rows per table in the human-readable preview; the rest is summed up in one line.
MAX_TABLE_ROWS = 20
# Refresh tokens of an OAuth app in "Testing" status expire after 7 days.
TESTING_TOKEN_DAYS = 7


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
    remaining = ledger.remaining(session, clock.period_start(now), settings.usable_quota)
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
        .where(Playlist.deleted_from_youtube_at.is_(None))
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


# --------------------------------------------------------------------------- rendering


def render_preview(preview: Preview, console: Console) -> None:
    """The preview for a person: tables of the work, the cost, the finish, the warnings."""
    console.print(_summary_table(preview))
    _print_quota(preview, console)
    if preview.videos_to_add.by_category or preview.playlists_to_create.items:
        console.print(_categories_table(preview))
    if preview.playlists_to_delete.items:
        console.print(_deletions_table(preview.playlists_to_delete.items))
    if preview.protected_categories:
        console.print(_protected_table(preview.protected_categories))
    console.print(_strategies_table(preview.strategies))
    if preview.strategies.reuse_keeps:
        console.print(_kept_table(preview.strategies))
    _print_warnings(preview, console)


def _summary_table(preview: Preview) -> Table:
    table = Table(title="What the sync will do")
    table.add_column("Step")
    table.add_column("Count", justify="right")
    table.add_column("Quota units", justify="right")
    steps = (
        ("Create playlists", preview.playlists_to_create.count),
        ("Add videos", preview.videos_to_add.count),
        ("Delete old playlists", preview.playlists_to_delete.count),
    )
    for label, count in steps:
        table.add_row(label, f"{count:,}", f"{count * WRITE_COST:,}")
    table.add_section()
    table.add_row("Total", "", f"{preview.total_quota_cost:,}", style="bold")
    return table


def _print_quota(preview: Preview, console: Console) -> None:
    console.print(
        Text(
            f"Quota: {preview.daily_quota_limit:,} units a period (a day on YouTube), "
            f"{preview.quota_reserve:,} kept "
            f"in reserve, so {preview.usable_quota_per_period:,} for the sync; "
            f"{preview.remaining_quota_today:,} left in this period "
            f"(next reset {_local(preview.next_quota_reset)})."
        )
    )
    if preview.total_quota_cost == 0:
        console.print(Text("Nothing to write: the sync would only back up the library."))
        return
    finish = (
        "in this period"
        if preview.quota_periods_needed <= 1 and preview.remaining_quota_today
        else f"from about {_local(preview.estimated_finish)}"
    )
    console.print(
        Text(
            f"Needs {preview.quota_periods_needed:,} quota period(s) "
            f"({preview.estimated_days:,} day(s) at the full daily limit); "
            f"the last writes run {finish}."
        )
    )


def _categories_table(preview: Preview) -> Table:
    new_ids = {item.category_id for item in preview.playlists_to_create.items}
    counts = {entry.category_id: entry for entry in preview.videos_to_add.by_category}
    rows = [(e.category_name, e.category_id in new_ids, e.video_count) for e in counts.values()]
    rows += [
        (item.category_name, True, 0)
        for item in preview.playlists_to_create.items
        if item.category_id not in counts
    ]
    table = Table(title="Category playlists (most videos first)")
    table.add_column("Category")
    table.add_column("Playlist")
    table.add_column("Videos to add", justify="right")
    for name, is_new, count in rows[:MAX_TABLE_ROWS]:
        table.add_row(Text(name), "new" if is_new else "exists", f"{count:,}")
    _more_row(table, len(rows), "categories")
    return table


def _deletions_table(items: Sequence[PlaylistRef]) -> Table:
    table = Table(title="Old playlists to delete (the backup keeps them)")
    table.add_column("Playlist")
    table.add_column("YouTube id")
    for item in items[:MAX_TABLE_ROWS]:
        table.add_row(Text(item.name), Text(item.youtube_id))
    _more_row(table, len(items), "playlists")
    return table


def _protected_table(items: Sequence[CategoryCount]) -> Table:
    table = Table(title="Protected categories (no playlist, videos not added)")
    table.add_column("Category")
    table.add_column("Videos", justify="right")
    for item in items[:MAX_TABLE_ROWS]:
        table.add_row(Text(item.category_name), f"{item.video_count:,}")
    _more_row(table, len(items), "categories")
    return table


def _strategies_table(strategies: Strategies) -> Table:
    rebuild, reuse = strategies.rebuild, strategies.reuse
    table = Table(title="Rebuild (what a job does) and reuse (keep old playlists)")
    table.add_column("")
    table.add_column("Rebuild", justify="right")
    table.add_column("Reuse", justify="right")
    rows = (
        ("Create playlists", rebuild.creates, reuse.creates),
        ("Update kept playlists", rebuild.updates, reuse.updates),
        ("Add videos", rebuild.adds, reuse.adds),
        ("Remove items from kept playlists", rebuild.item_deletes, reuse.item_deletes),
        ("Delete old playlists", rebuild.playlist_deletes, reuse.playlist_deletes),
    )
    for label, left, right in rows:
        table.add_row(label, f"{left:,}", f"{right:,}")
    table.add_section()
    table.add_row("Writes", f"{rebuild.writes:,}", f"{reuse.writes:,}", style="bold")
    table.add_row("Quota units", f"{rebuild.quota_cost:,}", f"{reuse.quota_cost:,}")
    table.add_row(
        "Quota periods", f"{rebuild.quota_periods_needed:,}", f"{reuse.quota_periods_needed:,}"
    )
    table.add_row("Finishes", _local(rebuild.estimated_finish), _local(reuse.estimated_finish))
    return table


def _kept_table(strategies: Strategies) -> Table:
    keeps = strategies.reuse_keeps
    table = Table(
        title=f"Reuse would keep {len(keeps):,} old playlist(s); "
        f"{strategies.reuse_out_of_plan_order:,} item(s) would sit out of plan order"
    )
    table.add_column("Category")
    table.add_column("Keeps old playlist")
    table.add_column("Adds", justify="right")
    table.add_column("Removes", justify="right")
    for keep in keeps[:MAX_TABLE_ROWS]:
        title = keep.title + ("" if keep.title == keep.category_name else " (renamed)")
        table.add_row(keep.category_name, title, f"{keep.adds:,}", f"{keep.item_deletes:,}")
    _more_row(table, len(keeps), "kept playlists")
    return table


def _more_row(table: Table, total: int, noun: str) -> None:
    if total > MAX_TABLE_ROWS:
        table.add_row(Text(f"… {total - MAX_TABLE_ROWS:,} more {noun}", style="dim"))


def _print_warnings(preview: Preview, console: Console) -> None:
    unavailable = preview.unavailable_videos
    if unavailable.count:
        console.print(
            Text(
                f"Warning: {unavailable.count:,} video(s) are private or deleted; the sync "
                "skips them (no quota spent):",
                style="yellow",
            )
        )
        for video in unavailable.items[:5]:
            console.print(Text(f"  {video.video_id} {video.title} ({video.availability})"))
    uncategorized = preview.uncategorized_videos
    if uncategorized.count:
        console.print(
            Text(
                f"Warning: {uncategorized.count:,} video(s) are in an old playlist but in no "
                "category; they lose their playlist when the old ones are deleted (the "
                "backup keeps them):",
                style="yellow",
            )
        )
        for item in uncategorized.items[:5]:
            console.print(Text(f"  {item.video_id} {item.title} ({', '.join(item.playlists)})"))
    if preview.estimated_finish - preview.computed_at > timedelta(days=TESTING_TOKEN_DAYS):
        console.print(
            Text(
                "Note: the sync spans more than 7 days. If your Google OAuth app is in "
                '"Testing" status its refresh token expires after 7 days: publish the app '
                "first, or be ready to re-authorize when the job pauses with auth_required.",
                style="yellow",
            )
        )


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")
