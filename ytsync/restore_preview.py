"""The restore preview: what ``restore`` would write, and what it costs, before it starts.

Counted from the very rows the job would plan (ytsync.sync.undo), so the figures are
the job's.  The JSON form (``restore --preview --json``) is part of the outside
contract, documented beside ``preview``'s.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync import ledger
from ytsync.backup import find_snapshot
from ytsync.config import Settings
from ytsync.db.models import Category, Playlist
from ytsync.preview import finish_estimate
from ytsync.quota import WRITE_COST
from ytsync.sync.undo import ORDERS, RestoreOptions, RestoreRows, made_playlists, restore_rows

# A recreated playlist costs two writes: its creation, with a marker in its description
# that finds it should the answer be lost, then its description set back as it was.
RECREATE_WRITES = 2


class RecreatedPlaylist(BaseModel):
    # The id it had (the snapshot's); it comes back under a new one.
    playlist_id: str
    title: str
    items: int


class PlaylistsToRecreate(BaseModel):
    count: int
    quota_cost: int
    items: list[RecreatedPlaylist]


class Rename(BaseModel):
    """A playlist a reusing sync kept, given back its old title, description, privacy."""

    playlist_id: str
    title_now: str
    title: str


class PlaylistsToRename(BaseModel):
    count: int
    quota_cost: int
    items: list[Rename]


class PlaylistCount(BaseModel):
    playlist_id: str
    title: str
    count: int


class ItemsByPlaylist(BaseModel):
    count: int
    quota_cost: int
    by_playlist: list[PlaylistCount]


class MadePlaylistRef(BaseModel):
    playlist_id: str
    title: str


class PlaylistsToDelete(BaseModel):
    """A full undo's: the category playlists the sync made, each deleted only once its
    videos are verified back where they were."""

    count: int
    quota_cost: int
    items: list[MadePlaylistRef]


class OrderCost(BaseModel):
    writes: int
    write_units: int
    quota_periods_needed: int
    estimated_finish: datetime


class RestorePreview(BaseModel):
    snapshot_id: int
    order: str
    undo_sync: bool
    playlists_to_recreate: PlaylistsToRecreate
    playlists_to_rename: PlaylistsToRename
    items_to_add: ItemsByPlaylist
    items_to_remove: ItemsByPlaylist
    playlists_to_delete: PlaylistsToDelete
    # Items of videos gone private or deleted since the import: not put back, no cost.
    unavailable_items: int
    writes: int
    write_units: int
    daily_quota_limit: int
    quota_reserve: int
    usable_quota_per_period: int
    remaining_quota_today: int
    quota_periods_needed: int
    estimated_finish: datetime
    next_quota_reset: datetime
    # The same restore with each ``--order``, side by side.
    orders: dict[str, OrderCost]
    computed_at: datetime


def compute_restore_preview(
    session: Session,
    settings: Settings,
    snapshot_id: int | None,
    options: RestoreOptions,
    now: datetime,
) -> RestorePreview:
    """What a restore of snapshot ``snapshot_id`` (None: the newest) started at ``now``
    with ``options`` would write."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    snapshot = find_snapshot(session, snapshot_id)
    clock = settings.quota_clock
    remaining = ledger.remaining(session, clock.period_start(now), settings.usable_quota)

    def cost(writes: int) -> OrderCost:
        periods, finish = finish_estimate(
            writes * WRITE_COST, remaining, settings.usable_quota, clock, now
        )
        return OrderCost(
            writes=writes,
            write_units=writes * WRITE_COST,
            quota_periods_needed=periods,
            estimated_finish=finish,
        )

    made = made_playlists(session, snapshot.id) if options.undo else []
    deletes = PlaylistsToDelete(
        count=len(made),
        quota_cost=len(made) * WRITE_COST,
        items=[MadePlaylistRef(playlist_id=p.youtube_id, title=p.title) for p in made],
    )
    by_order = {
        order: restore_rows(session, snapshot.data, RestoreOptions(order, options.undo))
        for order in ORDERS
    }
    costs = {order: cost(_writes(rows) + deletes.count) for order, rows in by_order.items()}
    rows = by_order[options.order]
    names = _names(session, rows)
    recreate = [
        RecreatedPlaylist(
            playlist_id=names[row["playlist_id"]][0],
            title=rows.titles[row["playlist_id"]],
            items=sum(1 for item in rows.items if item["playlist_id"] == row["playlist_id"]),
        )
        for row in rows.playlists
    ]
    renames = [
        Rename(
            playlist_id=names[row["playlist_id"]][0],
            title_now=names[row["playlist_id"]][1],
            title=rows.titles[row["playlist_id"]],
        )
        for row in rows.updates
    ]
    chosen = costs[options.order]
    return RestorePreview(
        snapshot_id=snapshot.id,
        order=options.order,
        undo_sync=options.undo,
        playlists_to_recreate=PlaylistsToRecreate(
            count=len(recreate),
            quota_cost=len(recreate) * RECREATE_WRITES * WRITE_COST,
            items=recreate,
        ),
        playlists_to_rename=PlaylistsToRename(
            count=len(renames), quota_cost=len(renames) * WRITE_COST, items=renames
        ),
        items_to_add=_by_playlist(_sendable(rows), rows, names),
        items_to_remove=_by_playlist(rows.removals, rows, names),
        playlists_to_delete=deletes,
        unavailable_items=len(rows.unavailable),
        writes=chosen.writes,
        write_units=chosen.write_units,
        daily_quota_limit=settings.daily_quota,
        quota_reserve=settings.quota_reserve,
        usable_quota_per_period=settings.usable_quota,
        remaining_quota_today=remaining,
        quota_periods_needed=chosen.quota_periods_needed,
        estimated_finish=chosen.estimated_finish,
        next_quota_reset=clock.next_reset(now),
        orders=costs,
        computed_at=now,
    )


def _writes(rows: RestoreRows) -> int:
    return (
        len(rows.playlists) * RECREATE_WRITES
        + len(rows.updates)
        + len(_sendable(rows))
        + len(rows.removals)
    )


def _sendable(rows: RestoreRows) -> list[dict[str, object]]:
    unavailable = {id(row) for row, _video, _availability in rows.unavailable}
    return [row for row in rows.items if id(row) not in unavailable]


def _by_playlist(
    items: list[dict[str, object]], rows: RestoreRows, names: dict[int, tuple[str, str]]
) -> ItemsByPlaylist:
    counts = Counter(int(str(row["playlist_id"])) for row in items)
    return ItemsByPlaylist(
        count=len(items),
        quota_cost=len(items) * WRITE_COST,
        by_playlist=[
            PlaylistCount(
                playlist_id=names[pk][0], title=rows.titles.get(pk, names[pk][1]), count=count
            )
            for pk, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    )


def _names(session: Session, rows: RestoreRows) -> dict[int, tuple[str, str]]:
    """Old playlist -> (its YouTube id, its title now: its category's, when a reusing
    sync kept it)."""
    pks = {int(row["playlist_id"]) for row in [*rows.playlists, *rows.updates, *rows.removals]}
    pks |= {int(row["playlist_id"]) for row in rows.items}
    return {
        pk: (youtube_id, category or title)
        for pk, youtube_id, title, category in session.execute(
            select(Playlist.id, Playlist.youtube_id, Playlist.title, Category.name)
            .outerjoin(Category, Category.youtube_playlist_id == Playlist.youtube_id)
            .where(Playlist.id.in_(pks))
        )
    }
