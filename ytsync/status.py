"""The ``status`` view of a job, per the documented JSON contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.models import (
    HeldBack,
    LaneCheck,
    Playlist,
    SyncError,
    SyncJob,
    SyncOperation,
    Video,
)
from ytsync.sync.kinds import REPAIRS
from ytsync.wire import ACTIVE_STAGES, RESTORE_STAGES, SYNC_STAGES, Stage

# The stages that may keep what they cannot verify safe: a sync's deletions, a
# restore's removals.
HOLDING_STAGES = (Stage.DELETE_PLAYLISTS, Stage.RESTORE_ITEMS)

# The contract's times are each moment's own isoformat() (as stored: SQLite's come
# back naive), not pydantic's "Z" form.
Moment = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]


class Progress(BaseModel):
    done: int
    total: int


class KeptVideo(BaseModel):
    video_id: str
    # "" for a video new in the playlist: no category of the plan has it.
    category: str
    reason: str
    # Saved to the old playlist since the import (else: planned, not verified).
    new: bool = False
    title: str = ""


class KeptPlaylist(BaseModel):
    """A playlist the job kept, with the videos that held it back: a sync's old playlist
    (planned videos not verified in their category playlists, and ones saved to it
    since the import); a restore's kept or category playlist (videos not verified back
    where they were, and items the owner added)."""

    playlist_id: str
    title: str
    videos: list[KeptVideo] = Field(default_factory=list)


class Audit(BaseModel):
    checks: int
    clean: int
    rounds: int
    read_units: int
    found_after_settle: int
    sent_again: int
    duplicates_removed: int
    # The settle delay the checks use now: the setting, or longer once a check found
    # YouTube's lists later than it.
    settle_seconds: float


class JobError(BaseModel):
    stage: str
    entity_type: str
    entity_id: str
    message: str
    timestamp: Moment | None


class QuotaToday(BaseModel):
    period_start: Moment
    next_reset: Moment
    usable: int
    remaining: int
    # The other channels signed in through the same OAuth client: the figures above are
    # theirs too (one Cloud project, one quota).
    shared_with: list[str] = Field(default_factory=list)


class LiveWorkflow(BaseModel):
    """What the running workflow holds in memory, from its ``state`` query."""

    pause_requested: bool
    stage: str
    runs: int


class JobStatus(BaseModel):
    """``status --json``: the README's contract, key for key and in this order."""

    job_id: int
    workflow_id: str
    stage: str
    # A sync's strategy (rebuild or reuse); None for a restore, which has none.
    strategy: str | None
    paused_at_stage: str | None
    pause_reason: str | None
    resume_at: Moment | None
    # Set from the moment `pause` returns; `stage` turns "paused" only once the
    # workflow has stopped every running write (see the README).
    pause_requested_at: Moment | None
    progress: Progress
    stage_results: dict[str, dict[str, int]]
    held_back: list[KeptPlaylist]
    audit: Audit
    quota_used: int
    errors: list[JobError]
    failure_message: str | None
    pause_message: str | None
    backup_id: int | None
    created_at: Moment | None
    completed_at: Moment | None
    quota_today: QuotaToday
    # Only while the job runs, and only once asked (None: Temporal did not answer).
    workflow: LiveWorkflow | None = None
    # "sync", or "restore" (of snapshot ``snapshot_id``), whose stages are
    # restore_playlists and restore_items.
    kind: str = "sync"
    snapshot_id: int | None = None

    @model_serializer(mode="wrap")
    def _leave_out_unasked_workflow(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if "workflow" not in self.model_fields_set:
            del data["workflow"]
        return data


# An organize run's job (ytsync.organize.write): it holds the channel while it writes,
# but `status` and `report` stay on the sync or restore, and show the organize
# schedule's runs beside it.
ORGANIZE = "organize"


def latest_job(session: Session) -> SyncJob | None:
    """The latest sync or restore job."""
    return session.scalars(
        select(SyncJob).where(SyncJob.kind != ORGANIZE).order_by(SyncJob.id.desc()).limit(1)
    ).first()


def active_job(session: Session) -> SyncJob | None:
    """The job that holds the channel now, of any kind (one at a time)."""
    return session.scalars(
        select(SyncJob).where(SyncJob.stage.in_(ACTIVE_STAGES)).order_by(SyncJob.id.desc())
    ).first()


def job_status(session: Session, job: SyncJob, settings: Settings, now: datetime) -> JobStatus:
    errors = session.scalars(
        select(SyncError).where(SyncError.job_id == job.id).order_by(SyncError.id)
    )
    restore = job.kind == "restore"
    results = {
        str(stage): {
            key: int(job.stage_results.get(stage, {}).get(key, 0))
            for key in ("succeeded", "failed", "skipped", "open")
            + (("held_back",) if stage in HOLDING_STAGES else ())
        }
        for stage in (RESTORE_STAGES if restore else SYNC_STAGES)
    }
    clock = settings.quota_clock
    period = clock.period_start(now)
    return JobStatus(
        job_id=job.id,
        workflow_id=job.workflow_id,
        stage=job.stage,
        strategy=None if restore else job.strategy,
        paused_at_stage=job.paused_at_stage,
        pause_reason=job.pause_reason,
        resume_at=job.resume_at,
        pause_requested_at=job.pause_requested_at,
        progress=Progress(done=job.progress_done, total=job.progress_total),
        stage_results=results,
        held_back=held_back(session, job.id),
        audit=audit_summary(session, job, settings),
        quota_used=job.quota_used,
        errors=[
            JobError(
                stage=e.stage,
                entity_type=e.entity_type,
                entity_id=e.entity_id,
                message=e.message,
                timestamp=e.timestamp,
            )
            for e in errors
        ],
        failure_message=job.failure_message,
        pause_message=job.pause_message if job.stage == "paused" else None,
        backup_id=job.backup_id,
        created_at=job.created_at,
        completed_at=job.completed_at,
        quota_today=QuotaToday(
            period_start=period,
            next_reset=clock.next_reset(now),
            usable=settings.usable_quota,
            remaining=ledger.remaining_for(settings, session, period),
            shared_with=settings.quota_shared_with,
        ),
        kind=job.kind,
        snapshot_id=job.snapshot_id,
    )


def held_back(session: Session, job_id: int) -> list[KeptPlaylist]:
    """The playlists the job kept, each with the videos that held it back."""
    rows = session.execute(
        select(
            func.coalesce(Playlist.youtube_id, HeldBack.youtube_playlist_id),
            func.coalesce(Playlist.title, HeldBack.title),
            func.coalesce(Video.youtube_id, HeldBack.youtube_video_id),
            HeldBack.category,
            HeldBack.reason,
            HeldBack.new_in_playlist,
            Video.title,
        )
        .outerjoin(Playlist, Playlist.id == HeldBack.playlist_id)
        .outerjoin(Video, Video.id == HeldBack.video_id)
        .where(HeldBack.job_id == job_id)
        .order_by(HeldBack.id)
    )
    kept: dict[str, KeptPlaylist] = {}
    for playlist_id, title, video_id, category, reason, new, video_title in rows:
        entry = kept.setdefault(
            str(playlist_id), KeptPlaylist(playlist_id=str(playlist_id), title=str(title or ""))
        )
        entry.videos.append(
            KeptVideo(
                video_id=str(video_id),
                category=category,
                reason=reason,
                new=new,
                title=video_title or "",
            )
        )
    return list(kept.values())


def audit_summary(session: Session, job: SyncJob, settings: Settings) -> Audit:
    """What the settled checks read and repaired (see ytsync.sync.audit)."""
    checks = list(session.scalars(select(LaneCheck).where(LaneCheck.job_id == job.id)))
    # Since migration 0010 a check's deletions of ytsync's extra copies are rows.
    repaired = session.scalar(
        select(func.count()).where(
            SyncOperation.job_id == job.id,
            SyncOperation.kind.in_(REPAIRS),
            SyncOperation.status == "completed",
        )
    )
    return Audit(
        checks=len(checks),
        clean=sum(check.status == "clean" for check in checks),
        rounds=sum(check.rounds for check in checks),
        read_units=sum(check.reads for check in checks),
        found_after_settle=sum(check.found for check in checks),
        sent_again=sum(check.resent for check in checks),
        duplicates_removed=sum(check.duplicates_removed for check in checks) + int(repaired or 0),
        settle_seconds=max(settings.settle_seconds, job.settle_seconds or 0.0),
    )
