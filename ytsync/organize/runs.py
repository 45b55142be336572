"""What organize runs left in the database, for ``status``, ``schedule list`` and
``report --organize``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.db.models import OrganizeItem, OrganizeRun, SyncJob, Video
from ytsync.organize.read import UNMATCHED
from ytsync.organize.wire import summary_text, written_text


class RunSummary(BaseModel):
    run_id: int
    workflow_id: str
    schedule_id: str | None
    dry_run: bool
    rules_source: str
    # reading | waiting | planned (a preview's end) | writing | done | failed
    outcome: str
    message: str | None
    counts: dict[str, int]
    read_units: int
    started_at: datetime
    finished_at: datetime | None
    summary: str
    # A run that writes: its job, and what the writes did (moved, copied, taken_out,
    # kept, failed).
    job_id: int | None = None
    results: dict[str, int] = {}


class RunVideo(BaseModel):
    video_id: str
    title: str
    availability: str
    source: str
    action: str
    category: str | None
    rule: int | None
    # What the writes did with it (None: nothing to write, or a preview), and why.
    outcome: str | None = None
    note: str | None = None


class RunReport(BaseModel):
    """``report --organize --json``: the last run, its unmatched videos, and what it
    decided for every new video."""

    run: RunSummary
    unmatched: list[RunVideo]
    videos: list[RunVideo]


def last_run(session: Session, schedule_id: str | None = None) -> RunSummary | None:
    """The latest run (of ``schedule_id``, when given)."""
    query = select(OrganizeRun).order_by(OrganizeRun.id.desc()).limit(1)
    if schedule_id is not None:
        query = query.where(OrganizeRun.schedule_id == schedule_id)
    run = session.scalars(query).first()
    return None if run is None else _summary(run, session)


def has_runs(session: Session) -> bool:
    return session.scalar(select(OrganizeRun.id).limit(1)) is not None


def run_report(session: Session) -> RunReport | None:
    run = session.scalars(select(OrganizeRun).order_by(OrganizeRun.id.desc()).limit(1)).first()
    if run is None:
        return None
    rows = session.execute(
        select(
            Video.youtube_id,
            Video.title,
            Video.availability,
            OrganizeItem.source,
            OrganizeItem.action,
            OrganizeItem.category,
            OrganizeItem.rule,
            OrganizeItem.outcome,
            OrganizeItem.note,
        )
        .join(Video, Video.id == OrganizeItem.video_id)
        .where(OrganizeItem.run_id == run.id)
        .order_by(OrganizeItem.id)
    ).all()
    videos = [
        RunVideo(
            video_id=row[0],
            title=row[1],
            availability=row[2],
            source=row[3],
            action=row[4],
            category=row[5],
            rule=row[6],
            outcome=row[7],
            note=row[8],
        )
        for row in rows
    ]
    return RunReport(
        run=_summary(run, session),
        unmatched=[v for v in videos if v.action == UNMATCHED],
        videos=videos,
    )


def _summary(run: OrganizeRun, session: Session) -> RunSummary:
    counts = {key: int(value) for key, value in (run.counts or {}).items()}
    results = {key: int(value) for key, value in (run.results or {}).items()}
    if run.outcome == "planned":
        text = summary_text(counts, run.dry_run)
    elif run.outcome == "done":
        text = written_text(results, counts)
    elif run.outcome == "writing":
        text = _writing(session.get(SyncJob, run.job_id) if run.job_id else None)
    elif run.outcome == "failed":
        text = f"failed: {run.message}"
    elif run.outcome == "waiting":
        text = f"waiting ({run.message})"
    else:
        text = "reading the sources"
    return RunSummary(
        run_id=run.id,
        workflow_id=run.workflow_id,
        schedule_id=run.schedule_id,
        dry_run=run.dry_run,
        rules_source=run.rules_source,
        outcome=run.outcome,
        message=run.message,
        counts=counts,
        read_units=run.read_units,
        started_at=run.started_at,
        finished_at=run.finished_at,
        summary=text,
        job_id=run.job_id,
        results=results,
    )


def _writing(job: SyncJob | None) -> str:
    """A run writing: its job's stage and progress ('pause' and 'resume' reach it)."""
    if job is None:
        return "writing"
    where = job.stage
    if job.stage == "paused":
        where = f"paused ({job.pause_reason}) at {job.paused_at_stage}"
    elif job.pause_requested_at is not None:
        where += ", pausing"
    return f"writing (job {job.id}): {where}, {job.progress_done:,} / {job.progress_total:,} writes"
