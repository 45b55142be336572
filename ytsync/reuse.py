"""The reuse strategy: which old playlist each category keeps, and what that costs.

Rebuild (today's sync) creates a playlist per unprotected category, adds every planned
available video, and deletes every old playlist.  Reuse keeps an old playlist as a
category's playlist where that takes fewer writes: one ``playlists.update`` when its
title, description or privacy differ, the planned videos it lacks appended, and
``playlistItems.delete`` for the items that do not belong; it is then not deleted.

Keeping playlist p for category c saves ``rebuild - reuse`` writes:

    (1 create + n adds + 1 delete of p) - (update? + missing adds + extra items)
    = 2 - update? + 2 * overlap + unavailable kept - len(p)

so a playlist is kept only when more than about half of its items belong to the
category.  Each old playlist serves at most one category and each category keeps at
most one: a maximum-weight bipartite matching, solved exactly with scipy's
``linear_sum_assignment`` (see ``_match`` for why scipy and not a greedy rule).

Pure: plain dataclasses in and out, no database, no I/O, deterministic.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Literal, get_args

from ytsync.quota import WRITE_COST

Privacy = Literal["private", "unlisted", "public"]
PRIVACIES: tuple[str, ...] = get_args(Privacy)
# YouTube's limit per playlist (plan.MAX_PLAYLIST_VIDEOS; not imported, so this module
# stays free of the database layer).  A kept playlist holds its old items and the added
# ones together for a while: the extra items go only after the adds are verified.
MAX_PLAYLIST_ITEMS = 5_000


@dataclass(frozen=True)
class CategorySpec:
    """A category of the plan and the playlist it wants."""

    id: int
    name: str  # the wanted playlist title
    # Planned videos YouTube will accept, in plan order, each once.
    video_ids: tuple[str, ...]
    protected: bool = False
    # None: the product's default.  A new playlist gets ytsync's own text; a kept one
    # keeps the description it has, so None never costs an update.
    description: str | None = None
    privacy: Privacy = "private"
    # Planned videos YouTube refuses (deleted, private): never added, and a copy already
    # in a kept playlist stays there, as it is where the plan wants it.
    unavailable_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if len(set(self.video_ids)) != len(self.video_ids):
            raise ValueError(f"category {self.id}: a video is planned twice")
        if self.privacy not in PRIVACIES:
            raise ValueError(f"category {self.id}: privacy {self.privacy!r} not in {PRIVACIES}")


@dataclass(frozen=True)
class OldPlaylist:
    """A playlist of the library before the sync, as imported."""

    id: int
    youtube_id: str
    title: str
    description: str
    privacy: str
    # Its items in playlist order: one video id per item, duplicates possible.
    video_ids: tuple[str, ...]
    # Uploads, Liked, Watch Later: never kept, never deleted.
    special: bool = False


@dataclass(frozen=True)
class Writes:
    """Writes by kind; each costs WRITE_COST units."""

    updates: int = 0
    creates: int = 0
    adds: int = 0
    item_deletes: int = 0
    playlist_deletes: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    @property
    def units(self) -> int:
        return self.total * WRITE_COST

    def __add__(self, other: Writes) -> Writes:
        return Writes(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class KeptPlaylist:
    """What keeping one old playlist for one category takes."""

    playlist_id: int
    update: bool  # title, description or privacy differ
    # Planned videos the playlist lacks, appended in plan order.
    missing: tuple[str, ...]
    # Positions (0-based, in the old playlist) of the items to delete: videos not
    # planned into the category, and every copy of a video after its first.
    removed_positions: tuple[int, ...]
    # Items out of plan order once ``missing`` is appended; see ``out_of_plan_order``.
    out_of_order: int

    @property
    def writes(self) -> Writes:
        return Writes(
            updates=int(self.update),
            adds=len(self.missing),
            item_deletes=len(self.removed_positions),
        )


@dataclass(frozen=True)
class CategoryPlan:
    """One category under both strategies."""

    category_id: int
    kept: KeptPlaylist | None  # None: a new playlist (or none at all when protected)
    rebuild: Writes  # its create and adds (old playlists' deletes are in the totals)
    reuse: Writes


@dataclass(frozen=True)
class ReusePlan:
    """Both strategies for a whole plan, to compare and to carry out."""

    categories: tuple[CategoryPlan, ...]  # in the order given
    # Old playlists deleted under reuse (those not kept, system lists aside), by id.
    deleted_playlists: tuple[int, ...]
    rebuild: Writes
    reuse: Writes
    out_of_order: int  # summed over the kept playlists

    @property
    def kept(self) -> dict[int, int]:
        """Category id -> id of the old playlist it keeps."""
        return {c.category_id: c.kept.playlist_id for c in self.categories if c.kept}


def plan_reuse(categories: Sequence[CategorySpec], old: Sequence[OldPlaylist]) -> ReusePlan:
    """Rebuild and reuse side by side, with the assignment that saves the most writes."""
    _unique_ids("category", (c.id for c in categories))
    _unique_ids("old playlist", (p.id for p in old))
    # Sorted by id, so the answer does not depend on the order the caller read them in.
    rows = sorted((c for c in categories if not c.protected), key=lambda c: c.id)
    columns = sorted((p for p in old if not p.special), key=lambda p: p.id)
    kept = {
        rows[r].id: keep_playlist(rows[r], columns[c]) for r, c in _match(_savings(rows, columns))
    }
    kept_ids = {k.playlist_id for k in kept.values()}
    deleted = tuple(p.id for p in columns if p.id not in kept_ids)
    plans = tuple(_category_plan(c, kept.get(c.id)) for c in categories)
    deletes = Writes(playlist_deletes=len(columns))
    return ReusePlan(
        categories=plans,
        deleted_playlists=deleted,
        rebuild=sum((c.rebuild for c in plans), deletes),
        reuse=sum((c.reuse for c in plans), Writes(playlist_deletes=len(deleted))),
        out_of_order=sum(k.out_of_order for k in kept.values()),
    )


def keep_playlist(category: CategorySpec, playlist: OldPlaylist) -> KeptPlaylist:
    """The writes that turn ``playlist`` into ``category``'s playlist."""
    planned = set(category.video_ids)
    seen: set[str] = set()
    removed: list[int] = []
    for position, video in enumerate(playlist.video_ids):
        if video in seen or (video not in planned and video not in category.unavailable_ids):
            removed.append(position)
        seen.add(video)
    missing = tuple(v for v in category.video_ids if v not in seen)
    staying = [v for v in dict.fromkeys(playlist.video_ids) if v in planned]
    return KeptPlaylist(
        playlist_id=playlist.id,
        update=_needs_update(category, playlist),
        missing=missing,
        removed_positions=tuple(removed),
        out_of_order=out_of_plan_order([*staying, *missing], category.video_ids),
    )


def saving(category: CategorySpec, playlist: OldPlaylist) -> int | None:
    """Writes saved by keeping ``playlist`` for ``category`` rather than rebuilding it
    (negative: it costs more); None when it may not be kept at all."""
    if category.protected or playlist.special:
        return None
    return _savings([category], [playlist])[0][0]


def out_of_plan_order(videos: Sequence[str], plan: Sequence[str]) -> int:
    """How many of ``videos`` (a playlist's items, each planned once) sit out of plan order.

    It is the fewest items that would have to move for the playlist to follow ``plan``:
    the items outside a longest subsequence already in plan order.  Videos not in
    ``plan`` (unavailable ones a kept playlist holds) are not counted.
    """
    rank = {video: index for index, video in enumerate(plan)}
    ranks = [rank[v] for v in videos if v in rank]
    # Patience sorting: tails[k] is the smallest last rank of an increasing run of k+1.
    tails: list[int] = []
    for r in ranks:
        at = bisect_left(tails, r)
        if at == len(tails):
            tails.append(r)
        else:
            tails[at] = r
    return len(ranks) - len(tails)


# --------------------------------------------------------------------------- internals


def _savings(
    rows: Sequence[CategorySpec], columns: Sequence[OldPlaylist]
) -> list[list[int | None]]:
    """savings[r][c]: writes saved by keeping columns[c] for rows[r]; None where YouTube's
    size limit forbids it."""
    # Index once, then one pass over each playlist's distinct videos: a video may be
    # planned into several categories.
    planned_in: dict[str, list[int]] = defaultdict(list)
    unavailable_in: dict[str, list[int]] = defaultdict(list)
    for r, category in enumerate(rows):
        for video in category.video_ids:
            planned_in[video].append(r)
        for video in category.unavailable_ids:
            unavailable_in[video].append(r)
    matrix: list[list[int | None]] = [[None] * len(columns) for _ in rows]
    for c, playlist in enumerate(columns):
        distinct = set(playlist.video_ids)
        overlap = Counter(r for v in distinct for r in planned_in.get(v, ()))
        unavailable = Counter(r for v in distinct for r in unavailable_in.get(v, ()))
        size = len(playlist.video_ids)
        for r, category in enumerate(rows):
            if size + len(category.video_ids) - overlap[r] > MAX_PLAYLIST_ITEMS:
                continue
            update = int(_needs_update(category, playlist))
            matrix[r][c] = 2 - update + 2 * overlap[r] + unavailable[r] - size
    return matrix


def _needs_update(category: CategorySpec, playlist: OldPlaylist) -> bool:
    return (
        playlist.title != category.name
        or playlist.privacy != category.privacy
        or (category.description is not None and playlist.description != category.description)
    )


def _match(savings: list[list[int | None]]) -> list[tuple[int, int]]:
    """The (row, column) pairs of the assignment that saves the most writes.

    A greedy rule (largest saving first) is optimal when each playlist is worth keeping
    for one category only, but not once videos sit in several categories: taking the
    largest saving can leave a second category nothing (tests/ytsync/test_reuse.py has such a
    case).  So the matching is solved exactly.  Pure-Python exact matchers are too slow
    on a dense matrix (networkx's blossom took 3.9 s at 100 x 100 and 53 s at 300 x 300);
    scipy's linear_sum_assignment takes 2 ms and 12 ms.  Its import (numpy and
    scipy.optimize: 1-2 s on a busy 2-core machine) is paid here, only when a plan
    has something worth keeping, never by the worker or the other commands.
    """
    candidates = sorted(
        (c, r, s)
        for r, row in enumerate(savings)
        for c, s in enumerate(row)
        if s is not None and s > 0
    )
    if not candidates:
        return []
    from scipy.optimize import linear_sum_assignment

    # Ties.  The rows and columns come sorted by id, so the same library and plan give
    # the same matrix, and the solver is deterministic.  On top, a pair's rank in (old
    # playlist id, category id) order is subtracted from its weight, scaled so that all
    # the ranks together weigh less than one write: among assignments that save as much,
    # the smaller rank sum wins, so of two equal playlists the lower id is kept, and an
    # equal playlist goes to the lower category id.  Exact in float64 while scale times
    # the total saving (at most 2 per item and per pair) stays below 2**53: 1,000
    # categories x 1,000 playlists x 100,000 items give 2e14.
    scale = min(len(savings), len(savings[0])) * len(candidates) + 1
    weights = [[0.0] * len(savings[0]) for _ in savings]
    for rank, (c, r, s) in enumerate(candidates):
        weights[r][c] = float(s * scale - rank)
    chosen = linear_sum_assignment(weights, maximize=True)
    return [(int(r), int(c)) for r, c in zip(*chosen, strict=True) if weights[r][c] > 0]


def _category_plan(category: CategorySpec, kept: KeptPlaylist | None) -> CategoryPlan:
    if category.protected:
        return CategoryPlan(category.id, None, Writes(), Writes())
    rebuild = Writes(creates=1, adds=len(category.video_ids))
    return CategoryPlan(category.id, kept, rebuild, kept.writes if kept else rebuild)


def _unique_ids(what: str, ids: Iterable[int]) -> None:
    seen: set[int] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{what} id {i} appears twice")
        seen.add(i)
