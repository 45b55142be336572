"""``report``: every item of the latest job that failed or was skipped, and why."""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ytsync.cli.context import Context
from ytsync.cli.hints import KEPT_NEW_WAY_OUT
from ytsync.errors import UserError
from ytsync.files import umask_mode, write_output

if TYPE_CHECKING:
    from ytsync.report import ReportItem
from ytsync.safetext import csv_cell, one_line

CSV_FIELDS = ("stage", "entity_type", "entity_id", "message", "timestamp")
NO_JOB = "No sync job yet, so nothing to report. Start one with 'python starter.py start'."
NO_RUN = (
    "No organize run yet. Create a schedule with 'python starter.py schedule create', "
    "or run one now with 'python starter.py schedule trigger'."
)
# After the job's words on an old playlist it kept (see ytsync.sync.verify), or on what
# a restore kept (see ytsync.sync.undo_verify).
FINISH_KEPT = "run 'python starter.py start' again to check again and finish"
FINISH_RESTORE = (
    "once it can be put back, run 'python starter.py restore' again with the same options "
    "to check again and finish"
)


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
    report.add_argument(
        "--organize",
        action="store_true",
        help="the last organize run instead: what it decided, and the videos no rule matched",
    )
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace, ctx: Context) -> int:
    if args.organize:
        return _organize_report(args, ctx)
    # Here, not at the top: the report's queries load the sync's modules.
    from ytsync.report import latest_report

    if args.csv is not None:
        _check_csv_target(args.csv, force=args.force)
    with ctx.sessions() as session:
        report = latest_report(session)
    if report is not None:
        report = replace(report, items=[with_way_out(item) for item in report.items])
    if report is None:
        if args.json:
            ctx.print_json(None)  # as 'status --json' says "no job"
            ctx.err.print(NO_JOB)
        else:
            ctx.out.print(NO_JOB)
        return 0
    if args.csv is not None:
        _write_csv(args.csv, report.items, force=args.force)
        # With --json as well, stdout is the JSON alone: the note goes to stderr.
        where = ctx.err if args.json else ctx.out
        where.print(f"Wrote {len(report.items)} item(s) of job {report.job_id} to {args.csv}.")
    if args.json:
        ctx.print_json(report.as_dict())
    elif args.csv is None:
        from ytsync.cli.views import render_report

        render_report(report, ctx.out)
    return 0


def _organize_report(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.organize.runs import run_report

    if args.csv is not None:
        raise UserError("--csv writes a sync job's report; use --json with --organize")
    with ctx.sessions() as session:
        report = run_report(session)
    if report is None:
        if args.json:
            ctx.print_json(None)
        ctx.err.print(NO_RUN, markup=False)
        return 0
    if args.json:
        ctx.print_json(report.model_dump(mode="json"))
        return 0
    from ytsync.cli.views import render_run_report

    render_run_report(report, ctx.out)
    return 0


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
        # one_line: the file is for people, safe to print (control and invisible
        # characters written out; --json keeps the exact text); csv_cell: a message
        # or id starting with = + - @ must not run as a formula.
        writer.writerow([csv_cell(one_line(row[name] or "")) for name in CSV_FIELDS])
    # Written beside the target and renamed: an interrupted run never leaves half a
    # file in place of a good old one.
    write_output(path, buffer.getvalue().encode("utf-8"), force=force, mode=umask_mode())


def with_way_out(item: ReportItem) -> ReportItem:
    """A kept playlist's message, with how to finish.  Jobs of older workers named the
    command themselves."""
    if not item.kept or "starter.py" in item.message:
        return item
    if item.new_videos:
        way_out = KEPT_NEW_WAY_OUT
    elif item.stage.startswith("restore"):
        way_out = FINISH_RESTORE
    else:
        way_out = FINISH_KEPT
    return replace(item, message=f"{item.message}; {way_out}")
