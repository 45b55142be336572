"""Settle, then judge: the reads that decide what a write whose answer was lost did.

YouTube's lists show a write late, and Google promises no read-after-write, so a write
with an unknown outcome (a lost answer, a 5xx or 409 after sending, a crash mid-write)
is never judged by one read right after it.  Its row stays ``in_flight`` and the batch
goes on; once the lane's writes are done and the settle delay has passed on a durable
timer, one listing judges them all:

* the audit of a category playlist: an ``in_flight`` video found is done, one not found
  is sent again; a done video missing is sent again; copies of a video that ytsync sent
  more than once are deleted down to one.  Items ytsync did not send more than once,
  the user's own included, are never touched.
* the check of the channel's playlists: an ``in_flight`` creation found through its
  marker is done, one not found is made again; a second marked playlist for a category,
  if empty, is deleted.

A check that repaired something is due again after another settle delay; the job goes
on when every check finds nothing left to repair.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import Category, LaneCheck, SyncOperation, Video
from ytsync.quota import WRITE_COST
from ytsync.sync.budget import Budget
from ytsync.sync.lease import Lease
from ytsync.sync.operations import ADD, CREATE, record_error
from ytsync.sync.reads import Gone, PagedReader
from ytsync.sync.writer import PAUSED, RetryLater, StopBatch, stop_for
from ytsync.wire import PauseReason
from ytsync.youtube.client import YouTube
from ytsync.youtube.errors import Outcome, classify

# The whole channel: the lane of the creation check.
CHANNEL = 0
MARKER = re.compile(r"ytsync:job=(\d+):category=(\d+)")


@dataclass
class Repairs:
    found: int = 0
    resent: int = 0
    duplicates_removed: int = 0

    @property
    def wrote(self) -> bool:
        return self.resent > 0 or self.duplicates_removed > 0


def due_checks(
    session: Session, job_id: int, kind: str, settle: timedelta
) -> tuple[list[int], datetime | None]:
    """Make sure each lane the job sent a write of ``kind`` to has its check row; the
    lanes whose check is due, and when the last of their writes will have settled.

    The lanes: for additions, each category playlist; for creations, the channel."""
    column = SyncOperation.category_id if kind == ADD else literal(CHANNEL)
    lanes = session.scalars(
        select(column)
        .where(
            SyncOperation.job_id == job_id,
            SyncOperation.kind == kind,
            SyncOperation.sent_at.is_not(None),
            SyncOperation.category_id.is_not(None),
        )
        .distinct()
    ).all()
    have = {
        check.lane: check
        for check in session.scalars(
            select(LaneCheck).where(LaneCheck.job_id == job_id, LaneCheck.kind == kind)
        )
    }
    for lane in (int(found or 0) for found in lanes):
        if lane not in have:
            have[lane] = LaneCheck(
                job_id=job_id,
                kind=kind,
                lane=lane,
                status="due",
                rounds=0,
                reads=0,
                found=0,
                resent=0,
                duplicates_removed=0,
            )
            session.add(have[lane])
    session.flush()
    due = sorted(lane for lane, check in have.items() if check.status == "due")
    if not due:
        return [], None
    last_sent = session.scalar(
        select(func.max(SyncOperation.sent_at)).where(
            SyncOperation.job_id == job_id,
            SyncOperation.kind == kind,
            *([SyncOperation.category_id.in_(due)] if kind == ADD else []),
        )
    )
    moments = [have[lane].checked_at for lane in due] + [last_sent]
    written = [moment for moment in moments if moment is not None]
    return due, (max(written) + settle) if written else None


class Auditor:
    """One settled check of a lane: reads it once, records what it finds, repairs."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        lease: Lease,
        job_id: int,
        clock: Callable[[], datetime],
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._yt = youtube
        self._budget = budget
        self._lease = lease
        self._job_id = job_id
        self._clock = clock
        self._heartbeat = heartbeat
        self._reader = PagedReader(youtube, budget, heartbeat)

    # a category playlist ---------------------------------------------------------------

    def audit_lane(self, category_id: int) -> Repairs:
        with self._sessions() as session:
            playlist_id = session.scalar(
                select(Category.youtube_playlist_id).where(Category.id == category_id)
            )
            ops = session.execute(
                select(
                    SyncOperation.id,
                    SyncOperation.status,
                    SyncOperation.youtube_id,
                    SyncOperation.attempts,
                    Video.youtube_id,
                )
                .join(Video, Video.id == SyncOperation.video_id)
                .where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind == ADD,
                    SyncOperation.category_id == category_id,
                    SyncOperation.status.in_(("completed", "in_flight")),
                )
            ).all()
        repairs = Repairs()
        if playlist_id is None:
            self._record(ADD, category_id, repairs)
            return repairs
        try:
            listed = self._reader.playlist_items(playlist_id)
        except Gone as gone:
            self._lost_playlist(category_id, playlist_id, str(gone))
            self._record(ADD, category_id, repairs)
            return repairs
        copies: dict[str, list[str]] = defaultdict(list)
        for item in listed:
            copies[str(item["contentDetails"]["videoId"])].append(str(item["id"]))
        completed: list[tuple[int, str]] = []
        resend: list[int] = []
        extra: list[str] = []
        for op_id, status, item_id, attempts, video in ops:
            found = copies.get(video, [])
            if not found:
                resend.append(op_id)
                continue
            keep = item_id if item_id in found else found[0]
            if status == "in_flight":
                completed.append((op_id, keep))
            if attempts > 1:
                # Sent more than once: any copy beyond one is ours.
                extra += [copy for copy in found if copy != keep]
        repairs.found, repairs.resent = len(completed), len(resend)
        with transaction(self._sessions) as session:
            for op_id, keep in completed:
                op = session.get_one(SyncOperation, op_id)
                op.status, op.youtube_id = "completed", keep
            for op_id in resend:
                session.get_one(SyncOperation, op_id).status = "pending"
        for copy in extra:
            self._delete(copy, self._yt.delete_playlist_item)
            repairs.duplicates_removed += 1
        self._record(ADD, category_id, repairs)
        return repairs

    def _lost_playlist(self, category_id: int, playlist_id: str, why: str) -> None:
        """The category playlist is gone: what waited on it cannot be judged or sent."""
        message = f"the category playlist {playlist_id} is gone from YouTube ({why})"
        with transaction(self._sessions) as session:
            for op in session.scalars(
                select(SyncOperation).where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind == ADD,
                    SyncOperation.category_id == category_id,
                    SyncOperation.status == "in_flight",
                )
            ):
                op.status, op.error = "failed", message
            record_error(session, self._job_id, "add_videos", "playlist", playlist_id, message)

    # the channel's playlists ---------------------------------------------------------

    def check_creations(self) -> Repairs:
        with self._sessions() as session:
            ops = session.execute(
                select(SyncOperation.id, SyncOperation.status, SyncOperation.category_id).where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind == CREATE,
                    SyncOperation.status.in_(("completed", "in_flight")),
                )
            ).all()
            recorded = dict(
                session.execute(
                    select(Category.id, Category.youtube_playlist_id).where(
                        Category.youtube_playlist_id.is_not(None)
                    )
                ).all()
            )
        listed = self._reader.all_pages(self._yt.my_playlists)
        marked: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for playlist in listed:
            match = MARKER.search(playlist.get("snippet", {}).get("description", ""))
            if match and int(match.group(1)) == self._job_id:
                marked[int(match.group(2))].append(playlist)
        repairs = Repairs()
        made: list[tuple[int, int, str]] = []
        resend: list[int] = []
        extra: list[dict[str, Any]] = []
        for op_id, status, category_id in ops:
            found = marked.get(category_id or 0, [])
            ids = [str(p["id"]) for p in found]
            keep = recorded.get(category_id) if category_id is not None else None
            if status == "in_flight":
                if not ids:
                    resend.append(op_id)
                    continue
                keep = keep if keep in ids else ids[0]
                made.append((op_id, category_id or 0, keep))
            extra += [p for p in found if str(p["id"]) != keep]
        repairs.found, repairs.resent = len(made), len(resend)
        with transaction(self._sessions) as session:
            for op_id, category_id, playlist_id in made:
                op = session.get_one(SyncOperation, op_id)
                op.status, op.youtube_id = "completed", playlist_id
                # In the same commit as the row: the category must never lose its playlist.
                session.get_one(Category, category_id).youtube_playlist_id = playlist_id
            for op_id in resend:
                session.get_one(SyncOperation, op_id).status = "pending"
        for playlist in extra:
            if int(playlist.get("contentDetails", {}).get("itemCount", 0)):
                # Not ytsync's to judge: it holds videos someone put there.
                self._keep_second(playlist)
                continue
            self._delete(str(playlist["id"]), self._yt.delete_playlist)
            repairs.duplicates_removed += 1
        self._record(CREATE, CHANNEL, repairs)
        return repairs

    def _keep_second(self, playlist: dict[str, Any]) -> None:
        title = str(playlist.get("snippet", {}).get("title", ""))
        with transaction(self._sessions) as session:
            record_error(
                session,
                self._job_id,
                "create_playlists",
                "playlist",
                str(playlist["id"]),
                f"a second playlist '{title}' made for one category holds videos: kept",
            )

    # plumbing ------------------------------------------------------------------------

    def _delete(self, resource_id: str, delete: Callable[[str], None]) -> None:
        """Delete one of ytsync's own extra copies.  Deleting twice is harmless (the
        second answers 404), so a lost answer needs no look-up."""

        def renew(session: Session) -> None:
            if self._lease.renew_in(session):
                raise StopBatch(PauseReason.USER, None, PAUSED)  # rolls the payment back

        if not self._budget.try_spend(WRITE_COST, renew):
            raise StopBatch(
                PauseReason.QUOTA,
                self._budget.next_reset(),
                "the usable quota of this period is spent",
            )
        try:
            delete(resource_id)
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if failure.outcome is not Outcome.NOT_FOUND:
                raise stop_for(failure, self._budget) or RetryLater(failure.describe()) from None
        self._heartbeat()

    def _record(self, kind: str, lane: int, repairs: Repairs) -> None:
        with transaction(self._sessions) as session:
            check = session.scalars(
                select(LaneCheck).where(
                    LaneCheck.job_id == self._job_id, LaneCheck.kind == kind, LaneCheck.lane == lane
                )
            ).one()
            check.rounds += 1
            check.reads += self._reader.units
            check.found += repairs.found
            check.resent += repairs.resent
            check.duplicates_removed += repairs.duplicates_removed
            check.status = "due" if repairs.wrote else "clean"
            if repairs.duplicates_removed:
                check.checked_at = self._clock()
