"""``start``, ``status``, ``pause``, ``resume``: the sync job from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from ytsync.cli.context import Context, confirmed, launch
from ytsync.config import Settings
from ytsync.db.models import QuotaLedger
from ytsync.errors import UserError
from ytsync.jobctl import (
    Refused,
    Sent,
    active_job,
    send,
    settle_abandoned,
    start_job,
    workflow_state,
)
from ytsync.logs import mask
from ytsync.preview import compute_preview, render_preview
from ytsync.status import job_status, latest_job
from ytsync.temporal import connect
from ytsync.wire import FINAL_STAGES, PauseReason, Stage, WorkflowState

NO_JOB = "No sync job yet. Start one with 'python starter.py start'."
AUTH_REQUIRED_HELP = (
    "YouTube no longer accepts the sign-in (expired or revoked). Sign in again with "
    "'python starter.py auth --client-secrets FILE', then run 'python starter.py resume'."
)
# After the job's own words (a sign-in problem, or one on this machine), which name no
# command.
AUTH_WAY_OUT = (
    "; fix that (a sign-in: 'python starter.py auth --client-secrets FILE'), "
    "then run 'python starter.py resume'"
)
# Short: a status view must not hang on an unreachable Temporal or an idle worker.  A
# live worker answers a query in milliseconds; with none alive (a crash) the query only
# ever times out, and a pause must still show within a few seconds.
CONNECT_TIMEOUT = 5.0
QUERY_TIMEOUT = 1.5
RECONNECT_AFTER = 30.0
MIN_INTERVAL, MAX_INTERVAL = 0.2, 3600.0
BAR_WIDTH = 30


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    start = commands.add_parser("start", help="start the sync job (after a preview)")
    start.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    start.add_argument("--json", action="store_true", help="print the job as JSON")
    start.add_argument(
        "--strategy",
        choices=("rebuild", "reuse"),
        default=None,
        help="rebuild every category playlist, or keep old playlists where that saves "
        "writes (default: $YTSYNC_STRATEGY, else rebuild; 'preview' compares them)",
    )
    start.set_defaults(handler=run_start)
    status = commands.add_parser("status", help="show the latest job")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument(
        "--watch", action="store_true", help="keep the view up to date until the job ends"
    )
    status.add_argument(
        "--interval",
        type=_interval,
        default=2.0,
        metavar="SECONDS",
        help="seconds between refreshes with --watch (default 2)",
    )
    status.set_defaults(handler=run_status)
    for name, text in (("pause", "pause the running job"), ("resume", "resume a paused job")):
        parser = commands.add_parser(name, help=text)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.set_defaults(handler=run_signal, signal=name)


def run_start(args: argparse.Namespace, ctx: Context) -> int:
    now = datetime.now(UTC)
    strategy = args.strategy or ctx.settings.strategy
    settings = ctx.settings.model_copy(update={"strategy": strategy})
    if not args.yes:
        with ctx.sessions() as session:
            render_preview(compute_preview(session, ctx.settings, now), ctx.err)
        if not confirmed(f"Start the sync ({strategy})?", "sync"):
            ctx.err.print("Not started.")
            return 0
    return launch(
        ctx,
        lambda client: start_job(settings, ctx.sessions, client, now=now),
        args.json,
        "job",
    )


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"interval must be between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds"
        )
    return seconds


def run_status(args: argparse.Namespace, ctx: Context) -> int:
    if args.watch:
        if args.json:
            raise UserError("--watch redraws a view for people; use --json without it")
        try:
            return asyncio.run(_watch(ctx, args.interval))
        except KeyboardInterrupt:
            return 130  # Ctrl-C is how a watch ends early: no traceback, no message
    temporal = _Temporal(ctx.settings)
    view = asyncio.run(_snapshot(ctx, temporal))
    if args.json:
        ctx.print_json(view.data)  # the documented contract: nothing added here
        return 0
    if view.data is None:
        ctx.out.print(NO_JOB)
        return 0
    ctx.out.print(status_view(view))
    return 0


async def _watch(ctx: Context, interval: float) -> int:
    """Redraw the view every ``interval`` seconds until the job ends."""
    temporal = _Temporal(ctx.settings)
    # auto_refresh off: the view changes when the database does, not 4 times a second.
    # On a non-terminal (a pipe, a test) rich prints only the last view, once.
    with Live(console=ctx.out, auto_refresh=False, redirect_stdout=False) as live:
        while True:
            view = await _snapshot(ctx, temporal)
            if view.data is None:
                live.update(Text(NO_JOB), refresh=True)
                return 0
            live.update(status_view(view, watching=interval), refresh=True)
            if view.data["stage"] in FINAL_STAGES:
                return 0
            await asyncio.sleep(interval)


@dataclass
class StatusView:
    """What the human view shows: the JSON contract's data plus a few extras."""

    data: dict[str, Any] | None
    now: datetime
    # None: not read from the ledger (render_status callers).
    quota_used_today: int | None = None
    quota_exhausted: bool = False
    # None: not asked (the job has ended); False: Temporal could not be reached.
    temporal_reachable: bool | None = None


async def _snapshot(ctx: Context, temporal: _Temporal) -> StatusView:
    # A job whose workflow ended without recording it (terminated from outside, or its
    # channel unknown to the worker) is failed, not "running" for ever.
    await temporal.settle(ctx.sessions)
    now = datetime.now(UTC)
    with ctx.sessions() as session:
        job = latest_job(session)
        if job is None:
            return StatusView(None, now)
        data = job_status(session, job, ctx.settings, now)
        period = ctx.settings.quota_clock.period_start(now)
        ledger_row = session.get(QuotaLedger, period)
    view = StatusView(data, now, quota_used_today=0)
    if ledger_row is not None:
        view.quota_used_today = int(ledger_row.units_used)
        view.quota_exhausted = bool(ledger_row.exhausted)
    if data["stage"] not in FINAL_STAGES:
        # The database is the record; Temporal only adds what the workflow holds in
        # memory (a pause asked for but not yet reached).  Unreachable is not an error.
        data["workflow"] = await temporal.state(data["workflow_id"])
        view.temporal_reachable = temporal.reachable
    return view


class _Temporal:
    """One Temporal connection for a whole watch, with short timeouts: a status view
    must come from the database at once even when Temporal is down or unreachable."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._retry_at = 0.0
        self.reachable: bool | None = None

    async def state(self, workflow_id: str) -> dict[str, Any] | None:
        client = await self._connect()
        if client is None:
            return None
        try:
            state = await asyncio.wait_for(workflow_state(client, workflow_id), QUERY_TIMEOUT)
        except TimeoutError:
            # No worker answered the query in time; the row still tells the story.
            return None
        if state is None:
            return None
        return {"pause_requested": state.paused, "stage": state.stage, "runs": state.runs}

    async def settle(self, sessions: sessionmaker[Session]) -> None:
        with sessions() as session:
            if active_job(session) is None:
                return
        client = await self._connect()
        if client is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settle_abandoned(client, sessions), QUERY_TIMEOUT)

    async def _connect(self) -> Client | None:
        if self._client is not None:
            return self._client
        if time.monotonic() < self._retry_at:
            return None
        try:
            self._client = await asyncio.wait_for(connect(self._settings), CONNECT_TIMEOUT)
        except (ConnectionError, TimeoutError):
            # Try again later, not on every redraw: a watch must not stall on it.
            self._retry_at = time.monotonic() + RECONNECT_AFTER
            self.reachable = False
            return None
        self.reachable = True
        return self._client


def status_view(view: StatusView, *, watching: float | None = None) -> RenderableType:
    """The human view of a job: stage, a bar per stage, quota, resume time, errors."""
    data = view.data
    if data is None:
        return Text(NO_JOB)
    table = Table(title=f"ytsync job {data['job_id']}", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("stage", _stage_text(data, view.now))
    table.add_row("strategy", str(data.get("strategy", "rebuild")))
    done, total = data["progress"]["done"], data["progress"]["total"]
    table.add_row("progress", _bar(done, total))
    current = data["paused_at_stage"] if data["stage"] == "paused" else data["stage"]
    for name, result in data["stage_results"].items():
        table.add_row(Text(f"  {name}"), _stage_cell(name, result, current, data))
    audit = data.get("audit") or {}
    if audit.get("checks"):
        table.add_row("settled checks", _audit_text(audit))
    for kept in data.get("held_back") or []:
        videos = kept["videos"]
        named = ", ".join(f"{v['video_id']} ({v['category']})" for v in videos[:5])
        more = f" and {len(videos) - 5} more" if len(videos) > 5 else ""
        table.add_row(
            "kept",
            Text(
                f"'{kept['title']}' ({kept['playlist_id']}): {len(videos)} video(s) not "
                f"verified in their category playlists: {named}{more}",
                style="yellow",
            ),
        )
    if data.get("held_back") and data["stage"] == "completed":
        table.add_row(
            "next step",
            "run 'python starter.py start' again to check the kept playlists and finish",
        )
    table.add_row("quota used today", _quota_today(view))
    table.add_row("quota used by the job", f"{data['quota_used']:,} units")
    if data["resume_at"]:
        table.add_row("resumes at", _local_time(data["resume_at"], view.now))
    errors = len(data["errors"])
    table.add_row(
        "errors",
        f"{errors} item(s) failed; list them with 'python starter.py report'" if errors else "0",
    )
    if data.get("failure_message"):
        table.add_row("failure", Text(str(data["failure_message"]), style="red"))
    live = data.get("workflow")
    if live is not None:
        asked = ", pause requested" if live.get("pause_requested") else ""
        table.add_row("workflow", f"running (run {live.get('runs', 1)}{asked})")
    elif view.temporal_reachable is False:
        table.add_row(
            "workflow",
            Text("Temporal unreachable: showing the job as last saved in the database", "yellow"),
        )
    if data["pause_reason"] == PauseReason.AUTH:
        # The job's own words when it has them: a missing scope, a local error.  Jobs
        # paused by older workers named the commands themselves.
        said = data.get("pause_message")
        help_text = AUTH_REQUIRED_HELP
        if said:
            help_text = said if "starter.py" in said else said + AUTH_WAY_OUT
        table.add_row("action needed", Text(help_text, style="bold red"))
    if watching is None:
        return table
    if data["stage"] in FINAL_STAGES:
        footer = f"The job is {data['stage']}."
    else:
        footer = f"Refreshing every {watching:g} s; Ctrl-C stops watching (the job goes on)."
    return Group(table, Text(footer, style="dim"))


def _stage_text(data: dict[str, Any], now: datetime) -> Text:
    stage = data["stage"]
    asked = data.get("pause_requested_at")
    if stage == "paused":
        text = f"paused ({data['pause_reason'] or 'unknown reason'}) at {data['paused_at_stage']}"
        if asked and data["pause_reason"] != "user":
            text += "; your pause holds it after that"
        return Text(text)
    if asked and stage not in FINAL_STAGES:
        # The request is recorded, the workflow has not yet seen every batch stop.
        return Text(
            f"pausing… (asked {_ago(asked, now)}; the running writes stop at the next one)",
            style="yellow",
        )
    return Text(stage)


def _ago(iso: str, now: datetime) -> str:
    seconds = max(0, int((now - datetime.fromisoformat(iso)).total_seconds()))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def render_status(data: dict[str, Any], ctx: Context) -> None:
    """Print the human view of ``status --json`` data (the older entry point; it has
    no ledger reading, so the view leaves out today's units used)."""
    ctx.out.print(status_view(StatusView(data, datetime.now(UTC))))


def _bar(done: int, total: int) -> RenderableType:
    if total == 0:
        return Text("nothing planned yet", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        ProgressBar(total=total, completed=min(done, total), width=BAR_WIDTH),
        Text(f"{done:,} / {total:,} ({100 * done // total}%)"),
    )
    return grid


def _stage_cell(
    name: str, result: dict[str, int], current: str, data: dict[str, Any]
) -> RenderableType:
    held = result.get("held_back", 0)
    settled = result["succeeded"] + result["failed"] + result["skipped"] + held
    total = settled + result["open"]
    if total == 0:
        # The backup writes no operation rows: its snapshot id says it is done.
        if name == "backup" and data.get("backup_id"):
            return Text("done")
        if _before(current, name):
            return Text("not started", style="dim")
        return Text("nothing to do", style="dim")
    extra = [f"{result[k]:,} {k}" for k in ("failed", "skipped") if result[k]]
    if held:
        extra.append(f"{held:,} kept")
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        ProgressBar(total=total, completed=settled, width=BAR_WIDTH),
        Text(f"{settled:,} / {total:,}" + (f" ({', '.join(extra)})" if extra else "")),
    )
    return grid


def _audit_text(audit: dict[str, int]) -> str:
    repairs = [
        f"{audit[key]:,} {label}"
        for key, label in (
            ("found_after_settle", "found after settling"),
            ("sent_again", "sent again"),
            ("duplicates_removed", "duplicates removed"),
        )
        if audit.get(key)
    ]
    return f"{audit['clean']} of {audit['checks']} clean, {audit['read_units']:,} read units" + (
        f"; {', '.join(repairs)}" if repairs else ""
    )


def _before(current: str, stage: str) -> bool:
    """Has the job not yet reached ``stage``?  Unknown stages count as reached."""
    if current in FINAL_STAGES:
        return False
    try:
        order = [str(s) for s in Stage]
        return order.index(current) < order.index(stage)
    except ValueError:
        return False


def _quota_today(view: StatusView) -> RenderableType:
    assert view.data is not None
    today = view.data["quota_today"]
    reset = _local_time(today["next_reset"], view.now) if today.get("next_reset") else None
    text = Text()
    if view.quota_used_today is not None:
        text.append(f"{view.quota_used_today:,} units used; ")
    text.append(f"{today['remaining']:,} of {today['usable']:,} usable left")
    if view.quota_exhausted:
        text.append(" (YouTube said the quota is spent)", style="yellow")
    if reset is not None:
        text.append(f"; resets {reset}")
    return text


def _local_time(iso: str, now: datetime) -> str:
    """A moment in the user's local time zone, with how far away it is."""
    moment = datetime.fromisoformat(iso)
    local = moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    seconds = int((moment - now).total_seconds())
    if seconds <= 0:
        return f"{local} (due now)"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{local} (in {hours} h {minutes} min)" if hours else f"{local} (in {minutes} min)"


def _refusal_hint(refused: Refused, ctx: Context) -> str:
    """What to type instead: a job that will not pause but is still active is paused
    already, at the user's request."""
    if refused.kind != "NotPausable":
        return ""
    with ctx.sessions() as session:
        return "; 'python starter.py resume' goes on" if active_job(session) else ""


def run_signal(args: argparse.Namespace, ctx: Context) -> int:
    async def go() -> Sent:
        client = await connect(ctx.settings)
        return await send(client, ctx.sessions, args.signal)

    try:
        sent = asyncio.run(go())
    except Refused as exc:
        ctx.err.print(f"error: {mask(str(exc))}{_refusal_hint(exc, ctx)}", markup=False)
        return 1
    state = sent.state
    if args.json:
        ctx.print_json(
            {
                "job_id": sent.job_id,
                "workflow_id": sent.workflow_id,
                "sent": args.signal,
                # False: no worker answered in time; the job takes it once one runs.
                "accepted": state is not None,
                "state": None if state is None else _state_json(state),
            }
        )
        return 0
    if args.signal == "pause":
        ctx.out.print(
            f"Pausing job {sent.job_id}: its running writes stop within seconds; "
            "'python starter.py status' says 'paused' once they have."
        )
    else:
        ctx.out.print(f"Resuming job {sent.job_id}.")
    if state is None:
        ctx.err.print(
            "No worker answered in time: the request is kept, and the job takes it once a "
            "worker runs it ('python worker.py').",
            markup=False,
        )
    else:
        ctx.out.print(_state_line(state, args.signal), markup=False)
    return 0


def _state_json(state: WorkflowState) -> dict[str, Any]:
    data = dataclasses.asdict(state)
    data["resume_at"] = state.resume_at.isoformat() if state.resume_at else None
    return data


def _state_line(state: WorkflowState, request: str) -> str:
    """What the job answered, in one line.  It answers as it takes the request, before
    its next step: a resumed job still holds the stage it paused at."""
    done, total = state.progress.get("done", 0), state.progress.get("total", 0)
    if state.pause_reason and request == "resume":
        where = f"resuming at {state.paused_at_stage} (was paused: {state.pause_reason})"
    elif state.pause_reason:
        where = f"paused ({state.pause_reason}) at {state.paused_at_stage}"
        if state.paused and state.pause_reason != "user":
            where += "; your pause holds it after that"
    else:
        where = f"stage {state.stage}" + (", pause requested" if state.paused else "")
    progress = f"{done:,} / {total:,} operations done" if total else "nothing planned yet"
    return f"The job says: {where}; {progress}."
