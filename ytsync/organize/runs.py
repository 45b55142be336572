"""What organize runs left in the database, for ``status``, ``schedule list`` and
``report --organize``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.db.models import OrganizeItem, OrganizeRun, Video
from ytsync.organize.read import UNMATCHED
from ytsync.organize.wire import summary_text


class RunSummary(BaseModel):
    run_id: int
    workflow_id: str
    schedule_id: str | None
    dry_run: bool
    rules_source: str
    # reading | waiting | planned | failed
    outcome: str
    message: str | None
    counts: dict[str, int]
    read_units: int
    started_at: datetime
    finished_at: datetime | None
    summary: str


class RunVideo(BaseModel):
    video_id: str
    title: str
    availability: str
    source: str
    action: str
    category: str | None
    rule: int | None


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
    return None if run is None else _summary(run)


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
        )
        for row in rows
    ]
    return RunReport(
        run=_summary(run),
        unmatched=[v for v in videos if v.action == UNMATCHED],
        videos=videos,
    )


def _summary(run: OrganizeRun) -> RunSummary:
    counts = {key: int(value) for key, value in (run.counts or {}).items()}
    if run.outcome == "planned":
        text = summary_text(counts, run.dry_run)
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
    )
