"""``report``: every item of the latest job that failed or was skipped, and why.

The reasons live in ``sync_errors``.  An operation row that ended ``failed`` or
``skipped`` without an error row (a skip needs none, and a job written by an older
ytsync may lack some) is listed too, from the row itself, so the report never hides an
item the job did not carry out.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.cli.context import Context
from ytsync.db.models import Category, Playlist, SyncError, SyncJob, SyncOperation, Video
from ytsync.errors import UserError
from ytsync.files import umask_mode, write_output
from ytsync.safetext import csv_cell
from ytsync.status import held_back, latest_job
from ytsync.sync.operations import STAGE_OF_KIND

CSV_FIELDS = ("stage", "entity_type", "entity_id", "message", "timestamp")
PROBLEM_STATUSES = ("failed", "skipped", "held_back")
NO_JOB = "No sync job yet, so nothing to report. Start one with 'python starter.py start'."
# After the job's words on an old playlist it kept (see ytsync.sync.verify).
FINISH_KEPT = "run 'python starter.py start' again to check again and finish"


@dataclass(frozen=True)
class ReportItem:
    stage: str
    entity_type: str
    entity_id: str
    message: str
    timestamp: datetime | None
    # "error": a sync_errors row; "operation": a failed/skipped row with no error row.
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "message": self.message,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "source": self.source,
        }


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report", help="list the failed or skipped items of the latest job, with reasons"
    )
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="write the report as CSV (stage,entity_type,entity_id,message,timestamp)",
    )
    report.add_argument("--force", action="store_true", help="let --csv overwrite FILE")
    report.set_defaults(handler=run_report)


def collect(session: Session, job: SyncJob) -> list[ReportItem]:
    """The job's failed and skipped items, oldest first."""
    errors = list(
        session.scalars(select(SyncError).where(SyncError.job_id == job.id).order_by(SyncError.id))
    )
    kept = {entry["playlist_id"] for entry in held_back(session, job.id)}
    items = [
        ReportItem(
            e.stage,
            e.entity_type,
            e.entity_id,
            _with_way_out(e.message, e.stage == "delete_playlists" and e.entity_id in kept),
            e.timestamp,
            "error",
        )
        for e in errors
    ]
    # Error rows do not point at their operation: match them by stage and entity id,
    # as a multiset, since one video that fails in two categories has two of each.
    unmatched = Counter((e.stage, e.entity_id) for e in errors)
    rows = session.execute(
        select(SyncOperation, Video.youtube_id, Category.name, Playlist.youtube_id)
        .outerjoin(Video, Video.id == SyncOperation.video_id)
        .outerjoin(Category, Category.id == SyncOperation.category_id)
        .outerjoin(Playlist, Playlist.id == SyncOperation.playlist_id)
        .where(SyncOperation.job_id == job.id, SyncOperation.status.in_(PROBLEM_STATUSES))
        .order_by(SyncOperation.id)
    )
    for op, video_id, category_name, playlist_id in rows:
        stage = STAGE_OF_KIND.get(op.kind, op.kind)
        candidates = [c for c in (video_id, category_name, playlist_id, op.op_key) if c]
        hit = next((c for c in candidates if unmatched[(stage, c)] > 0), None)
        if hit is not None:
            unmatched[(stage, hit)] -= 1
            continue
        entity_type, entity_id = _entity(op, video_id, category_name, playlist_id)
        items.append(
            ReportItem(stage, entity_type, entity_id, _message(op), op.updated_at, "operation")
        )
    # Stable sort: equal (or missing) times keep the error-rows-first order.
    return sorted(items, key=lambda item: (item.timestamp is None, item.timestamp or 0))


def _entity(
    op: SyncOperation, video_id: str | None, category_name: str | None, playlist_id: str | None
) -> tuple[str, str]:
    """Name the item the way the sync's own error rows do."""
    if video_id:
        return "video", video_id
    if op.kind == "create_playlist":
        # A category removed by a later plan keeps only its id in the key.
        return "category", category_name or op.op_key
    if playlist_id:
        return "playlist", playlist_id
    return "operation", op.op_key


def _message(op: SyncOperation) -> str:
    if op.status == "skipped":
        return f"skipped: {op.error}" if op.error else "skipped (no reason was recorded)"
    if op.status == "held_back" and op.error:
        return _with_way_out(op.error, True)
    return op.error or "failed (no reason was recorded)"


def _with_way_out(message: str, kept: bool) -> str:
    """A kept playlist's message, with how to finish.  Jobs of older workers named the
    command themselves."""
    if not kept or "starter.py" in message:
        return message
    return f"{message}; {FINISH_KEPT}"


def run_report(args: argparse.Namespace, ctx: Context) -> int:
    if args.csv is not None:
        _check_csv_target(args.csv, force=args.force)
    with ctx.sessions() as session:
        job = latest_job(session)
        if job is None:
            if args.json:
                ctx.print_json(None)  # as 'status --json' says "no job"
                ctx.err.print(NO_JOB)
            else:
                ctx.out.print(NO_JOB)
            return 0
        items = collect(session, job)
        header = {"job_id": job.id, "workflow_id": job.workflow_id, "job_stage": job.stage}
    if args.csv is not None:
        _write_csv(args.csv, items, force=args.force)
        # With --json as well, stdout is the JSON alone: the note goes to stderr.
        where = ctx.err if args.json else ctx.out
        where.print(f"Wrote {len(items)} item(s) of job {header['job_id']} to {args.csv}.")
    if args.json:
        ctx.print_json({**header, "count": len(items), "items": [i.as_dict() for i in items]})
    elif args.csv is None:
        render(header, items, ctx)
    return 0


def render(header: dict[str, Any], items: list[ReportItem], ctx: Context) -> None:
    job_id, stage = header["job_id"], header["job_stage"]
    if not items:
        ctx.out.print(f"Job {job_id} ({stage}): no failed or skipped items.")
        return
    table = Table(title=f"Failed or skipped items of job {job_id} ({stage})")
    # Short fixed values never wrap; ids and reasons fold, so none is cut off.
    table.add_column("stage", no_wrap=True)
    table.add_column("entity", no_wrap=True)
    table.add_column("id", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    table.add_column("time", no_wrap=True)
    for item in items:
        when = item.timestamp.astimezone().strftime("%Y-%m-%d %H:%M") if item.timestamp else ""
        # Text cells: a message or id with [brackets] must not be read as rich markup.
        table.add_row(
            Text(item.stage),
            Text(item.entity_type),
            Text(item.entity_id),
            Text(item.message),
            Text(when),
        )
    ctx.out.print(table)
    ctx.out.print(f"{len(items)} item(s). Save them with 'python starter.py report --csv FILE'.")


def _check_csv_target(path: Path, *, force: bool) -> None:
    """Refuse before reading anything, so a refused run changes nothing."""
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link; give --csv the real path")
    if path.is_dir():
        raise UserError(f"{path} is a folder; give --csv a file name")
    if not path.parent.is_dir():
        raise UserError(f"the folder for {path} does not exist")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")


def _write_csv(path: Path, items: list[ReportItem], *, force: bool) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for item in items:
        row = item.as_dict()
        # csv_cell: a message or id starting with = + - @ must not run as a formula.
        writer.writerow([csv_cell(row[name] or "") for name in CSV_FIELDS])
    # Written beside the target and renamed: an interrupted run never leaves half a
    # file in place of a good old one.
    write_output(path, buffer.getvalue().encode("utf-8"), force=force, mode=umask_mode())
