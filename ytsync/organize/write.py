"""An organize run's writes, with the sync's write protocol: what the read side decided
(``OrganizeItem`` rows, ytsync.organize.read) carried out by a job of its own.

1. ``plan_writes``: a job row (``SyncJob`` kind "organize") owns the run's writes, so
   operation rows, lane leases, settled checks, errors, the quota ledger and "one active
   job per channel" apply as to a sync.  Its first rows are the additions: an
   ``add_video`` row per video to move (inbox) or copy (uploads), in its category's
   lane.  A sync or restore that started since the read makes the run wait and read
   again; with nothing to write, the run ends here.
2. add_videos: the sync's own steps (chunked appends, a settle, an audit of each
   category playlist until clean).
3. ``InboxCheck``: verify before remove.  An inbox item goes only once YouTube, read at
   least the settle delay after the add, shows its video in its category playlist: an
   addition a settled audit confirmed (by the insert's id, or in its listing), else a
   fresh look-up (1 unit a video, or the playlist's listing when that costs less).  What
   is not shown stays in the inbox, ``held_back`` and reported; the next run, which reads
   the inbox whole, tries again.
4. remove_from_inbox: the ``inbox_remove`` rows, a chunk at a time like any deletion
   (removing twice is harmless; a 404 means the owner took it out already).
5. ``finish_run``: what each video's writes did, the run's figures, and the uploads
   marked handled (so later runs skip them).

The uploads list is never written to: a copy only adds.  A video whose category has no
playlist on YouTube yet (``no_playlist``) is left where it is, for the next sync to make
the playlist (``plan rules FILE``, then ``start``); later runs decide it again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import (
    Category,
    OrganizeItem,
    OrganizeRun,
    OrganizeSeen,
    SyncJob,
    SyncOperation,
    Video,
)
from ytsync.organize.read import (
    COPY,
    JOB_WAIT,
    MOVE,
    PRESENT,
    PROTECTED,
    REMOVE,
    UPLOADS,
)
from ytsync.organize.wire import Finished, PlanInput, Waiting, WritePlan, written_text
from ytsync.status import active_job
from ytsync.sync import operations as ops
from ytsync.sync.budget import Budget
from ytsync.sync.reads import Gone, PagedReader
from ytsync.youtube.client import PAGE_SIZE, YouTube

JOB_KIND = "organize"
# What the writes did with a video (OrganizeItem.outcome).
MOVED, COPIED, TAKEN_OUT, KEPT, FAILED = "moved", "copied", "taken_out", "kept", "failed"
# Decisions that add the video to its category, and those that take an inbox item out.
ADDS = (MOVE, COPY)
TAKES_OUT = (MOVE, REMOVE)
# Nothing to write, ever: a later run leaves these uploads alone too.
NOTHING_TO_WRITE = (PRESENT, PROTECTED)
NOT_SHOWN = "YouTube does not show it in its category's playlist"
_CHUNK = 500


def add_key(category_id: int, video_pk: int) -> str:
    """The key of a video's addition: the sync's, so a job never adds a video twice."""
    return f"add:{category_id}:{video_pk}"


def removal_key(item_pk: int) -> str:
    """An inbox item's removal, by its OrganizeItem (YouTube's item ids are longer than
    an operation key)."""
    return f"inbox:{item_pk}"


# --------------------------------------------------------------------------- 1. plan


def plan_writes(sessions: sessionmaker[Session], plan: PlanInput, now: datetime) -> WritePlan:
    """The run's job and its additions, in one commit; idempotent."""
    with transaction(sessions) as session:
        run = session.get_one(OrganizeRun, plan.run_id)
        if run.job_id is not None:
            return WritePlan(job_id=run.job_id)  # made by an earlier attempt
        if run.outcome == "done":
            return WritePlan(finished=_finished(run))
        other = active_job(session)
        if other is not None:
            run.outcome, run.message = "waiting", str(Waiting.JOB_RUNNING)
            return WritePlan(waiting=Waiting.JOB_RUNNING, resume_at=now + JOB_WAIT)
        items = _items(session, run.id)
        if not any(item.action in ADDS + TAKES_OUT for item in items):
            return WritePlan(finished=_finish(session, run, items, {}, {}))
        counts = Counter(item.action for item in items)
        job = SyncJob(
            workflow_id=plan.workflow_id,
            kind=JOB_KIND,
            stage="pending",
            preview={
                "videos_to_add": {"count": sum(counts[a] for a in ADDS)},
                "inbox_items_to_remove": {"count": sum(counts[a] for a in TAKES_OUT)},
            },
        )
        session.add(job)
        session.flush()
        run.job_id, run.outcome, run.message = job.id, "writing", None
        rows: list[dict[str, Any]] = []
        for item in items:
            if item.action not in ADDS or item.category_id is None:
                continue
            row: dict[str, Any] = {
                "op_key": add_key(item.category_id, item.video_pk),
                "category_id": item.category_id,
                "video_id": item.video_pk,
                "position": item.pk,
            }
            if item.availability in ops.UNAVAILABLE:
                # Known gone since the read: fail it now, spending no write.
                row.update(status="failed", error=f"video is {item.availability}")
                ops.record_error(
                    session,
                    job.id,
                    "add_videos",
                    "video",
                    item.video,
                    f"video is {item.availability}; not added",
                )
            rows.append(row)
        ops.insert_missing(session, job.id, ops.ADD, rows)
        ops.refresh_progress(session, job.id)
        return WritePlan(job_id=job.id)


@dataclass(frozen=True)
class _RunItem:
    pk: int
    action: str
    source: str
    category_id: int | None
    video_pk: int
    video: str
    availability: str
    source_item_id: str | None


def _items(session: Session, run_id: int) -> list[_RunItem]:
    rows = session.execute(
        select(
            OrganizeItem.id,
            OrganizeItem.action,
            OrganizeItem.source,
            OrganizeItem.category_id,
            Video.id,
            Video.youtube_id,
            Video.availability,
            OrganizeItem.source_item_id,
        )
        .join(Video, Video.id == OrganizeItem.video_id)
        .where(OrganizeItem.run_id == run_id)
        .order_by(OrganizeItem.id)
    )
    return [_RunItem(*row) for row in rows]


def run_of(session: Session, job_id: int) -> OrganizeRun:
    return session.scalars(select(OrganizeRun).where(OrganizeRun.job_id == job_id)).one()


# --------------------------------------------------------------------------- 3. verify


@dataclass(frozen=True)
class _Removal:
    item: _RunItem
    playlist: str | None
    # Why it is not verified without a look-up (None: a look-up may verify it).
    unverified: str | None


class InboxCheck:
    """Verify before remove: the ``inbox_remove`` rows, pending for the inbox items whose
    video YouTube shows in its category playlist, ``held_back`` for the others."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        job_id: int,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._yt = youtube
        self._job_id = job_id
        self._reader = PagedReader(youtube, budget, heartbeat)

    def plan_removals(self) -> int:
        """Write the rows (once: a retried check finds them); the removals to send."""
        with self._sessions() as session:
            if not ops.ops_exist(session, self._job_id, ops.INBOX_REMOVE):
                removals, verified = self._judged_by_the_audit(session)
            else:
                removals, verified = [], set()
        if removals:
            shown = self._look_up(
                [r for r in removals if r.item.pk not in verified and r.unverified is None]
            )
            with transaction(self._sessions) as session:
                self._record(session, removals, verified | shown)
        with self._sessions() as session:
            return ops.count_open(session, self._job_id, ops.INBOX_REMOVE)

    def _judged_by_the_audit(self, session: Session) -> tuple[list[_Removal], set[int]]:
        """The inbox items to take out, and those the additions' settled audits showed in
        their category already (no read needed)."""
        run = run_of(session, self._job_id)
        playlists = dict(
            session.execute(
                select(Category.id, Category.youtube_playlist_id).where(
                    Category.youtube_playlist_id.is_not(None)
                )
            ).all()
        )
        adds = {
            (category, video): (status, confirmed is not None, error)
            for category, video, status, confirmed, error in session.execute(
                select(
                    SyncOperation.category_id,
                    SyncOperation.video_id,
                    SyncOperation.status,
                    SyncOperation.confirmed_at,
                    SyncOperation.error,
                ).where(SyncOperation.job_id == self._job_id, SyncOperation.kind == ops.ADD)
            )
        }
        removals: list[_Removal] = []
        verified: set[int] = set()
        for item in _items(session, run.id):
            if item.action not in TAKES_OUT or item.source_item_id is None:
                continue
            playlist = playlists.get(item.category_id or 0)
            why: str | None = None
            add = adds.get((item.category_id, item.video_pk))
            if playlist is None:
                why = "its category has no playlist any more"
            elif add is not None and add[0] == "failed":
                why = f"not added: {add[2]}"
            elif add is not None and add[0] == "completed" and add[1] and add[2] is None:
                verified.add(item.pk)
            removals.append(_Removal(item, playlist, why))
        return removals, verified

    def _look_up(self, removals: list[_Removal]) -> set[int]:
        """The items whose video YouTube shows in its category playlist now: a look-up
        per video, or the playlist's listing when that costs fewer units."""
        wanted: dict[str, dict[str, list[int]]] = {}
        for r in removals:
            assert r.playlist is not None  # no playlist: unverified
            wanted.setdefault(r.playlist, {}).setdefault(r.item.video, []).append(r.item.pk)
        if not wanted:
            return set()
        sizes: dict[str, int] = {}
        ids = sorted(wanted)
        for start in range(0, len(ids), PAGE_SIZE):
            chunk = ids[start : start + PAGE_SIZE]
            for playlist in self._reader.one(lambda c=chunk: self._yt.playlists_by_id(c)):  # type: ignore[misc]
                sizes[str(playlist["id"])] = int(
                    playlist.get("contentDetails", {}).get("itemCount", 0)
                )
        shown: set[int] = set()
        for playlist_id, videos in wanted.items():
            if playlist_id not in sizes:
                continue  # gone from YouTube: nothing is shown in it
            try:
                present = self._present(playlist_id, set(videos), sizes[playlist_id])
            except Gone:
                continue
            for video in present:
                shown.update(videos[video])
        return shown

    def _present(self, playlist_id: str, videos: set[str], size: int) -> set[str]:
        pages = max(1, math.ceil(size / PAGE_SIZE))
        if len(videos) > pages:
            items = self._reader.playlist_items(playlist_id)
            return {str(i["contentDetails"]["videoId"]) for i in items} & videos
        present = set()
        for video in sorted(videos):
            page = self._reader.one(
                lambda v=video: self._yt.playlist_items(playlist_id, video_id=v)  # type: ignore[misc]
            )
            if page.items:
                present.add(video)
        return present

    def _record(self, session: Session, removals: list[_Removal], shown: set[int]) -> None:
        names = dict(session.execute(select(Category.id, Category.name)).all())
        rows = []
        for r in removals:
            row: dict[str, Any] = {
                "op_key": removal_key(r.item.pk),
                "category_id": r.item.category_id,
                "video_id": r.item.video_pk,
                "position": r.item.pk,
                "youtube_id": r.item.source_item_id,
            }
            if r.item.pk not in shown:
                why = r.unverified or NOT_SHOWN
                category = names.get(r.item.category_id or 0, "?")
                row.update(status="held_back", error=f"left in the inbox: {why}")
                ops.record_error(
                    session,
                    self._job_id,
                    "remove_from_inbox",
                    "video",
                    r.item.video,
                    f"left in the inbox, not verified in '{category}': {why}",
                )
            rows.append(row)
        ops.insert_missing(session, self._job_id, ops.INBOX_REMOVE, rows)


# --------------------------------------------------------------------------- 5. finish


def finish_run(session: Session, job_id: int) -> Finished:
    """What the job's writes did, per video and for the run (once: a retry finds it)."""
    run = run_of(session, job_id)
    if run.outcome == "done":
        return _finished(run)
    adds = {
        (category, video): (status, error)
        for category, video, status, error in session.execute(
            select(
                SyncOperation.category_id,
                SyncOperation.video_id,
                SyncOperation.status,
                SyncOperation.error,
            ).where(SyncOperation.job_id == job_id, SyncOperation.kind == ops.ADD)
        )
    }
    removals = {
        key: (status, error)
        for key, status, error in session.execute(
            select(SyncOperation.op_key, SyncOperation.status, SyncOperation.error).where(
                SyncOperation.job_id == job_id, SyncOperation.kind == ops.INBOX_REMOVE
            )
        )
    }
    return _finish(session, run, _items(session, run.id), adds, removals)


def _finish(
    session: Session,
    run: OrganizeRun,
    items: list[_RunItem],
    adds: dict[tuple[int | None, int | None], tuple[str, str | None]],
    removals: dict[str, tuple[str, str | None]],
) -> Finished:
    outcomes: list[dict[str, Any]] = []
    handled: set[int] = set()
    for item in items:
        outcome, note = _outcome(item, adds, removals)
        if outcome is not None:
            outcomes.append({"id": item.pk, "outcome": outcome, "note": note})
        # In its category now, or never to be (failed for good, nothing to write).
        if outcome is not None or item.action in NOTHING_TO_WRITE:
            handled.add(item.video_pk)
    for start in range(0, len(outcomes), _CHUNK):
        session.execute(update(OrganizeItem), outcomes[start : start + _CHUNK])
    _mark_handled(session, sorted(handled))
    results = dict(Counter(str(row["outcome"]) for row in outcomes))
    run.results = results
    run.outcome, run.message = "done", None
    run.finished_at = datetime.now(UTC)
    return _finished(run)


def _outcome(
    item: _RunItem,
    adds: dict[tuple[int | None, int | None], tuple[str, str | None]],
    removals: dict[str, tuple[str, str | None]],
) -> tuple[str | None, str | None]:
    if item.action not in ADDS + TAKES_OUT:
        return None, None
    if item.action in ADDS:
        status, error = adds.get((item.category_id, item.video_pk), ("failed", "not added"))
        if status != "completed":
            return FAILED, error
        if item.action == COPY:
            return COPIED, None
    status, error = removals.get(removal_key(item.pk), ("held_back", "not verified"))
    if status == "completed":
        return (MOVED if item.action == MOVE else TAKEN_OUT), None
    return KEPT, error


def _mark_handled(session: Session, video_pks: list[int]) -> None:
    """Uploads a run wrote (or had nothing to write) for: later runs skip them."""
    for start in range(0, len(video_pks), _CHUNK):
        session.execute(
            update(OrganizeSeen)
            .where(
                OrganizeSeen.source == UPLOADS,
                OrganizeSeen.video_id.in_(video_pks[start : start + _CHUNK]),
            )
            .values(handled=True)
        )


def _finished(run: OrganizeRun) -> Finished:
    counts = {key: int(value) for key, value in (run.counts or {}).items()}
    results = {key: int(value) for key, value in (run.results or {}).items()}
    return Finished(
        run_id=run.id,
        counts=counts,
        read_units=run.read_units,
        results=results,
        summary=written_text(results, counts),
    )
