"""``start``, ``status``, ``pause``, ``resume``: the sync job from the command line.

``status`` is what scripts poll: with no job, or a finished one, it reads the database
only, and imports neither the Temporal client nor the views it does not draw."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ytsync.cli.context import Context, confirmed, launch
from ytsync.config import Settings
from ytsync.db.peek import sqlite_file, sqlite_has_jobs
from ytsync.errors import Refused, UserError
from ytsync.logs import mask
from ytsync.safetext import visible
from ytsync.wire import FINAL_STAGES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker
    from temporalio.client import Client

    from ytsync.cli.jobctl import Sent
    from ytsync.cli.schedulectl import ScheduleInfo
    from ytsync.cli.views import StatusView
    from ytsync.preview import Preview
    from ytsync.status import JobStatus, LiveWorkflow
    from ytsync.wire import WorkflowState

# Short: a status view must not hang on an unreachable Temporal or an idle worker.  A
# live worker answers a query in milliseconds; with none alive (a crash) the query only
# ever times out, and a pause must still show within a few seconds.
CONNECT_TIMEOUT = 5.0
QUERY_TIMEOUT = 1.5
RECONNECT_AFTER = 30.0
MIN_INTERVAL, MAX_INTERVAL = 0.2, 3600.0


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
    from ytsync.cli.jobctl import start_previewed_job
    from ytsync.cli.views import render_preview
    from ytsync.jobs import require_plan
    from ytsync.preview import compute_preview

    # Before Temporal: bad input is exit code 2 whether or not Temporal is up.
    require_plan(ctx.sessions)
    now = datetime.now(UTC)
    strategy = args.strategy or ctx.settings.strategy
    settings = ctx.settings.model_copy(update={"strategy": strategy})
    # The job keeps the preview the user said yes to; with --yes it computes its own.
    shown: Preview | None = None
    if not args.yes:
        with ctx.sessions() as session:
            shown = compute_preview(session, settings, now)
        render_preview(shown, ctx.err)
        if not confirmed(f"Start the sync ({strategy})?", "sync"):
            ctx.err.print("Not started.")
            return 0
    return launch(
        ctx,
        lambda client: start_previewed_job(settings, ctx.sessions, client, shown, now),
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
    if args.watch and args.json:
        raise UserError("--watch redraws a view for people; use --json without it")
    if _no_database(ctx):
        if args.json:
            ctx.print_json(None)
        else:
            from ytsync.cli.views import NO_JOB

            ctx.out.print(NO_JOB, markup=False)
        return 0
    if args.watch:
        try:
            return asyncio.run(_watch(ctx, args.interval))
        except KeyboardInterrupt:
            return 130  # Ctrl-C is how a watch ends early: no traceback, no message
    if args.json:
        # What scripts poll most, answered before the ORM and its models load (and,
        # for a SQLite file, before SQLAlchemy does).
        has_jobs = sqlite_has_jobs(ctx.settings.database_url)
        if has_jobs is None:
            from ytsync.db.engine import no_jobs_yet

            has_jobs = not no_jobs_yet(ctx.engine)
        if not has_jobs:
            ctx.print_json(None)
            return 0
    temporal = _Temporal(ctx.settings)
    if args.json:
        status = asyncio.run(_status(ctx, temporal, datetime.now(UTC)))
        # The documented contract: nothing added here.
        ctx.print_json(None if status is None else status.model_dump(mode="json"))
        return 0
    from ytsync.cli.views import status_view

    view, schedule = asyncio.run(_human_status(ctx, temporal))
    ctx.out.print(status_view(view))
    if schedule is not None:
        schedule()
    return 0


def _no_database(ctx: Context) -> bool:
    """No SQLite file where the settings point: no job yet, as the contract says, and
    a word on stderr, so a mistyped path does not pass for an empty library.  Nothing
    is created."""
    path = sqlite_file(ctx.settings.database_url)
    if path is None or path.exists():
        return False
    # Plain stderr: 'status --json' loads no rich.
    sys.stderr.write(
        visible(
            f"note: there is no database at {path} yet; 'python starter.py import' "
            "creates it (or set YTSYNC_DATABASE_URL to the database you meant)\n"
        )
    )
    return True


async def _human_status(
    ctx: Context, temporal: _Temporal
) -> tuple[StatusView, Callable[[], None] | None]:
    """The status view, and how to draw the channel's organize schedule (its next run,
    its last run's outcome).  The schedule is asked of Temporal only once a run has
    left a record, so a plain status never waits for it."""
    from ytsync.cli.schedulectl import schedule_id
    from ytsync.cli.views import render_schedule
    from ytsync.organize.runs import has_runs, last_run

    view = await _snapshot(ctx, temporal)
    with ctx.sessions() as session:
        if not has_runs(session):
            return view, None
        last = last_run(session, schedule_id(ctx.settings))
    info = await temporal.schedule()
    if info is not None:
        return view, lambda: render_schedule(info, last, ctx.out)
    if last is None:
        return view, None
    return view, lambda: ctx.out.print(f"Last organize run: {last.summary}", markup=False)


async def _watch(ctx: Context, interval: float) -> int:
    """Redraw the view every ``interval`` seconds until the job ends."""
    from rich.live import Live

    from ytsync.cli.views import status_view

    temporal = _Temporal(ctx.settings)
    # auto_refresh off: the view changes when the database does, not 4 times a second.
    # On a non-terminal (a pipe, a test) rich prints only the last view, once.
    with Live(console=ctx.out, auto_refresh=False, redirect_stdout=False) as live:
        while True:
            view = await _snapshot(ctx, temporal)
            if view.status is None:
                live.update(status_view(view), refresh=True)
                return 0
            live.update(status_view(view, watching=interval), refresh=True)
            if view.status.stage in FINAL_STAGES:
                return 0
            await asyncio.sleep(interval)


async def _status(ctx: Context, temporal: _Temporal, now: datetime) -> JobStatus | None:
    """The latest job as ``status --json`` shows it; None when there is none."""
    from ytsync.status import job_status, latest_job

    # A job whose workflow ended without recording it (terminated from outside, or its
    # channel unknown to the worker) is failed, not "running" for ever.
    await temporal.settle(ctx.sessions)
    with ctx.sessions() as session:
        job = latest_job(session)
        status = None if job is None else job_status(session, job, ctx.settings, now)
    if status is not None and status.stage not in FINAL_STAGES:
        # The database is the record; Temporal only adds what the workflow holds in
        # memory (a pause asked for but not yet reached).  Unreachable is not an error.
        status.workflow = await temporal.state(status.workflow_id)
    return status


async def _snapshot(ctx: Context, temporal: _Temporal) -> StatusView:
    """The status and what the human view adds: today's ledger, Temporal reached."""
    from ytsync import ledger
    from ytsync.cli.views import StatusView

    now = datetime.now(UTC)
    status = await _status(ctx, temporal, now)
    if status is None:
        return StatusView(None, now)
    with ctx.sessions() as session:
        # The channel's OAuth client's ledger, shared with its other channels.
        used, exhausted = ledger.today(
            ctx.settings, session, ctx.settings.quota_clock.period_start(now)
        )
    view = StatusView(status, now, quota_used_today=used, quota_exhausted=exhausted)
    if status.stage not in FINAL_STAGES:
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

    async def state(self, workflow_id: str) -> LiveWorkflow | None:
        from ytsync.cli.jobctl import workflow_state
        from ytsync.status import LiveWorkflow

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
        return LiveWorkflow(pause_requested=state.paused, stage=state.stage, runs=state.runs)

    async def schedule(self) -> ScheduleInfo | None:
        """The channel's organize schedule; None when it has none or Temporal is away."""
        from ytsync.cli.schedulectl import describe

        client = await self._connect()
        if client is None:
            return None
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(describe(client, self._settings), QUERY_TIMEOUT)
        return None

    async def settle(self, sessions: sessionmaker[Session]) -> None:
        from ytsync.status import active_job

        with sessions() as session:
            if active_job(session) is None:
                return  # nothing to settle: no Temporal at all
        from ytsync.cli.jobctl import settle_abandoned

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
        from ytsync.temporal import connect

        try:
            self._client = await asyncio.wait_for(connect(self._settings), CONNECT_TIMEOUT)
        except (ConnectionError, TimeoutError):
            # Try again later, not on every redraw: a watch must not stall on it.
            self._retry_at = time.monotonic() + RECONNECT_AFTER
            self.reachable = False
            return None
        self.reachable = True
        return self._client


def _refusal_hint(refused: Refused, ctx: Context) -> str:
    """What to type instead: a job that will not pause but is still active is paused
    already, at the user's request."""
    if refused.kind != "NotPausable":
        return ""
    from ytsync.status import active_job

    with ctx.sessions() as session:
        return "; 'python starter.py resume' goes on" if active_job(session) else ""


def run_signal(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli.jobctl import send
    from ytsync.jobs import job_to_ask
    from ytsync.temporal import connect

    async def go() -> Sent:
        client = await connect(ctx.settings)
        return await send(client, ctx.sessions, args.signal)

    try:
        # Before Temporal: no job is exit code 2 whether or not Temporal is up.
        job_to_ask(ctx.sessions, args.signal)
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
