"""The idempotency protocol for every YouTube write.

1. read the operation row: completed, failed or skipped means nothing to do;
2. found ``in_flight``: the last attempt's outcome is unknown, so look before writing
   again (a 1-unit read);
3. charge the quota ledger, mark ``in_flight`` and commit, then call the API;
4. record the result and commit.

Playlist creations take these steps one write at a time.  Item writes (the bulk of a
job) and playlist deletions take steps 3 and 4 a chunk of ten at a time: one commit
records a chunk's results, pays for the next chunk and marks it in_flight.  The
guarantee is the same, since every write is in_flight in a committed row before it is
sent; a crash costs at most one chunk of 1-unit look-ups (none for deletions: deleting
twice is harmless).

A worker can die at any point of this and the next attempt still makes the write at
most once: YouTube happily stores the same video twice in a playlist.

A user's pause stops a batch between two writes, never inside one: the job row's pause
request is read in every commit that pays for writes (with the lane lease, in the same
statement), and the activity's cancellation before every send.  Writes paid for and
not sent go back to pending, results so far are recorded: the protocol is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, NoReturn, TypeVar, cast

from sqlalchemy import Select, Table, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import (
    BackupSnapshot,
    Category,
    Playlist,
    SyncJob,
    SyncOperation,
    Video,
    utcnow,
)
from ytsync.quota import LIST_COST, WRITE_COST
from ytsync.sync.budget import Budget
from ytsync.sync.lease import Lease
from ytsync.sync.operations import ADD as ADD_VIDEO
from ytsync.sync.operations import (
    CREATE,
    DEDUPE,
    DELETE,
    INBOX_REMOVE,
    KINDS,
    REMOVE,
    RESTORE,
    RESTORE_DEDUPE,
    RESTORE_ITEM,
    RESTORE_REMOVE,
    RESTORE_UPDATE,
    STAGE_OF_KIND,
    UNDO_DELETE,
    insert_missing,
    record_error,
)
from ytsync.sync.undo import restore_targets, text_row
from ytsync.sync.unkeep import OLD_ITEM
from ytsync.wire import PauseReason
from ytsync.youtube.client import YouTube
from ytsync.youtube.errors import ApiFailure, Outcome, classify
from ytsync.youtube.titles import fit_description, fit_title

T = TypeVar("T")

# Item writes paid for, marked in_flight and recorded together; also the most a crash
# can leave to look up again (one read each).
CHUNK_WRITES = 10
# How often a batch heartbeats between sends at most: a cancellation (a user's pause)
# reaches the activity only in the answer to a heartbeat.
BEAT_SECONDS = 0.5
PAUSED = "the user paused the job"

# YouTube answers 404 playlistNotFound to inserts into a playlist made moments ago.
# Within this long after ytsync made the playlist such a 404 means "not yet": the batch
# is tried again later.  Past it the playlist is really gone, and the item fails.
FRESH_PLAYLIST = timedelta(minutes=10)
FRESH_RETRY_SECONDS = 5

# The write may have been applied and its answer lost (a 5xx, a 409, a cut connection,
# or a failure on this machine after the send): its row stays in_flight, so the next
# attempt looks before it writes.
UNKNOWN_OUTCOMES = (Outcome.TRANSIENT, Outcome.UNKNOWN_RESULT, Outcome.LOCAL)
# YouTube's passing trouble on one send: the batch goes on with the next write (the row
# stays in_flight for its settled check), unless it comes this many sends in a row.
PASSING = (Outcome.TRANSIENT, Outcome.UNKNOWN_RESULT)
FAULTS_IN_A_ROW = 3

# YouTube refused this one item for good: record it, skip it, go on.
ITEM_FAILURES = (
    Outcome.ITEM_UNAVAILABLE,
    Outcome.PLAYLIST_FULL,
    Outcome.PERMANENT,
    Outcome.NOT_FOUND,
    Outcome.ALREADY_PRESENT,
)


class StopBatch(Exception):
    """The batch cannot go on now: out of quota, rate limited for the day, or signed out."""

    def __init__(self, stop: PauseReason, resume_at: datetime | None, message: str) -> None:
        super().__init__(message)
        self.stop = stop
        self.resume_at = resume_at
        self.message = message


class RetryLater(Exception):
    """A transient failure; Temporal's retry policy runs the batch again after ``delay``."""

    def __init__(self, message: str, delay: timedelta | None = None) -> None:
        super().__init__(message)
        self.delay = delay


OPERATIONS = cast(Table, SyncOperation.__table__)
PLAYLISTS = cast(Table, Playlist.__table__)


class Item(NamedTuple):
    op_id: int
    status: str
    video_id: str
    playlist_id: str | None


@dataclass
class _Outcomes:
    """Item results waiting for the next commit."""

    completed: list[tuple[int, str | None]] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)
    # Sends whose answer was lost: they stay in_flight for a settled check.
    unanswered: list[int] = field(default_factory=list)
    # When each send of the chunk ended (its answer, or the failure that left its
    # outcome unknown), on the job's clock: the moment a settle is measured from.
    ended: dict[int, datetime] = field(default_factory=dict)
    _flushed: int = 0

    def flush(
        self,
        session: Session,
        job_id: int,
        kind: str,
        *,
        in_flight: Sequence[int] = (),
        pending: Sequence[int] = (),
        now: datetime | None = None,
    ) -> None:
        if self.completed:
            # Core executemany: the ORM's bulk path costs more CPU than the round trip.
            session.connection().execute(
                update(OPERATIONS)
                .where(OPERATIONS.c.id == bindparam("op"))
                .values(status="completed", youtube_id=bindparam("yt"), sent_at=bindparam("at")),
                [
                    {"op": op, "yt": yt, "at": self.ended.get(op, now or utcnow())}
                    for op, yt in self.completed
                ],
            )
        if self.unanswered:
            session.connection().execute(
                update(OPERATIONS)
                .where(OPERATIONS.c.id == bindparam("op"))
                .values(sent_at=bindparam("at")),
                [{"op": op, "at": self.ended.get(op, now or utcnow())} for op in self.unanswered],
            )
        if self.completed and kind == DELETE:
            done = [op for op, _yt in self.completed]
            session.connection().execute(
                update(PLAYLISTS)
                .where(
                    PLAYLISTS.c.id.in_(
                        select(OPERATIONS.c.playlist_id).where(OPERATIONS.c.id.in_(done))
                    )
                )
                .values(deleted_from_youtube_at=utcnow())
            )
        for item, message in self.failed:
            _set(session, [item.op_id], status="failed", error=message)
            entity, entity_id = (
                ("playlist", item.playlist_id)
                if kind in (DELETE, UNDO_DELETE)
                else ("video", item.video_id)
            )
            record_error(session, job_id, STAGE_OF_KIND[kind], entity, entity_id or "", message)
        if in_flight:
            _set(
                session,
                in_flight,
                status="in_flight",
                attempts=OPERATIONS.c.attempts + 1,
                sent_at=now or utcnow(),
            )
        if pending:
            _set(session, pending, status="pending")
        self._flushed = len(self.completed) + len(self.failed)
        self.completed, self.failed, self.unanswered = [], [], []
        self.ended = {}

    def settled(self) -> int:
        """How many items the last committed flush settled."""
        flushed, self._flushed = self._flushed, 0
        return flushed


def _set(session: Session, op_ids: Sequence[int], **values: object) -> None:
    session.connection().execute(
        update(OPERATIONS).where(OPERATIONS.c.id.in_(op_ids)).values(**values)
    )


def _item_query(op_ids: list[int], target: Any) -> Select[Any]:
    """Item rows as (op id, status, video id, ``target``)."""
    return (
        select(SyncOperation.id, SyncOperation.status, Video.youtube_id, target)
        .join(Video, Video.id == SyncOperation.video_id)
        .where(SyncOperation.id.in_(op_ids))
    )


def _in_order(op_ids: list[int], rows: Sequence[tuple[int, str, str, str | None]]) -> list[Item]:
    by_id = {row[0]: Item(*row) for row in rows}
    return [by_id[op_id] for op_id in op_ids if op_id in by_id]


def stop_for(f: ApiFailure, budget: Budget) -> StopBatch | None:
    """The stop a failure calls for, or None when the batch is simply tried again."""
    if f.outcome is Outcome.QUOTA_EXHAUSTED:
        return StopBatch(
            PauseReason.QUOTA, budget.exhausted(), "YouTube says the project's quota is used up"
        )
    if f.outcome is Outcome.AUTH_REQUIRED:
        return StopBatch(PauseReason.AUTH, None, f.sign_in_problem())
    if f.outcome is Outcome.LOCAL:
        # Trying again would spend quota on calls whose results are lost again: wait
        # for the user, like a sign-in problem.
        return StopBatch(
            PauseReason.AUTH,
            None,
            f"a problem on this machine, not YouTube's answer: {f.describe()}",
        )
    return None


def playlist_marker(job_id: int, category_id: int) -> str:
    """Written into a created playlist's description so a lost answer can be found."""
    return f"ytsync:job={job_id}:category={category_id}"


def restore_marker(job_id: int, playlist_pk: int) -> str:
    """The same for a playlist a restore recreates (until its description goes back)."""
    return f"ytsync:restore={job_id}:playlist={playlist_pk}"


class Writer:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        lease: Lease,
        job_id: int,
        attempt: int = 1,
        heartbeat: Callable[[], None] = lambda: None,
        stop_requested: Callable[[], bool] = lambda: False,
        clock: Callable[[], datetime] = utcnow,
        in_order: bool = False,
    ) -> None:
        self._sessions = sessions
        # The lane's order counts (a restore that keeps the old order): a write whose
        # outcome is unknown ends the batch, as one sent after it would land before it
        # should it have to be sent again.
        self._in_order = in_order
        # Stamps when each write goes out: the settle delay runs from there.
        self._clock = clock
        self._yt = youtube
        self._budget = budget
        self._lease = lease
        self._job_id = job_id
        self._attempt = attempt
        self._heartbeat = heartbeat
        self._stop_requested = stop_requested
        self._removals: set[str] | None = None
        self._beaten = time.monotonic()
        # The chunk's results and send times, known only here until the chunk is
        # recorded, and the write on its way to YouTube (see record_stranded).
        self._outcome = _Outcomes()
        self._sending: int | None = None
        self._faults_in_a_row = 0
        # Operations settled so far (written, found written, or failed for good).
        self.done = 0

    def create_playlists(self, op_ids: list[int]) -> None:
        self._each(self._create_playlist, op_ids)

    def restore_playlists(self, op_ids: list[int]) -> None:
        self._each(self._restore_playlist, op_ids)

    def update_playlists(self, op_ids: list[int]) -> None:
        """Under reuse: make each kept old playlist its category's playlist."""
        self._each(self._update_playlist, op_ids)

    def _each(self, write: Callable[[int], None], op_ids: list[int]) -> None:
        for op_id in op_ids:
            if self._stop_requested():
                raise StopBatch(PauseReason.USER, None, PAUSED)
            write(op_id)
            self.done += 1

    # item writes and deletions, a chunk at a time ------------------------------------

    def delete_playlists(self, op_ids: list[int]) -> None:
        """Delete old playlists, a chunk at a time like items.  Deleting twice is
        harmless (the second answers 404), so an in_flight one is simply sent again."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    SyncOperation.id,
                    SyncOperation.status,
                    Playlist.youtube_id,
                    Playlist.deleted_from_youtube_at,
                )
                .join(Playlist, Playlist.id == SyncOperation.playlist_id)
                .where(SyncOperation.id.in_(op_ids))
            ).all()
        # Already gone from YouTube (an earlier job, a re-import): nothing to send.
        items = [
            Item(op_id, "completed" if gone is not None else status, "", youtube_id)
            for op_id, status, youtube_id, gone in rows
        ]
        self._write_items(DELETE, _in_order(op_ids, items), self._send_delete)

    def add_videos(self, op_ids: list[int]) -> None:
        """Insert a lane's videos into their category playlist."""
        with self._sessions() as session:
            rows = session.execute(
                _item_query(op_ids, Category.youtube_playlist_id).outerjoin(
                    Category, Category.id == SyncOperation.category_id
                )
            ).all()
        self._write_items(ADD_VIDEO, _in_order(op_ids, rows), self._send_insert)

    def restore_items(self, op_ids: list[int]) -> None:
        """Put an old playlist's items back: into the playlist recreated for it, or into
        itself when a reusing job kept it."""
        with self._sessions() as session:
            rows = session.execute(_item_query(op_ids, SyncOperation.playlist_id)).all()
            targets = restore_targets(session, self._job_id, {int(row[3]) for row in rows})
        items = [
            Item(op_id, status, video, targets.get(int(playlist)))
            for op_id, status, video, playlist in rows
        ]
        self._write_items(RESTORE_ITEM, _in_order(op_ids, items), self._send_insert)

    def restore_updates(self, op_ids: list[int]) -> None:
        """Restore after a reuse: a kept playlist's old title, description, privacy."""
        self._each(self._rename_back, op_ids)

    def restore_removals(self, op_ids: list[int]) -> None:
        """Restore after a reuse: the items in the way of a kept playlist's old order
        (ytsync.sync.unkeep), once its appends are done.  An old item whose video could
        not be appended again is skipped: it stays, so nothing is lost."""
        with transaction(self._sessions) as session:
            not_back = {
                (playlist, video)
                for playlist, video in session.execute(
                    select(SyncOperation.playlist_id, SyncOperation.video_id).where(
                        SyncOperation.job_id == self._job_id,
                        SyncOperation.kind == RESTORE_ITEM,
                        SyncOperation.status == "failed",
                    )
                )
            }
            for op in session.scalars(select(SyncOperation).where(SyncOperation.id.in_(op_ids))):
                if op.op_key.startswith(f"{OLD_ITEM}:") and (op.playlist_id, op.video_id) in (
                    not_back
                ):
                    op.status, op.error = "skipped", "its video could not be put back"
            session.flush()
            rows = session.execute(_item_query(op_ids, SyncOperation.youtube_id)).all()
        self._write_items(RESTORE_REMOVE, _in_order(op_ids, rows), self._send_remove)

    def remove_from_inbox(self, op_ids: list[int]) -> None:
        """An organize run: take videos out of the inbox, each verified in its category
        first (ytsync.organize.write).  The row holds the inbox item's id; removing twice
        is harmless (a 404: the owner took it out already), so an in_flight one is
        simply sent again."""
        with self._sessions() as session:
            rows = session.execute(_item_query(op_ids, SyncOperation.youtube_id)).all()
        self._write_items(INBOX_REMOVE, _in_order(op_ids, rows), self._send_remove)

    def remove_items(self, op_ids: list[int]) -> None:
        """Under reuse: remove items that do not belong from kept playlists, each
        verified safe first (ytsync.sync.verify).  The row holds the item's YouTube id;
        removing twice is harmless, so an in_flight one is simply sent again."""
        with self._sessions() as session:
            rows = session.execute(_item_query(op_ids, SyncOperation.youtube_id)).all()
        self._write_items(REMOVE, _in_order(op_ids, rows), self._send_remove)

    def remove_copies(self, op_ids: list[int]) -> None:
        """A settled check's verdict: delete copies ytsync made beyond the one it keeps
        (ytsync.sync.audit).  The row holds the copy's item id; deleting twice is
        harmless, so an in_flight one is simply sent again."""
        self._remove_copies(DEDUPE, op_ids)

    def remove_restored_copies(self, op_ids: list[int]) -> None:
        """The same verdict in a playlist a restore puts back."""
        self._remove_copies(RESTORE_DEDUPE, op_ids)

    def _remove_copies(self, kind: str, op_ids: list[int]) -> None:
        with self._sessions() as session:
            rows = session.execute(_item_query(op_ids, SyncOperation.youtube_id)).all()
        self._write_items(kind, _in_order(op_ids, rows), self._send_remove)

    def delete_made_playlists(self, op_ids: list[int]) -> None:
        """A full undo: delete category playlists the sync made, each verified first
        (ytsync.sync.undo_verify).  The row holds the playlist's id; deleting twice is
        harmless (the second answers 404), so an in_flight one is simply sent again."""
        with self._sessions() as session:
            rows = session.execute(
                select(SyncOperation.id, SyncOperation.status, SyncOperation.youtube_id).where(
                    SyncOperation.id.in_(op_ids)
                )
            ).all()
        items = [Item(op_id, status, "", youtube_id) for op_id, status, youtube_id in rows]
        self._write_items(UNDO_DELETE, _in_order(op_ids, items), self._send_delete)

    def drop_playlists(self, op_ids: list[int]) -> None:
        """A settled check's verdict: delete a second playlist ytsync made for one
        category.  Read first (1 unit): one that holds videos by now is the owner's
        doing, so it is kept and reported."""
        self._each(self._drop_playlist, op_ids)

    def _drop_playlist(self, op_id: int) -> None:
        with self._sessions() as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            playlist_id = str(op.youtube_id)
        self._spend(LIST_COST, op_id)
        found = self._call(op_id, lambda: self._yt.playlists_by_id([playlist_id]))
        if not found:
            self._complete(op_id, playlist_id)  # already gone
            return
        if int(found[0].get("contentDetails", {}).get("itemCount", 0)):
            title = str(found[0].get("snippet", {}).get("title", ""))
            self._fail(
                op_id,
                "playlist",
                playlist_id,
                f"a second playlist '{title}' made for one category holds videos: kept",
            )
            return
        self._spend(WRITE_COST, op_id, in_flight=True)
        try:
            self._yt.delete_playlist(playlist_id)
        except Exception as exc:
            failure = self._classified(exc)
            if failure.outcome is not Outcome.NOT_FOUND:
                self._settle_failure(op_id, "playlist", playlist_id, failure)
                return
        self._complete(op_id, playlist_id)

    def _send_remove(self, item: Item) -> str | None:
        assert item.playlist_id is not None  # the planned row names the item
        self._yt.delete_playlist_item(item.playlist_id)
        return item.playlist_id

    def _send_insert(self, item: Item) -> str | None:
        assert item.playlist_id is not None  # items without one failed before
        return self._yt.insert_playlist_item(item.playlist_id, item.video_id)

    def _send_delete(self, item: Item) -> str | None:
        assert item.playlist_id is not None
        self._yt.delete_playlist(item.playlist_id)
        return item.playlist_id

    def _write_items(
        self, kind: str, items: list[Item], send: Callable[[Item], str | None]
    ) -> None:
        """Items are paid for and marked in_flight a chunk at a time, and each chunk's
        results are recorded in the commit that pays for the next one: a crash leaves at
        most one chunk to look up, and the database sees a commit per chunk, not three per
        write."""
        todo: list[Item] = []
        for item in items:
            if item.status not in ("pending", "in_flight"):
                self.done += 1
            elif item.playlist_id is None:
                missing = "the target playlist was not created"
                self._fail(item.op_id, "video", item.video_id, missing)
                self.done += 1
            elif (
                item.status == "in_flight"
                and not KINDS[kind].resendable
                and self._found_by_lookup(item)
            ):
                self.done += 1
            else:
                todo.append(item)
        outcome = self._outcome = _Outcomes()
        while todo:
            chunk = self._pay_for(kind, todo[:CHUNK_WRITES], outcome)
            todo = self._send(kind, chunk, outcome, send) + todo[len(chunk) :]
            self._heartbeat()
        with transaction(self._sessions) as session:
            outcome.flush(session, self._job_id, kind)
        self.done += outcome.settled()

    def _pay_for(self, kind: str, ahead: list[Item], outcome: _Outcomes) -> list[Item]:
        """Pay for as many of ``ahead`` as the budget allows and mark them in_flight, in
        the commit that records the results so far; stop when not even one is paid."""
        ids = [item.op_id for item in ahead]
        paused = False

        def record_and_mark(session: Session, paid: int) -> None:
            nonlocal paused
            paused = self._lease.renew_in(session) or self._stop_requested()
            sent = 0 if paused else paid
            # Those not sent now: any in_flight mark on them is stale.
            outcome.flush(
                session,
                self._job_id,
                kind,
                in_flight=ids[:sent],
                pending=ids[sent:],
                now=self._clock(),
            )

        paid = self._budget.spend_writes(len(ahead), record_and_mark)
        self.done += outcome.settled()
        if paused:
            self._budget.unspend(WRITE_COST * paid)
            raise StopBatch(PauseReason.USER, None, PAUSED)
        if not paid:
            raise StopBatch(
                PauseReason.QUOTA,
                self._budget.next_reset(),
                "the usable quota of this period is spent",
            )
        return ahead[:paid]

    def _send(
        self,
        kind: str,
        chunk: list[Item],
        outcome: _Outcomes,
        send: Callable[[Item], str | None],
    ) -> list[Item]:
        """Send a paid chunk; returns what is left unsent because the period ended."""
        for index, item in enumerate(chunk):
            self._beat()
            if self._lease.keep_fresh() or self._stop_requested():
                self._pause_items(kind, outcome, chunk[index:])
            if self._budget.period_is_over():
                # Paid for in the period that just ended: pay again in the new one.
                self._budget.unspend(WRITE_COST * (len(chunk) - index))
                return chunk[index:]
            self._sending = item.op_id
            try:
                item_id = send(item)
            except Exception as exc:
                failure = self._classified(exc)
                outcome.ended[item.op_id] = self._clock()
                self._sending = None
                if failure.outcome is Outcome.NOT_FOUND and KINDS[kind].resendable:
                    outcome.completed.append((item.op_id, item.playlist_id))  # already gone
                elif failure.outcome is Outcome.NOT_FOUND and self._just_made(item.playlist_id):
                    delay = timedelta(
                        seconds=min(60, FRESH_RETRY_SECONDS * 2 ** (self._attempt - 1))
                    )
                    self._stop_items(kind, outcome, item, chunk[index + 1 :], failure, delay)
                elif failure.outcome is Outcome.ALREADY_PRESENT:
                    outcome.completed.append((item.op_id, None))
                elif failure.outcome in ITEM_FAILURES:
                    outcome.failed.append((item, failure.describe()))
                elif (
                    failure.outcome in PASSING
                    and self._faults_in_a_row + 1 < FAULTS_IN_A_ROW
                    and not self._in_order
                ):
                    # One fault says nothing of the next write: rather than end the batch
                    # (a new activity, Temporal's backoff), go on; this one waits,
                    # in_flight, for a settled check or the next attempt's look-up.
                    self._faults_in_a_row += 1
                    outcome.unanswered.append(item.op_id)
                else:
                    self._stop_items(kind, outcome, item, chunk[index + 1 :], failure)
            else:
                self._faults_in_a_row = 0
                outcome.ended[item.op_id] = self._clock()
                outcome.completed.append((item.op_id, item_id))
            self._sending = None
        return []

    def record_stranded(self) -> None:
        """The batch failed in a way the protocol did not expect (a bug, the database
        gone) before it recorded its chunk: its rows stay in_flight for a settled check,
        whose settle must run from when each was sent, not from when it was paid for."""
        ended = dict(self._outcome.ended)
        if self._sending is not None:
            ended[self._sending] = self._clock()
        if not ended:
            return
        with transaction(self._sessions) as session:
            session.connection().execute(
                update(OPERATIONS)
                .where(OPERATIONS.c.id == bindparam("op"), OPERATIONS.c.status == "in_flight")
                .values(sent_at=bindparam("at")),
                [{"op": op, "at": at} for op, at in ended.items()],
            )

    def _just_made(self, playlist_id: str | None) -> bool:
        """Did ytsync create this playlist within FRESH_PLAYLIST (by the time its
        creation was recorded)?"""
        with self._sessions() as session:
            made = session.scalar(
                select(func.max(SyncOperation.updated_at)).where(
                    SyncOperation.kind.in_((CREATE, RESTORE)),
                    SyncOperation.status == "completed",
                    SyncOperation.youtube_id == playlist_id,
                )
            )
        return made is not None and utcnow() - made < FRESH_PLAYLIST

    def _found_by_lookup(self, item: Item) -> bool:
        """An in_flight item's last send may have been applied: a 1-unit read tells."""
        playlist_id = item.playlist_id
        assert playlist_id is not None  # items without one failed before the look-up
        self._spend(LIST_COST, item.op_id)
        page = self._call(
            item.op_id, lambda: self._yt.playlist_items(playlist_id, video_id=item.video_id)
        )
        # After a reuse, a kept playlist may still hold the old copy the restore appends
        # again (it goes once the appends are done): that one does not count.
        ours = [i for i in page.items if str(i["id"]) not in self._removing()]
        if ours:
            self._complete(item.op_id, str(ours[0]["id"]))
            return True
        return False

    def _removing(self) -> set[str]:
        """Item ids this job deletes after its appends (restore after a reuse)."""
        if self._removals is None:
            with self._sessions() as session:
                self._removals = set(
                    session.scalars(
                        select(SyncOperation.youtube_id).where(
                            SyncOperation.job_id == self._job_id,
                            SyncOperation.kind == RESTORE_REMOVE,
                        )
                    )
                )
        return self._removals

    def _stop_items(
        self,
        kind: str,
        outcome: _Outcomes,
        item: Item,
        unsent: list[Item],
        f: ApiFailure,
        delay: timedelta | None = None,
    ) -> NoReturn:
        """Record what this chunk did, hand back the writes it never sent, then stop."""
        unknown = f.outcome in UNKNOWN_OUTCOMES
        back = [i.op_id for i in unsent] + ([] if unknown else [item.op_id])
        if unknown:
            outcome.unanswered.append(item.op_id)
        with transaction(self._sessions) as session:
            outcome.flush(session, self._job_id, kind, pending=back)
        self.done += outcome.settled()
        self._budget.unspend(WRITE_COST * len(unsent))
        self._raise_for(kind, f, delay)

    def _pause_items(self, kind: str, outcome: _Outcomes, unsent: list[Item]) -> NoReturn:
        """Stop mid-chunk for a pause: record what was sent, hand back the rest."""
        with transaction(self._sessions) as session:
            outcome.flush(session, self._job_id, kind, pending=[i.op_id for i in unsent])
        self.done += outcome.settled()
        self._budget.unspend(WRITE_COST * len(unsent))
        raise StopBatch(PauseReason.USER, None, PAUSED)

    def _beat(self) -> None:
        """Heartbeat between sends, at most every BEAT_SECONDS (each costs the worker's
        event loop a wake-up)."""
        now = time.monotonic()
        if now - self._beaten >= BEAT_SECONDS:
            self._beaten = now
            self._heartbeat()

    # playlist creations, one at a time -----------------------------------------------

    def _create_playlist(self, op_id: int) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            category = session.get_one(Category, op.category_id)
            if category.youtube_playlist_id:
                op.status, op.youtube_id = "completed", category.youtube_playlist_id
                return
            name, category_id = category.name, category.id
            privacy, text = category.privacy, category.description
            was_in_flight = op.status == "in_flight"
        marker = playlist_marker(self._job_id, category_id)
        if text is None:
            description = fit_description(f"Category '{name}', made by ytsync.", f" {marker}")
        else:
            # The plan's text, which leaves room for the marker (ytsync.plan.MARKER_ROOM).
            description = fit_description(text, f"\n\n{marker}")

        def record(session: Session, playlist_id: str) -> None:
            # In the same commit as the row: the category must never lose its playlist.
            session.get_one(Category, category_id).youtube_playlist_id = playlist_id

        self._new_playlist(op_id, name, description, privacy, marker, was_in_flight, record)

    def _update_playlist(self, op_id: int) -> None:
        """Title a kept playlist with its category's name and give it the category's
        privacy, and its description when the plan gives one (else it keeps its own);
        in the same commit as the row's completion, the category takes it as its
        playlist.  Updating twice is harmless, so an in_flight row (its answer lost) is
        simply sent again, with no look-up."""
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            category = session.get_one(Category, op.category_id)
            playlist = session.get_one(Playlist, op.playlist_id)
            name, category_id = category.name, category.id
            youtube_id, privacy = playlist.youtube_id, category.privacy
            description = category.description
            if description is None:
                description = playlist.description
            # The same rule as the cost model's (ytsync.reuse), so the preview's count
            # of updates is what the job sends.
            if (playlist.title, playlist.privacy, playlist.description) == (
                name,
                privacy,
                description,
            ):
                # Already as wanted: no write, the category simply takes it.
                op.status, op.youtube_id = "skipped", youtube_id
                category.youtube_playlist_id = youtube_id
                return
        self._spend(WRITE_COST, op_id, in_flight=True)
        try:
            self._yt.update_playlist(youtube_id, name, description, privacy)
        except Exception as exc:
            self._settle_failure(op_id, "playlist", youtube_id, self._classified(exc))
            return
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.youtube_id = "completed", youtube_id
            # In the same commit as the row: the category must never lose its playlist.
            session.get_one(Category, category_id).youtube_playlist_id = youtube_id
        self._heartbeat()

    def _rename_back(self, op_id: int) -> None:
        """A kept playlist's title, description and privacy as the snapshot has them
        (privacy from the import for a snapshot from before it was saved).  Sending it
        twice is harmless, so an in_flight row is simply sent again."""
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            playlist = session.get_one(Playlist, op.playlist_id)
            saved = self._saved_playlist(session, playlist)
            # A recreated playlist's row names the playlist made for it.
            youtube_id = op.youtube_id or playlist.youtube_id
            title = fit_title(str(saved.get("title", playlist.title)))
            description = fit_description(str(saved.get("description", playlist.description)), "")
            privacy = str(saved.get("privacy") or playlist.privacy or "private")
        self._spend(WRITE_COST, op_id, in_flight=True)
        try:
            self._yt.update_playlist(youtube_id, title, description, privacy)
        except Exception as exc:
            self._settle_failure(op_id, "playlist", youtube_id, self._classified(exc))
            return
        self._complete(op_id, youtube_id)

    def _saved_playlist(self, session: Session, playlist: Playlist) -> dict[str, Any]:
        job = session.get_one(SyncJob, self._job_id)
        snapshot = session.get_one(BackupSnapshot, job.snapshot_id)
        names = {playlist.youtube_id, playlist.replaced_youtube_id}
        for saved in snapshot.data.get("playlists", []):
            if saved.get("youtube_id") in names:
                return dict(saved)
        return {}

    def _restore_playlist(self, op_id: int) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            playlist = session.get_one(Playlist, op.playlist_id)
            title, description = playlist.title, playlist.description
            # As it was imported; private when the import did not record it.
            privacy = playlist.privacy or "private"
            was_in_flight = op.status == "in_flight"
        playlist_pk = playlist.id
        marker = restore_marker(self._job_id, playlist_pk)
        # The old texts plus the marker must still pass YouTube's rules.
        description = fit_description(description, f"\n\n{marker}")

        def record(session: Session, playlist_id: str) -> None:
            # In the same commit as the row: the description goes back without the
            # marker once the playlist is made, whoever finds it made.
            insert_missing(
                session, self._job_id, RESTORE_UPDATE, [text_row(playlist_pk, playlist_id)]
            )

        self._new_playlist(
            op_id, fit_title(title), description, privacy, marker, was_in_flight, record
        )

    def _new_playlist(
        self,
        op_id: int,
        title: str,
        description: str,
        privacy: str,
        marker: str,
        was_in_flight: bool,
        record: Callable[[Session, str], None],
    ) -> None:
        """Create a playlist at most once: the marker finds one whose answer was lost."""
        found = self._find_marked_playlist(op_id, marker) if was_in_flight else None
        if found is None:
            self._spend(WRITE_COST, op_id, in_flight=True)
            try:
                found = self._yt.insert_playlist(title, description, privacy)
            except Exception as exc:
                self._settle_failure(op_id, "playlist", title, self._classified(exc))
                return
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.youtube_id = "completed", found
            record(session, found)
        self._heartbeat()

    # protocol steps ----------------------------------------------------------------

    def _find_marked_playlist(self, op_id: int, marker: str) -> str | None:
        token: str | None = None
        while True:
            self._spend(LIST_COST, op_id)
            page = self._call(op_id, lambda t=token: self._yt.my_playlists(t))  # type: ignore[misc]
            for playlist in page.items:
                if marker in playlist.get("snippet", {}).get("description", ""):
                    return str(playlist["id"])
            if not page.next_token:
                return None
            token = page.next_token

    def _spend(self, units: int, op_id: int, *, in_flight: bool = False) -> None:
        """Pay for the next call; for a write, mark its row in_flight in the same commit."""

        def mark(session: Session) -> None:
            if self._lease.renew_in(session):
                # Rolls the payment back with the commit: nothing was sent.
                raise StopBatch(PauseReason.USER, None, PAUSED)
            op = session.get_one(SyncOperation, op_id)
            op.status = "in_flight"
            op.attempts += 1
            op.sent_at = self._clock()

        if not self._budget.try_spend(units, mark if in_flight else None):
            raise StopBatch(
                PauseReason.QUOTA,
                self._budget.next_reset(),
                "the usable quota of this period is spent",
            )

    def _call(self, op_id: int, fn: Callable[[], T]) -> T:
        """A read inside the protocol: failures stop or retry the batch, never guess.
        The caller paid for its first send; the client's re-sends are paid here."""
        try:
            with self._yt.resends_paid_by(lambda _method, units: self._spend(units, op_id)):
                return fn()
        except Exception as exc:
            # The row keeps its status: a failed look-before proves nothing.
            self._raise_for(self._kind_of(op_id), self._classified(exc))

    def _classified(self, exc: Exception) -> ApiFailure:
        failure = classify(exc)
        if failure is None:
            raise exc
        return failure

    def _settle_failure(self, op_id: int, entity: str, entity_id: str, f: ApiFailure) -> None:
        if f.outcome in ITEM_FAILURES:
            self._fail(op_id, entity, entity_id, f.describe())
            return
        # A 5xx, a 409 or a lost answer may hide an applied write: stay in_flight, so
        # the next attempt looks before it writes; its settle runs from now.
        if f.outcome in UNKNOWN_OUTCOMES:
            with transaction(self._sessions) as session:
                _set(session, [op_id], sent_at=self._clock())
        else:
            # YouTube refused before applying it: the row can go back to plain pending.
            self._set_status(op_id, "pending")
        self._raise_for(self._kind_of(op_id), f)

    def _raise_for(self, kind: str, f: ApiFailure, delay: timedelta | None = None) -> NoReturn:
        stop = stop_for(f, self._budget)
        if stop is not None:
            raise stop
        if f.outcome is Outcome.RATE_LIMITED:
            if self._attempt >= KINDS[kind].rate_limit_attempts:
                raise StopBatch(
                    PauseReason.RATE,
                    self._budget.next_reset(),
                    f"YouTube keeps rate-limiting {kind}; waiting for the next day",
                )
            # Google's advice for its APIs: back off exponentially from a second or two.
            raise RetryLater(f.describe(), timedelta(seconds=min(300, 2**self._attempt)))
        raise RetryLater(f.describe(), delay)

    def _kind_of(self, op_id: int) -> str:
        with self._sessions() as session:
            return session.get_one(SyncOperation, op_id).kind

    def _set_status(self, op_id: int, status: str) -> None:
        with transaction(self._sessions) as session:
            session.get_one(SyncOperation, op_id).status = status

    def _complete(self, op_id: int, youtube_id: str | None) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.youtube_id = "completed", youtube_id
        self._heartbeat()

    def _fail(self, op_id: int, entity: str, entity_id: str, message: str) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.error = "failed", message
            record_error(session, self._job_id, STAGE_OF_KIND[op.kind], entity, entity_id, message)
        self._heartbeat()
