"""The sync's activities: every side effect of a job, each safe to run again.

Blocking code (SQLAlchemy, the API client), so these are plain functions run on the
worker's thread pool.  Stages are the workflow's to decide; an activity only reports
what it did and why it stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ytsync.backup import take_snapshot
from ytsync.channels import Channel, Channels, UnknownChannel
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import BackupSnapshot, Category, Playlist, SyncJob, SyncOperation
from ytsync.errors import UserError
from ytsync.sync import operations as ops
from ytsync.sync.audit import Auditor, due_checks
from ytsync.sync.budget import Budget
from ytsync.sync.lease import Lease, LeaseBusy, LeaseLost
from ytsync.sync.reads import Gone, PagedReader
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

Clock = Callable[[], datetime]

# How stale the job's progress row (what `status` shows) may get while lanes run.
PROGRESS_EVERY_SECONDS = 1.0
# Heartbeats while a read waits to be sent again (the shortest heartbeat timeout in use
# is a few seconds, in tests that kill workers).
HEARTBEAT_EVERY_SECONDS = 1.0
# The channel of the activity running on this thread (see SyncActivities._on).
_current: ContextVar[Channel | None] = ContextVar("ytsync_channel", default=None)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class SyncActivities:
    """Every activity of a job, for every channel the worker serves.

    Either one channel (``settings`` and ``sessions``) or ``channels``.  Each activity
    runs inside ``_on(channel, job)``; ``_settings``, ``_sessions`` and the client below
    are that channel's.

    Batches take a cancellation at their own pace (``no_thread_cancel_exception``): the
    Writer stops between two writes, while an exception raised into the thread could
    land between a send and its record.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        sessions: sessionmaker[Session] | None = None,
        *,
        clock: Clock = wall_clock,
        channels: Channels | None = None,
    ) -> None:
        if channels is None:
            if settings is None or sessions is None:
                raise TypeError("SyncActivities needs settings and sessions, or channels")
            channels = Channels.single(settings, sessions)
        self._channels = channels
        self._clock = clock

    # channels ----------------------------------------------------------------------

    @contextmanager
    def _on(self, name: str | None, job_id: int) -> Iterator[Channel]:
        """Run the body on channel ``name`` (None: the worker's own, for jobs started
        before channels existed), after checking the job row belongs to this workflow."""
        try:
            channel = self._channels.get(name)
        except UnknownChannel as exc:
            raise ApplicationError(str(exc), type="UnknownChannel", non_retryable=True) from None
        token = _current.set(channel)
        try:
            self._check_owner(channel, job_id)
            yield channel
        finally:
            _current.reset(token)

    def _check_owner(self, channel: Channel, job_id: int) -> None:
        """Job ids repeat across channels' databases: a job row whose workflow is not the
        calling one means the job names the wrong channel; never touch it."""
        if not activity.in_activity():
            return
        workflow_id = activity.info().workflow_id
        if workflow_id is None or (job_id, workflow_id) in channel.owners:
            return
        with channel.sessions() as session:
            owner = session.scalar(select(SyncJob.workflow_id).where(SyncJob.id == job_id))
        if owner != workflow_id:
            raise ApplicationError(
                f"job {job_id} of channel {channel.name!r} belongs to workflow {owner}, "
                f"not {workflow_id}: the job names the wrong channel",
                type="WrongChannel",
                non_retryable=True,
            )
        channel.owners.add((job_id, workflow_id))

    def _channel(self) -> Channel:
        channel = _current.get()
        if channel is not None:
            return channel
        if len(self._channels.names) == 1:
            return self._channels.get(None)
        # Several channels and none chosen: guessing could write to the wrong one.
        raise RuntimeError("no channel chosen for this activity (see SyncActivities._on)")

    @property
    def _settings(self) -> Settings:
        return self._channel().settings

    @property
    def _sessions(self) -> sessionmaker[Session]:
        return self._channel().sessions

    @property
    def _lock(self) -> threading.Lock:
        return self._channel().lock

    @property
    def _youtube(self) -> YouTube | None:
        return self._channel().youtube

    @_youtube.setter
    def _youtube(self, client: YouTube | None) -> None:
        self._channel().youtube = client

    # helpers -----------------------------------------------------------------------

    def _client(self) -> YouTube:
        with self._lock:
            if self._youtube is None:
                try:
                    self._youtube = YouTube(self._settings, sleep=heartbeating_sleep)
                except UserError as exc:
                    raise StopBatch(PauseReason.AUTH, None, str(exc)) from None
            return self._youtube

    def _budget(self, job_id: int) -> Budget:
        return Budget(self._settings, self._sessions, self._clock, job_id)

    def _writer(self, job_id: int, budget: Budget, lease: Lease) -> Writer:
        return Writer(
            sessions=self._sessions,
            youtube=self._client(),
            budget=budget,
            lease=lease,
            job_id=job_id,
            attempt=activity.info().attempt,
            heartbeat=activity.heartbeat,
            stop_requested=activity.is_cancelled,
            clock=self._clock,
        )

    def _batch(
        self, batch: BatchInput, kind: str, write: Callable[[Writer, list[int]], None]
    ) -> BatchResult:
        return self._leased(
            batch, kind, lambda lease: self._batch_on_lane(batch, kind, write, lease)
        )

    def _check(
        self, batch: BatchInput, kind: str, check: Callable[[Auditor], object]
    ) -> BatchResult:
        """A settled check of a lane (see ytsync.sync.audit), under the lane's lease."""

        def run(lease: Lease) -> BatchResult:
            budget = self._budget(batch.job_id)
            try:
                check(
                    Auditor(
                        sessions=self._sessions,
                        youtube=self._client(),
                        budget=budget,
                        lease=lease,
                        job_id=batch.job_id,
                        clock=self._clock,
                        heartbeat=activity.heartbeat,
                    )
                )
                return BatchResult(0, 0)
            except StopBatch as stop:
                return self._stopped(batch, kind, stop, 0)
            except RetryLater as retry:
                raise _retry(retry) from None
            finally:
                budget.release()
                self._refresh(batch.job_id)

        return self._leased(batch, kind, run)

    def _leased(
        self, batch: BatchInput, kind: str, body: Callable[[Lease], BatchResult]
    ) -> BatchResult:
        if self._pause_requested(batch.job_id):
            # Before the lease: a retried attempt of a paused job answers at once, even
            # while a killed attempt's lease still holds the lane.
            return BatchResult(0, self._open(batch, kind), PauseReason.USER, message=PAUSED)
        lease = Lease(
            self._sessions,
            self._clock,
            self._settings.lane_lease_seconds,
            batch.job_id,
            kind,
            _lane(batch),
        )
        try:
            lease.claim()
        except LeaseBusy as busy:
            raise ApplicationError(str(busy), type="LaneBusy", next_retry_delay=busy.wait) from None
        try:
            return body(lease)
        except LeaseLost as lost:
            # A newer attempt owns the lane: this one is stale, whatever it returns.
            raise ApplicationError(str(lost), type="LaneLost") from None
        finally:
            lease.release()

    def _batch_on_lane(
        self,
        batch: BatchInput,
        kind: str,
        write: Callable[[Writer, list[int]], None],
        lease: Lease,
    ) -> BatchResult:
        writer: Writer | None = None
        budget = self._budget(batch.job_id)
        # A batch that leaves its lane going on may skip the progress refresh (a scan of
        # the job's rows); one that ends a lane, stops or fails always refreshes.
        going_on = False
        try:
            writer = self._writer(batch.job_id, budget, lease)
            with self._sessions() as session:
                todo = ops.next_open(
                    session,
                    batch.job_id,
                    kind,
                    batch.max_writes,
                    _lane(batch),
                    _sendable(batch, kind),
                )
            budget.expect_writes(len(todo))
            write(writer, todo)
            result = BatchResult(writer.done, self._open(batch, kind))
            going_on = result.remaining > 0
            return result
        except StopBatch as stop:
            return self._stopped(batch, kind, stop, writer.done if writer else 0)
        except RetryLater as retry:
            raise _retry(retry) from None
        finally:
            budget.release()
            if not going_on or self._progress_is_stale(batch.job_id):
                self._refresh(batch.job_id)

    def _stopped(self, batch: BatchInput, kind: str, stop: StopBatch, done: int) -> BatchResult:
        if stop.stop == PauseReason.USER:
            _end_if_not_paused()
        if stop.stop == PauseReason.AUTH:
            # Read the token file afresh next time: the user may have signed in again.
            with self._lock:
                self._youtube = None
        return BatchResult(done, self._open(batch, kind), stop.stop, stop.resume_at, stop.message)

    def _pause_requested(self, job_id: int) -> bool:
        with self._sessions() as session:
            requested = session.scalar(
                select(SyncJob.pause_requested_at.is_not(None)).where(SyncJob.id == job_id)
            )
            return bool(requested)

    def _progress_is_stale(self, job_id: int) -> bool:
        channel = self._channel()
        with channel.lock:
            last = channel.progress_refreshed.get(job_id)
            return last is None or time.monotonic() - last >= PROGRESS_EVERY_SECONDS

    def _open(self, batch: BatchInput, kind: str) -> int:
        with self._sessions() as session:
            return ops.count_open(session, batch.job_id, kind, _lane(batch), _sendable(batch, kind))

    def _refresh(self, job_id: int) -> JobProgress:
        channel = self._channel()
        with channel.lock:
            channel.progress_refreshed[job_id] = time.monotonic()
        with transaction(self._sessions) as session:
            job = ops.refresh_progress(session, job_id)
            errors = sum(result["failed"] for result in job.stage_results.values())
            return JobProgress(
                Stage(job.stage),
                job.progress_done,
                job.progress_total,
                job.quota_used,
                errors,
                job.strategy,
            )

    # stage bookkeeping -------------------------------------------------------------

    @activity.defn
    def set_stage(self, update: StageUpdate) -> JobProgress:
        with self._on(update.channel, update.job_id):
            with transaction(self._sessions) as session:
                job = session.get_one(SyncJob, update.job_id)
                job.stage = update.stage
                job.paused_at_stage = update.paused_at_stage
                job.pause_reason = update.pause_reason
                job.resume_at = update.resume_at
                # Why a job waits for the user (which sign-in problem, which local error).
                job.pause_message = update.message if update.stage == "paused" else None
                if update.stage == "failed":
                    job.failure_message = update.message
                if update.stage in ("completed", "failed"):
                    job.completed_at = self._clock()
            return self._refresh(update.job_id)

    @activity.defn
    def backup(self, job_id: int, channel: str | None = None) -> int:
        with self._on(channel, job_id), transaction(self._sessions) as session:
            job = session.get_one(SyncJob, job_id)
            if job.backup_id is None:
                job.backup_id = take_snapshot(session).id
            return job.backup_id

    # create_playlists --------------------------------------------------------------

    @activity.defn
    def plan_creations(self, job_id: int, channel: str | None = None) -> int:
        with self._on(channel, job_id):
            with transaction(self._sessions) as session:
                ops.plan_creations(session, job_id)
            with self._sessions() as session:
                return ops.count_open(session, job_id, ops.CREATE) + ops.count_open(
                    session, job_id, ops.UPDATE
                )

    @activity.defn(no_thread_cancel_exception=True)
    def create_playlists(self, batch: BatchInput) -> BatchResult:
        """New category playlists; under reuse, the kept ones' updates come first, in
        the same activity, so a rebuild job's history is what it always was."""
        with self._on(batch.channel, batch.job_id):
            return self._two_kinds(batch, (ops.UPDATE, ops.CREATE))

    def _two_kinds(self, batch: BatchInput, kinds: tuple[str, str]) -> BatchResult:
        """A batch of the first kind while it has open rows, else of the second; what
        remains counts both."""
        first, second = kinds
        writers = {
            ops.UPDATE: Writer.update_playlists,
            ops.CREATE: Writer.create_playlists,
            ops.REMOVE: Writer.remove_items,
            ops.DELETE: Writer.delete_playlists,
            ops.RESTORE_UPDATE: Writer.restore_updates,
            ops.RESTORE: Writer.restore_playlists,
            ops.RESTORE_ITEM: Writer.restore_items,
            ops.RESTORE_REMOVE: Writer.restore_removals,
        }
        if not self._open(batch, first):
            return self._batch(batch, second, writers[second])
        result = self._batch(batch, first, writers[first])
        result.remaining += self._open(batch, second)
        return result

    @activity.defn
    def plan_creation_check(self, job_id: int, channel: str | None = None) -> CheckPlan:
        """Due once the job made or tried to make a playlist, and until a settled check
        of the channel's playlists finds nothing left to repair."""
        return self._check_plan(job_id, channel, ops.CREATE)

    @activity.defn(no_thread_cancel_exception=True)
    def check_creations(self, batch: BatchInput) -> BatchResult:
        with self._on(batch.channel, batch.job_id):
            return self._check(batch, ops.CREATE, Auditor.check_creations)

    def _check_plan(self, job_id: int, channel: str | None, kind: str) -> CheckPlan:
        with self._on(channel, job_id), transaction(self._sessions) as session:
            settle = timedelta(seconds=self._settings.settle_seconds)
            due, settle_until = due_checks(session, job_id, kind, settle)
            return CheckPlan(due, settle_until)

    # add_videos --------------------------------------------------------------------

    @activity.defn
    def plan_additions(self, job_id: int, channel: str | None = None) -> BatchResult:
        """Write the add rows, after reading what playlists made before this job hold."""
        with self._on(channel, job_id):
            present: dict[int, set[str]] = {}
            try:
                for category_id, playlist_id in self._preexisting_playlists(job_id):
                    present[category_id] = self._videos_in(job_id, playlist_id)
            except StopBatch as stop:
                return BatchResult(0, -1, stop.stop, stop.resume_at, stop.message)
            except RetryLater as retry:
                raise _retry(retry) from None
            with transaction(self._sessions) as session:
                ops.plan_additions(session, job_id, present)
            self._refresh(job_id)
            with self._sessions() as session:
                return BatchResult(0, ops.count_open(session, job_id, ops.ADD))

    def _preexisting_playlists(self, job_id: int) -> list[tuple[int, str]]:
        if self._ops_planned(job_id):
            return []
        with self._sessions() as session:
            made_now = set(
                session.scalars(
                    select(SyncOperation.category_id).where(
                        SyncOperation.job_id == job_id,
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

    def _ops_planned(self, job_id: int) -> bool:
        with self._sessions() as session:
            return ops.ops_exist(session, job_id, ops.ADD)

    def _videos_in(self, job_id: int, playlist_id: str) -> set[str]:
        budget = self._budget(job_id)
        try:
            items = PagedReader(self._client(), budget, activity.heartbeat).playlist_items(
                playlist_id
            )
        except Gone:
            return set()
        finally:
            budget.release()
        return {str(item["contentDetails"]["videoId"]) for item in items}

    @activity.defn
    def list_lanes(self, job_id: int, channel: str | None = None) -> list[int]:
        with self._on(channel, job_id), self._sessions() as session:
            return ops.open_lanes(session, job_id)

    @activity.defn
    def list_unsent_lanes(self, job_id: int, channel: str | None = None) -> list[int]:
        with self._on(channel, job_id), self._sessions() as session:
            return ops.open_lanes(session, job_id, ops.ADD, ops.UNSENT)

    @activity.defn(no_thread_cancel_exception=True)
    def add_videos(self, batch: BatchInput) -> BatchResult:
        with self._on(batch.channel, batch.job_id):
            return self._batch(batch, ops.ADD, Writer.add_videos)

    @activity.defn
    def plan_audits(self, job_id: int, channel: str | None = None) -> CheckPlan:
        """Every category playlist the job wrote to ends with an audit."""
        return self._check_plan(job_id, channel, ops.ADD)

    @activity.defn(no_thread_cancel_exception=True)
    def audit_lane(self, batch: BatchInput) -> BatchResult:
        with self._on(batch.channel, batch.job_id):
            category_id = batch.category_id or 0
            return self._check(batch, ops.ADD, lambda auditor: auditor.audit_lane(category_id))

    # delete_playlists --------------------------------------------------------------

    @activity.defn
    def plan_deletions(self, job_id: int, channel: str | None = None) -> int:
        with self._on(channel, job_id):
            with transaction(self._sessions) as session:
                if ops.count_open(session, job_id, ops.ADD):
                    # The workflow never asks for this early; refuse anyway: deleting an
                    # old playlist before its videos are safe would lose them.
                    raise ApplicationError("additions are still open", non_retryable=True)
                ops.plan_deletions(session, job_id)
            self._refresh(job_id)
            with self._sessions() as session:
                return ops.count_open(session, job_id, ops.DELETE)

    @activity.defn
    def verify_deletions(self, job_id: int, channel: str | None = None) -> BatchResult:
        """Write the delete rows, each old playlist verified safe on YouTube first, or
        held back (see ytsync.sync.verify)."""
        with self._on(channel, job_id):
            with self._sessions() as session:
                if ops.count_open(session, job_id, ops.ADD):
                    # Deleting an old playlist before its videos are safe would lose them.
                    raise ApplicationError("additions are still open", non_retryable=True)
            budget = self._budget(job_id)
            try:
                verifier = Verifier(
                    sessions=self._sessions,
                    youtube=self._client(),
                    budget=budget,
                    job_id=job_id,
                    heartbeat=activity.heartbeat,
                )
                to_delete, _held = verifier.plan_deletions()
                if self._strategy(job_id) == "reuse":
                    to_remove, _held_items = verifier.plan_removals()
                    to_delete += to_remove
            except StopBatch as stop:
                return BatchResult(0, -1, stop.stop, stop.resume_at, stop.message)
            except RetryLater as retry:
                raise _retry(retry) from None
            finally:
                budget.release()
            self._refresh(job_id)
            return BatchResult(0, to_delete)

    @activity.defn(no_thread_cancel_exception=True)
    def delete_playlists(self, batch: BatchInput) -> BatchResult:
        with self._on(batch.channel, batch.job_id):
            # Under reuse, the kept playlists' verified removals first.
            return self._two_kinds(batch, (ops.REMOVE, ops.DELETE))

    def _strategy(self, job_id: int) -> str:
        with self._sessions() as session:
            return session.get_one(SyncJob, job_id).strategy

    # restore -----------------------------------------------------------------------

    @activity.defn
    def plan_restore(self, job_id: int, channel: str | None = None) -> int:
        with self._on(channel, job_id):
            with transaction(self._sessions) as session:
                job = session.get_one(SyncJob, job_id)
                snapshot = session.get_one(BackupSnapshot, job.snapshot_id)
                ops.plan_restore(session, job_id, snapshot.data)
            self._refresh(job_id)
            with self._sessions() as session:
                return ops.count_open(session, job_id, ops.RESTORE)

    @activity.defn(no_thread_cancel_exception=True)
    def restore_playlists(self, batch: BatchInput) -> BatchResult:
        with self._on(batch.channel, batch.job_id):
            # After a reuse, the kept playlists' old names first (ytsync.sync.unkeep).
            return self._two_kinds(batch, (ops.RESTORE_UPDATE, ops.RESTORE))

    @activity.defn
    def list_restore_lanes(self, job_id: int, channel: str | None = None) -> list[int]:
        with self._on(channel, job_id), self._sessions() as session:
            lanes = ops.open_lanes(session, job_id, ops.RESTORE_ITEM)
            # A kept playlist's removals, once its appends are done (ytsync.sync.unkeep).
            later = ops.open_lanes(session, job_id, ops.RESTORE_REMOVE)
            return lanes + [lane for lane in later if lane not in lanes]

    @activity.defn(no_thread_cancel_exception=True)
    def restore_items(self, batch: BatchInput) -> BatchResult:
        with self._on(batch.channel, batch.job_id):
            return self._two_kinds(batch, (ops.RESTORE_ITEM, ops.RESTORE_REMOVE))

    @activity.defn
    def finish_restore(self, job_id: int, channel: str | None = None) -> int:
        """The restored playlists are the library's old playlists again, under new ids."""
        with self._on(channel, job_id), transaction(self._sessions) as session:
            made = session.execute(
                select(SyncOperation.playlist_id, SyncOperation.youtube_id).where(
                    SyncOperation.job_id == job_id,
                    SyncOperation.kind == ops.RESTORE,
                    SyncOperation.status == "completed",
                )
            ).all()
            for playlist_id, youtube_id in made:
                playlist = session.get_one(Playlist, playlist_id)
                playlist.youtube_id = str(youtube_id)
                playlist.deleted_from_youtube_at = None
            # Kept playlists given back their old selves are no category's any more: a
            # later sync treats them as old playlists again.
            renamed = select(SyncOperation.youtube_id).where(
                SyncOperation.job_id == job_id,
                SyncOperation.kind == ops.RESTORE_UPDATE,
                SyncOperation.status == "completed",
            )
            session.execute(
                update(Category)
                .where(Category.youtube_playlist_id.in_(renamed))
                .values(youtube_playlist_id=None)
                .execution_options(synchronize_session=False)
            )
            return len(made)

    def all(self) -> list[Callable[..., object]]:
        return [
            self.set_stage,
            self.backup,
            self.plan_creations,
            self.create_playlists,
            self.plan_creation_check,
            self.check_creations,
            self.plan_additions,
            self.list_lanes,
            self.list_unsent_lanes,
            self.add_videos,
            self.plan_audits,
            self.audit_lane,
            self.plan_deletions,
            self.verify_deletions,
            self.delete_playlists,
            self.plan_restore,
            self.restore_playlists,
            self.list_restore_lanes,
            self.restore_items,
            self.finish_restore,
        ]


def _end_if_not_paused() -> None:
    """A batch stopped by its cancellation: the workflow cancels batches only for a
    pause; a cancellation for any other reason (the worker shutting down, the attempt
    timed out) ends this attempt, and Temporal runs the batch again."""
    if not activity.is_cancelled():
        return  # stopped by the job row's pause request
    details = activity.cancellation_details()
    if details is None or not details.cancel_requested:
        raise ApplicationError("the batch's attempt was cancelled", type="AttemptCancelled")


def heartbeating_sleep(seconds: float) -> None:
    """The client's wait between sends of a read: inside an activity it keeps
    heartbeating, so Temporal does not take a batch that waits for a dead one."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if activity.in_activity():
            activity.heartbeat()
        time.sleep(min(left, HEARTBEAT_EVERY_SECONDS))


def _sendable(batch: BatchInput, kind: str) -> tuple[str, ...]:
    """The rows a batch may send.  With settle-then-judge, an in_flight write or
    creation waits for its settled check; a deletion is simply sent again (deleting
    twice is harmless)."""
    return ops.UNSENT if batch.settle and kind in (ops.ADD, ops.CREATE) else ops.OPEN


def _retry(retry: RetryLater) -> ApplicationError:
    return ApplicationError(str(retry), type="YouTubeRetry", next_retry_delay=retry.delay)


def _lane(batch: BatchInput) -> int | None:
    return batch.category_id if batch.category_id is not None else batch.playlist_id
