"""A job's work on its channel, step by step, as the activities run it: batches of
writes and settled checks under their lane's lease, the planning steps that read
YouTube, the stage bookkeeping.

No Temporal here: the activity says who runs the step (``Attempt``) and turns what a
step raises into its failures.  A stop (quota, sign-in, the user's pause) is no
failure but an answer, a ``BatchResult``: the workflow decides what comes next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Self

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ytsync.backup import take_snapshot
from ytsync.channels import Channel
from ytsync.db.engine import transaction
from ytsync.db.models import (
    BackupSnapshot,
    Category,
    LaneCheck,
    Playlist,
    SyncJob,
    SyncOperation,
)
from ytsync.errors import UserError
from ytsync.metrics import NO_METRICS, count_request, publish_job
from ytsync.notify import events
from ytsync.sync import operations as ops
from ytsync.sync.audit import Auditor, due_checks
from ytsync.sync.budget import Budget
from ytsync.sync.clock import Clock
from ytsync.sync.lease import Lease
from ytsync.sync.reads import Gone, PagedReader
from ytsync.sync.undo import RestoreOptions
from ytsync.sync.undo_verify import VERIFIED, RestoreVerifier
from ytsync.sync.verify import Verifier
from ytsync.sync.writer import PAUSED, RetryLater, StopBatch, Writer
from ytsync.wire import (
    BatchInput,
    BatchResult,
    CheckPlan,
    JobProgress,
    PauseReason,
    Stage,
    StageUpdate,
)
from ytsync.youtube.client import YouTube
from ytsync.youtube.tokens import refresh_token_expiry

Write = Callable[[Writer, list[int]], None]

# How stale the job's progress row (what `status` shows) may get while lanes run.
PROGRESS_EVERY_SECONDS = 1.0

WRITERS: dict[str, Write] = {
    ops.UPDATE: Writer.update_playlists,
    ops.CREATE: Writer.create_playlists,
    ops.REMOVE: Writer.remove_items,
    ops.DELETE: Writer.delete_playlists,
    ops.RESTORE_UPDATE: Writer.restore_updates,
    ops.RESTORE: Writer.restore_playlists,
    ops.RESTORE_ITEM: Writer.restore_items,
    ops.RESTORE_REMOVE: Writer.restore_removals,
    ops.ADD: Writer.add_videos,
    ops.DEDUPE: Writer.remove_copies,
    ops.DROP: Writer.drop_playlists,
    ops.RESTORE_DEDUPE: Writer.remove_restored_copies,
    ops.RESTORE_DROP: Writer.drop_playlists,
    ops.UNDO_DELETE: Writer.delete_made_playlists,
    ops.INBOX_REMOVE: Writer.remove_from_inbox,
}
# The kinds a settled check judges, by what a job does: a sync's, a restore's, an
# organize run's (its additions are a sync's; it creates no playlist).
CREATIONS = {"sync": ops.CREATE, "restore": ops.RESTORE, "organize": ops.CREATE}
APPENDS = {"sync": ops.ADD, "restore": ops.RESTORE_ITEM, "organize": ops.ADD}


class WrongChannel(Exception):
    """The job row belongs to another workflow: the job names the wrong channel (job
    ids repeat across channels' databases)."""


class OutOfOrder(Exception):
    """A step asked for before the one it must follow.  The workflow never asks so;
    refused anyway, as going on could lose videos."""


@dataclass(frozen=True)
class Attempt:
    """Who runs a step: the calling workflow (None: no workflow to check the job row
    against), the attempt's number, and its hooks into the runner."""

    workflow_id: str | None
    number: int
    # Tells the runner the step is alive; its answer may carry a cancellation.
    heartbeat: Callable[[], None]
    # True once the runner asks the step to stop (a pause): the Writer stops between
    # two writes.
    stop_requested: Callable[[], bool]
    # The client's wait between sends of a read; it must keep the step alive.
    sleep: Callable[[float], None]
    # A batch stopped for a pause: raises when what stopped it was not the user's pause
    # (the runner cancelled the attempt for another reason), so it runs again.
    paused: Callable[[], None]


class ChannelJob:
    """One job's steps on its channel, for one attempt.  Build it with ``on``."""

    def __init__(self, channel: Channel, job_id: int, clock: Clock, attempt: Attempt) -> None:
        self._channel = channel
        self._sessions = channel.sessions
        self._settings = channel.settings
        self._job_id = job_id
        self._clock = clock
        self._attempt = attempt
        self._kind: str | None = None
        self._ordered: bool | None = None

    @classmethod
    def on(cls, channel: Channel, job_id: int, clock: Clock, attempt: Attempt) -> Self:
        """The job on ``channel``, once its row is known to be the calling workflow's:
        WrongChannel when it is another's (never touch it)."""
        job = cls(channel, job_id, clock, attempt)
        job._check_owner()
        return job

    def _check_owner(self) -> None:
        channel, workflow_id = self._channel, self._attempt.workflow_id
        if workflow_id is None or (self._job_id, workflow_id) in channel.owners:
            return
        with self._sessions() as session:
            owner = session.scalar(select(SyncJob.workflow_id).where(SyncJob.id == self._job_id))
        if owner != workflow_id:
            raise WrongChannel(
                f"job {self._job_id} of channel {channel.name!r} belongs to workflow {owner}, "
                f"not {workflow_id}: the job names the wrong channel"
            )
        channel.owners.add((self._job_id, workflow_id))

    # stage bookkeeping -------------------------------------------------------------

    def set_stage(self, change: StageUpdate) -> JobProgress:
        notified = False
        with transaction(self._sessions) as session:
            job = session.get_one(SyncJob, self._job_id)
            waited_before = events.waits_for_sign_in(job)
            job.stage = change.stage
            job.paused_at_stage = change.paused_at_stage
            job.pause_reason = change.pause_reason
            job.resume_at = change.resume_at
            # Why a job waits for the user (which sign-in problem, which local error).
            job.pause_message = change.message if change.stage == "paused" else None
            if change.stage == "failed":
                job.failure_message = change.message
            if change.stage in ("completed", "failed"):
                job.completed_at = self._clock()
            if self._notifying:
                # In this transaction: the event and its message are one commit.
                ops.refresh_progress(session, self._job_id)
                notified = events.after_stage(
                    session, job, self._channel.name, waited_before=waited_before
                )
                now = self._clock()
                notified |= events.token_expiry(
                    session, job, self._channel.name, self._token_expiry(), now
                )
                if self._settings.notify_digest:
                    quota = self._settings.quota_clock
                    notified |= events.digest(
                        session,
                        job,
                        self._channel.name,
                        quota.period_start(now),
                        quota.next_reset(now),
                    )
        if notified:
            self._channel.hooks.notified()
        return self._refresh()

    def backup(self) -> int:
        with transaction(self._sessions) as session:
            job = session.get_one(SyncJob, self._job_id)
            if job.backup_id is None:
                job.backup_id = take_snapshot(session).id
            return job.backup_id

    # create_playlists --------------------------------------------------------------

    def plan_creations(self) -> int:
        with transaction(self._sessions) as session:
            ops.plan_creations(session, self._job_id)
        with self._sessions() as session:
            return ops.count_open(session, self._job_id, ops.CREATE) + ops.count_open(
                session, self._job_id, ops.UPDATE
            )

    def create_playlists(self, batch: BatchInput) -> BatchResult:
        """New category playlists; under reuse, the kept ones' updates come first, in
        the same activity, so a rebuild job's history is what it always was; last, a
        settled check's deletions of second playlists made for one category."""
        result = self._kinds(batch, ops.UPDATE, ops.CREATE, ops.DROP)
        self._catch_up_notifications()  # a category YouTube refused
        return result

    def plan_creation_check(self) -> CheckPlan:
        """Due once the job made or tried to make a playlist (a category's, or a
        restore's), and until a settled check of the channel's playlists finds nothing
        left to repair."""
        return self._check_plan(CREATIONS[self._job_kind()])

    def _check_plan(self, kind: str) -> CheckPlan:
        with transaction(self._sessions) as session:
            due, settle_until = due_checks(session, self._job_id, kind, self._settle())
            return CheckPlan(due, settle_until)

    def _settle(self) -> timedelta:
        return timedelta(seconds=self._settings.settle_seconds)

    def check_creations(self, batch: BatchInput) -> BatchResult:
        kind = CREATIONS[self._job_kind()]
        return self._check(batch, kind, lambda auditor: auditor.check_creations(kind))

    # add_videos --------------------------------------------------------------------

    def plan_additions(self) -> BatchResult:
        """Write the add rows, after reading what playlists made before this job hold."""
        present: dict[int, set[str]] = {}
        try:
            for category_id, playlist_id in self._preexisting_playlists():
                present[category_id] = self._videos_in(playlist_id)
        except StopBatch as stop:
            return self._stopped(stop, 0, -1)
        with transaction(self._sessions) as session:
            ops.plan_additions(session, self._job_id, present)
        self._refresh()
        with self._sessions() as session:
            return BatchResult(0, ops.count_open(session, self._job_id, ops.ADD))

    def _preexisting_playlists(self) -> list[tuple[int, str]]:
        with self._sessions() as session:
            if ops.ops_exist(session, self._job_id, ops.ADD):
                return []
            made_now = set(
                session.scalars(
                    select(SyncOperation.category_id).where(
                        SyncOperation.job_id == self._job_id,
                        SyncOperation.kind == ops.CREATE,
                        SyncOperation.status == "completed",
                    )
                )
            )
            rows = session.execute(
                select(Category.id, Category.youtube_playlist_id).where(
                    Category.is_protected.is_(False), Category.youtube_playlist_id.is_not(None)
                )
            )
            return [(cid, str(pid)) for cid, pid in rows if cid not in made_now]

    def _videos_in(self, playlist_id: str) -> set[str]:
        budget = self._budget()
        try:
            reader = PagedReader(self._client(), budget, self._attempt.heartbeat)
            items = reader.playlist_items(playlist_id)
        except Gone:
            return set()
        finally:
            budget.release()
        return {str(item["contentDetails"]["videoId"]) for item in items}

    def list_lanes(self) -> list[int]:
        with self._sessions() as session:
            return ops.open_lanes(session, self._job_id)

    def list_unsent_lanes(self) -> list[int]:
        """Lanes with additions (a restore's appends) never sent, or a settled check's
        deletions of copies."""
        kind = APPENDS[self._job_kind()]
        repair = ops.KINDS[kind].repair
        assert repair is not None
        with self._sessions() as session:
            if self._keeps_order():
                lanes = ops.lanes_ready(session, self._job_id, kind)
            else:
                lanes = ops.open_lanes(session, self._job_id, kind, ops.UNSENT)
            repairs = ops.open_lanes(session, self._job_id, repair)
            return lanes + [lane for lane in repairs if lane not in lanes]

    def add_videos(self, batch: BatchInput) -> BatchResult:
        if not batch.settle:
            return self._batch(batch, ops.ADD)
        return self._kinds(batch, ops.ADD, ops.DEDUPE)

    def plan_audits(self) -> CheckPlan:
        """Every playlist the job appended to (a category's, or one a restore puts back)
        ends with an audit."""
        return self._check_plan(APPENDS[self._job_kind()])

    def audit_lane(self, batch: BatchInput) -> BatchResult:
        kind, lane = APPENDS[self._job_kind()], _lane(batch) or 0
        return self._check(batch, kind, lambda auditor: auditor.audit_lane(lane, kind))

    # delete_playlists --------------------------------------------------------------

    def plan_deletions(self) -> int:
        with transaction(self._sessions) as session:
            self._refuse_while_adding(session)
            ops.plan_deletions(session, self._job_id)
        self._refresh()
        with self._sessions() as session:
            return ops.count_open(session, self._job_id, ops.DELETE)

    def verify_deletions(self) -> BatchResult:
        """Write the delete rows, each old playlist verified safe on YouTube first, or
        held back (see ytsync.sync.verify); a restore's removals and deletions, each
        video verified back first (see ytsync.sync.undo_verify)."""
        if self._job_kind() == "restore":
            return self._verify_restore()
        with self._sessions() as session:
            self._refuse_while_adding(session)
            reuse = session.get_one(SyncJob, self._job_id).strategy == "reuse"
        budget = self._budget()
        try:
            verifier = Verifier(
                sessions=self._sessions,
                youtube=self._client(),
                budget=budget,
                job_id=self._job_id,
                heartbeat=self._attempt.heartbeat,
                clock=self._clock,
            )
            to_delete, _held = verifier.plan_deletions()
            if reuse:
                to_remove, _held_items = verifier.plan_removals()
                to_delete += to_remove
        except StopBatch as stop:
            return self._stopped(stop, 0, -1)
        finally:
            budget.release()
        self._refresh()
        self._catch_up_notifications()  # the playlists held back
        return BatchResult(0, to_delete)

    def _refuse_while_adding(self, session: Session) -> None:
        if ops.count_open(session, self._job_id, ops.ADD):
            # Deleting an old playlist before its videos are safe would lose them.
            raise OutOfOrder("additions are still open")

    def delete_playlists(self, batch: BatchInput) -> BatchResult:
        # Under reuse, the kept playlists' verified removals first.
        return self._kinds(batch, ops.REMOVE, ops.DELETE)

    # restore -----------------------------------------------------------------------

    def plan_restore(self) -> int:
        with transaction(self._sessions) as session:
            job = session.get_one(SyncJob, self._job_id)
            snapshot = session.get_one(BackupSnapshot, job.snapshot_id)
            options = RestoreOptions.of_job(job.preview)
            ops.plan_restore(session, self._job_id, snapshot.data, options)
        self._refresh()
        with self._sessions() as session:
            return ops.count_open(session, self._job_id, ops.RESTORE)

    def restore_playlists(self, batch: BatchInput) -> BatchResult:
        # After a reuse, the kept playlists' old names first (ytsync.sync.unkeep); a
        # recreated playlist's description once it is made; a check's repairs last.
        return self._kinds(batch, ops.RESTORE_UPDATE, ops.RESTORE, ops.RESTORE_DROP)

    def list_restore_lanes(self) -> list[int]:
        with self._sessions() as session:
            lanes = ops.open_lanes(session, self._job_id, ops.RESTORE_ITEM)
            # A kept playlist's removals, once its appends are done (ytsync.sync.unkeep).
            later = ops.open_lanes(session, self._job_id, ops.RESTORE_REMOVE)
            return lanes + [lane for lane in later if lane not in lanes]

    def restore_items(self, batch: BatchInput) -> BatchResult:
        if not batch.settle:
            return self._kinds(batch, ops.RESTORE_ITEM, ops.RESTORE_REMOVE)
        return self._kinds(batch, ops.RESTORE_ITEM, ops.RESTORE_DEDUPE)

    def _verify_restore(self) -> BatchResult:
        with self._sessions() as session:
            self._refuse_while_putting_back(session)
        budget = self._budget()
        try:
            verifier = RestoreVerifier(
                sessions=self._sessions,
                youtube=self._client(),
                budget=budget,
                job_id=self._job_id,
                clock=self._clock,
                heartbeat=self._attempt.heartbeat,
            )
            to_do, _held = verifier.plan()
        except StopBatch as stop:
            return self._stopped(stop, 0, -1)
        finally:
            budget.release()
        self._refresh()
        return BatchResult(0, to_do)

    def _refuse_while_putting_back(self, session: Session) -> None:
        for kind in (ops.RESTORE, ops.RESTORE_ITEM):
            if ops.count_open(session, self._job_id, kind):
                # Removing before the video is back in its old place could lose it.
                raise OutOfOrder(f"{kind} rows are still open")

    def restore_removals(self, batch: BatchInput) -> BatchResult:
        """A kept playlist's items in the way, each verified safe to remove first."""
        self._refuse_unverified()
        return self._batch(batch, ops.RESTORE_REMOVE)

    def delete_made_playlists(self, batch: BatchInput) -> BatchResult:
        """A full undo: the category playlists the sync made, each verified first."""
        self._refuse_unverified()
        return self._batch(batch, ops.UNDO_DELETE)

    def _refuse_unverified(self) -> None:
        with self._sessions() as session:
            self._refuse_while_putting_back(session)
            verified = session.scalar(
                select(LaneCheck.id).where(
                    LaneCheck.job_id == self._job_id, LaneCheck.kind == VERIFIED
                )
            )
        if verified is None:
            raise OutOfOrder("the restore's removals are not verified yet")

    def finish_restore(self) -> int:
        """The restored playlists are the library's old playlists again, under new ids;
        the kept ones are no category's any more; the category playlists a full undo
        deleted are no category's either."""
        with transaction(self._sessions) as session:
            made = session.execute(
                select(SyncOperation.playlist_id, SyncOperation.youtube_id).where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind == ops.RESTORE,
                    SyncOperation.status == "completed",
                )
            ).all()
            for playlist_id, youtube_id in made:
                playlist = session.get_one(Playlist, playlist_id)
                if playlist.youtube_id != youtube_id:
                    # What the snapshots taken before call it.
                    playlist.replaced_youtube_id = playlist.youtube_id
                playlist.youtube_id = str(youtube_id)
                playlist.deleted_from_youtube_at = None
            # Kept playlists given back their old selves are no category's any more: a
            # later sync treats them as old playlists again.
            renamed = select(SyncOperation.youtube_id).where(
                SyncOperation.job_id == self._job_id,
                SyncOperation.kind == ops.RESTORE_UPDATE,
                SyncOperation.status == "completed",
            )
            deleted = select(SyncOperation.youtube_id).where(
                SyncOperation.job_id == self._job_id,
                SyncOperation.kind == ops.UNDO_DELETE,
                SyncOperation.status == "completed",
            )
            session.execute(
                update(Category)
                .where(Category.youtube_playlist_id.in_(renamed.union(deleted)))
                .values(youtube_playlist_id=None)
                .execution_options(synchronize_session=False)
            )
            return len(made)

    def _job_kind(self) -> str:
        """sync | restore: which kinds of write this job's steps check."""
        if self._kind is None:
            with self._sessions() as session:
                self._kind = session.scalar(select(SyncJob.kind).where(SyncJob.id == self._job_id))
        return self._kind or "sync"

    # batches -----------------------------------------------------------------------

    def _kinds(self, batch: BatchInput, *kinds: str) -> BatchResult:
        """A batch of the first kind that has open rows (else of the last); what
        remains counts them all."""
        kind = next((k for k in kinds if self._open(batch, k)), kinds[-1])
        result = self._batch(batch, kind)
        result.remaining += sum(self._open(batch, k) for k in kinds if k != kind)
        return result

    def _batch(self, batch: BatchInput, kind: str) -> BatchResult:
        return self._leased(batch, kind, lambda lease: self._batch_on_lane(batch, kind, lease))

    def _batch_on_lane(self, batch: BatchInput, kind: str, lease: Lease) -> BatchResult:
        writer: Writer | None = None
        budget = self._budget()
        # A batch that leaves its lane going on may skip the progress refresh (a scan of
        # the job's rows); one that ends a lane, stops or fails always refreshes.
        going_on = False
        try:
            writer = Writer(
                sessions=self._sessions,
                youtube=self._client(),
                budget=budget,
                lease=lease,
                job_id=self._job_id,
                attempt=self._attempt.number,
                heartbeat=self._attempt.heartbeat,
                stop_requested=self._attempt.stop_requested,
                clock=self._clock,
                in_order=self._in_order(batch, kind),
            )
            with self._sessions() as session:
                todo = ops.next_open(
                    session,
                    self._job_id,
                    kind,
                    batch.max_writes,
                    _lane(batch),
                    _sendable(batch, kind),
                    self._held_after(session, batch, kind),
                )
            budget.expect_writes(len(todo))
            WRITERS[kind](writer, todo)
            result = BatchResult(writer.done, self._open(batch, kind))
            going_on = result.remaining > 0
            return result
        except StopBatch as stop:
            return self._stopped(stop, writer.done if writer else 0, self._open(batch, kind))
        except RetryLater:
            if writer is None or not writer.done:
                raise  # no progress: Temporal's backoff grows, as it should
            # Retries that follow progress: this attempt got writes through before the
            # fault, so the workflow sends the next batch at once, and Temporal's backoff
            # (which grows with the attempt number) only ever sees attempts that fail
            # before any progress.
            return BatchResult(writer.done, self._open(batch, kind))
        except Exception:
            if writer is not None:
                writer.record_stranded()
            raise
        finally:
            budget.release()
            if not going_on or self._progress_is_stale():
                self._refresh()

    def _check(
        self, batch: BatchInput, kind: str, check: Callable[[Auditor], object]
    ) -> BatchResult:
        """A settled check of a lane (see ytsync.sync.audit), under the lane's lease."""

        def run(lease: Lease) -> BatchResult:
            budget = self._budget()
            try:
                check(
                    Auditor(
                        sessions=self._sessions,
                        youtube=self._client(),
                        budget=budget,
                        lease=lease,
                        job_id=self._job_id,
                        clock=self._clock,
                        settle=self._settle(),
                        send_window=timedelta(seconds=self._settings.youtube_timeout_seconds),
                        heartbeat=self._attempt.heartbeat,
                    )
                )
                return BatchResult(0, 0)
            except StopBatch as stop:
                return self._stopped(stop, 0, self._open(batch, kind))
            finally:
                budget.release()
                self._refresh()

        return self._leased(batch, kind, run)

    def _leased(
        self, batch: BatchInput, kind: str, body: Callable[[Lease], BatchResult]
    ) -> BatchResult:
        """``body`` under the lane's lease: LeaseBusy while an earlier attempt may still
        write to the lane, LeaseLost when a newer one took it over meanwhile."""
        if self._pause_requested():
            # Before the lease: a retried attempt of a paused job answers at once, even
            # while a killed attempt's lease still holds the lane.
            return BatchResult(0, self._open(batch, kind), PauseReason.USER, message=PAUSED)
        lane = _lane(batch)
        # A check's deletions of copies write into the playlist it checked: its lease.
        kind = ops.KINDS[kind].lease
        lease = Lease(
            self._sessions, self._clock, self._settings.lane_lease_seconds, self._job_id, kind, lane
        )
        lease.claim(lambda session, now: self._stranded(session, kind, lane, now))
        try:
            return body(lease)
        finally:
            lease.release()

    def _stranded(self, session: Session, kind: str, lane: int | None, now: datetime) -> None:
        """The lane is taken over from an attempt that died holding it: the writes it
        left in_flight went out by now at the latest, however early their row says (a
        chunk is marked when paid for, its send times recorded with its results)."""
        stamped = ops.stranded(session, self._job_id, kind, lane)
        for op in stamped:
            if op.sent_at is not None and op.sent_at < now:
                # Kept, so a copy that send made can still be told for ytsync's.
                op.lost_sends = [*(op.lost_sends or []), op.sent_at.isoformat()]
                op.sent_at = now

    def _stopped(self, stop: StopBatch, done: int, remaining: int) -> BatchResult:
        """A stop, as the answer the workflow waits out (remaining -1: a planning step
        that did not finish)."""
        if stop.stop == PauseReason.USER:
            self._attempt.paused()
        if stop.stop == PauseReason.AUTH:
            # Read the token file afresh next time: the user may have signed in again.
            with self._channel.lock:
                self._channel.youtube = None
        return BatchResult(done, remaining, stop.stop, stop.resume_at, stop.message)

    # notifications (ytsync.notify) -------------------------------------------------

    @property
    def _notifying(self) -> bool:
        return self._settings.notify is not None

    def _catch_up_notifications(self) -> None:
        if not self._notifying:
            return
        with transaction(self._sessions) as session:
            job = session.get_one(SyncJob, self._job_id)
            notified = events.catch_up(session, job, self._channel.name)
        if notified:
            self._channel.hooks.notified()

    def _token_expiry(self) -> datetime | None:
        """When the channel's sign-in dies, if Google said so (None: not known)."""
        try:
            return refresh_token_expiry(self._settings.token_file)
        except UserError:
            return None  # no token file: the next YouTube call pauses the job for it

    # plumbing ----------------------------------------------------------------------

    def _client(self) -> YouTube:
        """The channel's client, shared by its steps; made on first use."""
        with self._channel.lock:
            if self._channel.youtube is None:
                try:
                    self._channel.youtube = YouTube(
                        self._settings,
                        sleep=self._attempt.sleep,
                        on_units=partial(
                            count_request, self._channel.hooks.metrics, self._channel.name
                        ),
                    )
                except UserError as exc:
                    raise StopBatch(PauseReason.AUTH, None, str(exc)) from None
            return self._channel.youtube

    def _budget(self) -> Budget:
        return Budget(self._settings, self._sessions, self._clock, self._job_id)

    def _pause_requested(self) -> bool:
        with self._sessions() as session:
            requested = session.scalar(
                select(SyncJob.pause_requested_at.is_not(None)).where(SyncJob.id == self._job_id)
            )
            return bool(requested)

    def _open(self, batch: BatchInput, kind: str) -> int:
        with self._sessions() as session:
            return ops.count_open(
                session,
                self._job_id,
                kind,
                _lane(batch),
                _sendable(batch, kind),
                self._held_after(session, batch, kind),
            )

    def _held_after(self, session: Session, batch: BatchInput, kind: str) -> int | None:
        """In a restore that keeps the old order, a playlist's appends after one whose
        outcome is unknown wait for its settled check: sent again, it must not land
        after them."""
        if not self._in_order(batch, kind):
            return None
        return ops.first_unknown(session, self._job_id, kind, _lane(batch))

    def _in_order(self, batch: BatchInput, kind: str) -> bool:
        return batch.settle and kind == ops.RESTORE_ITEM and self._keeps_order()

    def _keeps_order(self) -> bool:
        if self._ordered is None:
            self._ordered = False
            if self._job_kind() == "restore":
                with self._sessions() as session:
                    job = session.get_one(SyncJob, self._job_id)
                    options = RestoreOptions.of_job(job.preview)
                self._ordered = options is None or options.order == "keep"
        return self._ordered

    def _progress_is_stale(self) -> bool:
        with self._channel.lock:
            last = self._channel.progress_refreshed.get(self._job_id)
            return last is None or time.monotonic() - last >= PROGRESS_EVERY_SECONDS

    def _refresh(self) -> JobProgress:
        with self._channel.lock:
            self._channel.progress_refreshed[self._job_id] = time.monotonic()
        with transaction(self._sessions) as session:
            job = ops.refresh_progress(session, self._job_id)
            metrics = self._channel.hooks.metrics
            if metrics is not NO_METRICS:
                publish_job(metrics, self._channel.name, session, job, self._settings)
            errors = sum(result["failed"] for result in job.stage_results.values())
            return JobProgress(
                Stage(job.stage),
                job.progress_done,
                job.progress_total,
                job.quota_used,
                errors,
                job.strategy,
            )


def _sendable(batch: BatchInput, kind: str) -> tuple[str, ...]:
    """The rows a batch may send.  With settle-then-judge, an in_flight write or
    creation waits for its settled check; a deletion is simply sent again (deleting
    twice is harmless)."""
    return ops.UNSENT if batch.settle and ops.KINDS[kind].settled else ops.OPEN


def _lane(batch: BatchInput) -> int | None:
    return batch.category_id if batch.category_id is not None else batch.playlist_id
