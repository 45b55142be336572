"""``start``, ``status``, ``pause``, ``resume``: the sync job from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from ytsync.cli.context import Context
from ytsync.errors import UserError
from ytsync.jobctl import JobConflict, send, start_job, workflow_state
from ytsync.preview import compute_preview, render_preview
from ytsync.status import job_status, latest_job
from ytsync.temporal import connect


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    start = commands.add_parser("start", help="start the sync job (after a preview)")
    start.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    start.add_argument("--json", action="store_true", help="print the job as JSON")
    start.set_defaults(handler=run_start)
    status = commands.add_parser("status", help="show the latest job")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(handler=run_status)
    for name, text in (("pause", "pause the running job"), ("resume", "resume a paused job")):
        parser = commands.add_parser(name, help=text)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.set_defaults(handler=run_signal, signal=name)


def run_start(args: argparse.Namespace, ctx: Context) -> int:
    now = datetime.now(UTC)
    if not args.yes:
        with ctx.sessions() as session:
            render_preview(compute_preview(session, ctx.settings, now), ctx.err)
        if not sys.stdin.isatty():
            raise UserError("confirmation needed: run again with --yes to start the sync")
        answer = input("Start the sync? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            ctx.err.print("Not started.")
            return 0

    async def go() -> Any:
        client = await connect(ctx.settings)
        return await start_job(ctx.settings, ctx.sessions, client, now=now)

    try:
        started = asyncio.run(go())
    except JobConflict as exc:
        ctx.err.print(f"error: {exc}", markup=False)
        return 1
    if args.json:
        ctx.print_json({"job_id": started.job_id, "workflow_id": started.workflow_id})
    else:
        ctx.out.print(f"Started job {started.job_id} (workflow {started.workflow_id}).")
        ctx.out.print("Follow it with 'python starter.py status'.")
    return 0


def run_status(args: argparse.Namespace, ctx: Context) -> int:
    now = datetime.now(UTC)
    with ctx.sessions() as session:
        job = latest_job(session)
        data = job_status(session, job, ctx.settings, now) if job else None
    if data is not None and data["stage"] not in ("completed", "failed"):
        data["workflow"] = _live_state(ctx, data["workflow_id"])
    if args.json:
        ctx.print_json(data)
        return 0
    if data is None:
        ctx.out.print("No sync job yet. Start one with 'python starter.py start'.")
        return 0
    render_status(data, ctx)
    return 0


def _live_state(ctx: Context, workflow_id: str) -> dict[str, Any] | None:
    async def query() -> Any:
        try:
            client = await connect(ctx.settings)
        except ConnectionError:
            return None
        return await workflow_state(client, workflow_id)

    state = asyncio.run(query())
    if state is None:
        return None
    return {"pause_requested": state.paused, "stage": state.stage, "runs": state.runs}


def render_status(data: dict[str, Any], ctx: Context) -> None:
    table = Table(title=f"ytsync job {data['job_id']}", show_header=False)
    stage = data["stage"]
    if stage == "paused":
        stage = f"paused ({data['pause_reason']}) at {data['paused_at_stage']}"
    table.add_row("stage", stage)
    if data["resume_at"]:
        local = datetime.fromisoformat(data["resume_at"]).astimezone()
        table.add_row("resumes at", local.strftime("%Y-%m-%d %H:%M %Z"))
    done, total = data["progress"]["done"], data["progress"]["total"]
    table.add_row("progress", f"{done} / {total}")
    for name, result in data["stage_results"].items():
        table.add_row(
            f"  {name}",
            f"{result['succeeded']} done, {result['failed']} failed, "
            f"{result['skipped']} skipped, {result['open']} open",
        )
    table.add_row("quota used by the job", str(data["quota_used"]))
    today = data["quota_today"]
    table.add_row("quota left this period", f"{today['remaining']} of {today['usable']}")
    table.add_row("errors", str(len(data["errors"])))
    if data.get("failure_message"):
        table.add_row("failure", data["failure_message"])
    if data["pause_reason"] == "auth_required":
        table.add_row("action needed", "sign in again: python starter.py auth, then resume")
    ctx.out.print(table)


def run_signal(args: argparse.Namespace, ctx: Context) -> int:
    async def go() -> Any:
        client = await connect(ctx.settings)
        return await send(client, ctx.sessions, args.signal)

    job = asyncio.run(go())
    if args.json:
        ctx.print_json({"job_id": job.id, "workflow_id": job.workflow_id, "sent": args.signal})
    elif args.signal == "pause":
        ctx.out.print(f"Pausing job {job.id}: it stops after the batch in progress.")
    else:
        ctx.out.print(f"Resuming job {job.id}.")
    return 0
