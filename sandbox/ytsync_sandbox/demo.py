"""``starter.py demo``: the whole product on one machine, in a minute or two.

Everything runs in this process except Temporal: the YouTube emulator (a thread) with a
generated library, the embedded dev server (a child process), and a ytsync worker.  The
demo then does what a user does — import, plan, preview, start — follows the job live,
checks the emulator's playlists against the plan, and last has new videos sorted by
rules on a Temporal Schedule (one run, triggered at once).

Quota periods last seconds instead of a day, with a quota small enough that the job has
to sleep through several resets: the durable wait a real sync spends days in.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowFailureError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from ytsync.cli.jobctl import StartedJob, start_job
from ytsync.cli.views import render_preview
from ytsync.cli.worker import build_worker
from ytsync.config import Settings
from ytsync.db.models import (
    SyncError,
    SyncJob,
    SyncOperation,
)
from ytsync.devserver import (
    DEFAULT_PORT,
    DEFAULT_UI_PORT,
    DevServer,
    PortConflict,
    preferred_ports,
    running_dev_server,
    server_processes,
    stop_process,
)
from ytsync.importer import ImportSummary, import_library
from ytsync.plan import ApplySummary, apply_plan
from ytsync.preview import compute_preview
from ytsync.quota import WRITE_COST
from ytsync.status import job_status
from ytsync.sync.operations import ADD, CREATE, DELETE
from ytsync.wire import FINAL_STAGES, SYNC_STAGES, PauseReason, Stage
from ytsync_emulator import EmulatorState, sample_plan_rows
from ytsync_sandbox.demo_organize import OrganizeOutcome, keep_organized, print_outcome
from ytsync_sandbox.invariants import library_problems, system_list_sizes
from ytsync_sandbox.sandbox import (
    Emulator,
    open_database,
    running_emulator,
    sample_library,
    settings_for,
    write_plan,
)

TASK_QUEUE = "ytsync-demo"
# How often the live view reads the job's row: a screen refresh, not a wait for work.
POLL_SECONDS = 0.5
# Without a terminal (CI logs, a pipe), one progress line this often, plus every change.
LINE_EVERY_SECONDS = 5.0
MAX_LISTED_FAILURES = 10
STAGE_LABELS: dict[str, str] = {
    Stage.PENDING: "waiting for the worker",
    Stage.BACKUP: "backing up the library",
    Stage.CREATE_PLAYLISTS: "creating category playlists",
    Stage.ADD_VIDEOS: "adding videos",
    Stage.DELETE_PLAYLISTS: "deleting the old playlists",
    Stage.COMPLETED: "completed",
    Stage.FAILED: "failed",
}


@dataclass(frozen=True)
class DemoOptions:
    videos: int = 300
    playlists: int = 10
    period_seconds: int = 15
    # 4,000 usable units a period are 80 writes: a few hundred videos need several.
    daily_quota: int = 5_000
    quota_reserve: int = 1_000
    # Past the emulator's list lag (2 s, like YouTube's lists, late, and up to
    # ``list_lag_jitter`` more), so the settled checks see every write; the product's
    # default is 30 s.
    settle_seconds: float = 3.0
    list_lag_jitter: float = 0.5
    seed: int = 1
    keep: bool = False
    base_dir: Path = Path(".ytsync")
    port: int = DEFAULT_PORT
    ui_port: int = DEFAULT_UI_PORT


@dataclass
class DemoReport:
    job_id: int = 0
    stage: str = "pending"
    failure_message: str | None = None
    playlists_created: int = 0
    videos_added: int = 0
    playlists_deleted: int = 0
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    quota_used: int = 0
    quota_periods: int = 0
    quota_waits: int = 0
    sync_seconds: float = 0.0
    total_seconds: float = 0.0
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    organize: OrganizeOutcome = field(default_factory=OrganizeOutcome)

    @property
    def ok(self) -> bool:
        return self.stage == "completed" and not self.problems and not self.organize.problems


# --------------------------------------------------------------------------- workspace


@dataclass
class Workspace:
    """The demo's directory, claimed with a lock that dies with the process."""

    path: Path
    other_demos: int
    _lock: IO[str]


@contextlib.contextmanager
def claimed_workspace(base: Path) -> Iterator[Workspace]:
    """``base/demo``, wiped; or ``base/demo-N`` when other running demos hold the first ones.

    An flock on ``<dir>.lock`` marks a directory as in use.  The kernel drops it when
    its process ends in any way, kill -9 included, so a crashed demo never blocks the
    next one the way a stale pid file would.
    """
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    for number in range(1, 100):
        name = "demo" if number == 1 else f"demo-{number}"
        handle = (base / f"{name}.lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            path = base / name
            # A demo killed with SIGKILL could not stop its dev server; it still runs
            # on the old state file (nobody else may: we hold the lock).
            for pid in server_processes(path / "temporal.db"):
                stop_process(pid)
            if path.exists():
                shutil.rmtree(path)
            path.mkdir()
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield Workspace(path, number - 1, handle)
        finally:
            handle.close()  # releases the lock; the directory stays for a look later
        return
    raise RuntimeError(f"too many demos are running in {base}")


@contextlib.contextmanager
def _logs_to(path: Path) -> Iterator[None]:
    """Send log records to a file while the demo runs.

    The worker and the SDK log warnings (with tracebacks) that would tear the live view
    apart; the file keeps them for whoever wants to look.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    # Keep a more detailed level (YTSYNC_DEBUG); never less than warnings.
    debug = logging.NOTSET < saved_level < logging.WARNING
    root.setLevel(saved_level if debug else logging.WARNING)
    try:
        yield
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        handler.close()


# --------------------------------------------------------------------------- the run


def demo_settings(
    options: DemoOptions, workspace: Path, emulator: Emulator, server: DevServer
) -> Settings:
    """Every field given: a YTSYNC_* variable in the shell must not bend the demo."""
    return settings_for(
        emulator,
        f"sqlite:///{workspace / 'ytsync.db'}",
        temporal_address=server.address,
        temporal_namespace=server.namespace,
        task_queue=TASK_QUEUE,
        daily_quota=options.daily_quota,
        quota_reserve=options.quota_reserve,
        quota_timezone="UTC",
        quota_period_seconds=options.period_seconds,
        settle_seconds=options.settle_seconds,
    )


async def run_demo(options: DemoOptions, out: Console) -> DemoReport:
    """Run the demo, printing as it goes.  Cancel the task to stop it: everything it
    started (worker, emulator, dev server) is stopped on the way out, in that order."""
    began = time.monotonic()
    report = DemoReport()
    async with contextlib.AsyncExitStack() as stack:
        ws = stack.enter_context(claimed_workspace(options.base_dir))
        stack.enter_context(_logs_to(ws.path / "demo.log"))
        _title(out, options, ws)
        state = sample_library(
            videos=options.videos,
            playlists=options.playlists,
            seed=options.seed,
            daily_limit=options.daily_quota,
            period_seconds=options.period_seconds,
            state_seed=options.seed,
            list_lag_jitter_seconds=options.list_lag_jitter,
        )
        emulator = stack.enter_context(running_emulator(state, ws.path / "token.json"))
        out.print(Text("Starting the Temporal dev server…", style="dim"))
        server = await _start_server(stack, options, ws.path)
        settings = demo_settings(options, ws.path, emulator, server)
        _where(out, ws.path, server, emulator, settings, options)
        engine, sessions = open_database(settings.database_url)
        stack.callback(engine.dispose)
        await _run_steps(out, options, ws.path, state, settings, sessions, server, report)
        report.total_seconds = time.monotonic() - began
        if options.keep:
            await _stay_up(out, server, settings)
        out.print(
            Text(
                f"Demo finished in {report.total_seconds:.0f} s; its files stay in "
                f"{_shown(ws.path)} until the next demo.",
                style="dim",
            )
        )
    return report


async def _start_server(
    stack: contextlib.AsyncExitStack, options: DemoOptions, workspace: Path
) -> DevServer:
    """The dev server on the preferred ports if free, else on free ones.

    Between choosing a free port and the server binding it, another program (or a
    second demo starting at the same moment) can take it: then choose again.
    """
    attempts = 3
    for attempt in range(1, attempts + 1):
        port, ui_port = preferred_ports(options.port, options.ui_port)
        try:
            return await stack.enter_async_context(
                running_dev_server(
                    db_file=workspace / "temporal.db",
                    port=port,
                    ui_port=ui_port,
                    log_file=workspace / "temporal.log",
                )
            )
        except PortConflict:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


async def _run_steps(
    out: Console,
    options: DemoOptions,
    workspace: Path,
    state: EmulatorState,
    settings: Settings,
    sessions: sessionmaker[Session],
    server: DevServer,
    report: DemoReport,
) -> None:
    _step(out, 1, "Import the library from (emulated) YouTube")
    imported = await asyncio.to_thread(import_library, settings, sessions)
    _print_import(out, imported)

    _step(out, 2, "Apply a plan: which videos go into which category")
    plan_file = workspace / "plan.csv"
    write_plan(plan_file, sample_plan_rows(state, options.seed))
    applied = await asyncio.to_thread(apply_plan, sessions, plan_file)
    _print_plan(out, applied, plan_file)

    _step(out, 3, "Preview the cost")
    with sessions() as session:
        render_preview(compute_preview(session, settings, datetime.now(UTC)), out)

    _step(out, 4, "Start the sync job")
    client = await Client.connect(
        server.address, namespace=server.namespace, runtime=_runtime_logging_to_python()
    )
    system_lists = system_list_sizes(state)
    async with build_worker(client, settings):
        started = await start_job(settings, sessions, client, now=datetime.now(UTC))
        out.print(Text(f"Started job {started.job_id} (workflow {started.workflow_id})."))
        url = server.workflow_url(started.workflow_id)
        if url:
            out.print(Text("Watch it in the Temporal Web UI:"))
            out.print(Text(f"  {url}", style="bold cyan"), soft_wrap=True)
        out.print(Text("Or from another terminal (one line):", style="dim"))
        out.print(
            Text(
                f"  YTSYNC_DATABASE_URL={settings.database_url} "
                f"YTSYNC_TEMPORAL_ADDRESS={settings.temporal_address} "
                "python starter.py status",
                style="dim",
            ),
            soft_wrap=True,  # a command to copy: the terminal may wrap it, rich must not
        )

        _step(out, 5, "Sync (the job sleeps through each quota reset on a durable timer)")
        report.quota_waits = await _follow(out, sessions, settings, started)

    _step(out, 6, "Report")
    _fill_report(report, sessions, state, settings, started.job_id)
    report.checked, report.problems = library_problems(state, sessions, system_lists)
    _print_report(out, report, settings)
    if not report.ok:
        return

    _step(out, 7, "Keep it organized: new videos, sorted by rules on a Temporal Schedule")
    report.organize = await keep_organized(out, workspace, state, settings, sessions, client)
    print_outcome(out, report.organize)


def _runtime_logging_to_python() -> Runtime:
    """An SDK runtime whose core (Rust) log lines go through Python logging.

    By default the core prints its warnings straight to stderr, e.g. about a poll cut
    short when the demo stops; forwarded, they land in the demo's log file instead.
    """
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=forwarding,
            )
        )
    )


# --------------------------------------------------------------------------- following


@dataclass
class _Snapshot:
    stage: str
    paused_at: str | None
    pause_reason: str | None
    resume_at: datetime | None
    done: int
    total: int
    quota_used: int
    period_left: int
    usable: int
    errors: int


def _snapshot(sessions: sessionmaker[Session], settings: Settings, job_id: int) -> _Snapshot:
    with sessions() as session:
        job = session.get_one(SyncJob, job_id)
        status = job_status(session, job, settings, datetime.now(UTC))
        total = max(status.progress.total, _expected_operations(job.preview))
    return _Snapshot(
        stage=status.stage,
        paused_at=status.paused_at_stage,
        pause_reason=status.pause_reason,
        resume_at=status.resume_at,
        done=status.progress.done,
        total=status.progress.done if status.stage == "completed" else total,
        quota_used=status.quota_used,
        period_left=status.quota_today.remaining,
        usable=status.quota_today.usable,
        errors=len(status.errors),
    )


def _expected_operations(preview: dict[str, Any]) -> int:
    """All the job's operations, known from the start (its own count grows per stage)."""
    try:
        return int(
            1  # the backup
            + preview["playlists_to_create"]["count"]
            + preview["videos_to_add"]["count"]
            + preview["unavailable_videos"]["count"]  # recorded as failed, no write
            + preview["playlists_to_delete"]["count"]
        )
    except (KeyError, TypeError):
        return 0


async def _follow(
    out: Console, sessions: sessionmaker[Session], settings: Settings, started: StartedJob
) -> int:
    """Show the job until it ends; returns how many times it waited for a quota reset."""
    outcome = asyncio.create_task(_workflow_outcome(started))
    began = time.monotonic()
    try:
        if not out.is_terminal:
            return await _poll(sessions, settings, started, outcome, _LinePrinter(out, began).show)
        with Live(console=out, auto_refresh=False, transient=False) as live:

            def show(snap: _Snapshot, waits: int) -> None:
                live.update(_live_view(snap, waits, time.monotonic() - began), refresh=True)

            return await _poll(sessions, settings, started, outcome, show)
    finally:
        outcome.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outcome


async def _workflow_outcome(started: StartedJob) -> str | None:
    """None when the workflow completed; else why not.  Ends the follow loop even if
    the workflow ended without writing its final stage to the database."""
    try:
        await started.handle.result()
    except WorkflowFailureError as exc:
        return str(exc.cause or exc)
    return None


async def _poll(
    sessions: sessionmaker[Session],
    settings: Settings,
    started: StartedJob,
    outcome: asyncio.Task[str | None],
    show: Callable[[_Snapshot, int], None],
) -> int:
    waits = 0
    waiting = False
    while True:
        snap = await asyncio.to_thread(_snapshot, sessions, settings, started.job_id)
        quota_pause = snap.stage == Stage.PAUSED and snap.pause_reason == PauseReason.QUOTA
        if quota_pause and not waiting:
            waits += 1
        waiting = quota_pause
        show(snap, waits)
        if snap.stage in FINAL_STAGES:
            return waits
        if outcome.done():
            # The workflow ended; one more read picks up its last stage update.
            show(await asyncio.to_thread(_snapshot, sessions, settings, started.job_id), waits)
            return waits
        await asyncio.sleep(POLL_SECONDS)


def _stage_text(snap: _Snapshot) -> str:
    if snap.stage == Stage.PAUSED:
        where = STAGE_LABELS.get(snap.paused_at or "", snap.paused_at or "")
        reasons: dict[str, str] = {
            PauseReason.QUOTA: "quota of this period spent",
            PauseReason.USER: "paused by the user",
            PauseReason.AUTH: "needs a new sign-in",
        }
        return f"paused ({reasons.get(snap.pause_reason or '', snap.pause_reason)}) in {where}"
    label = STAGE_LABELS.get(snap.stage, snap.stage)
    if snap.stage in SYNC_STAGES:
        return f"{label} (stage {SYNC_STAGES.index(snap.stage) + 1} of {len(SYNC_STAGES)})"
    return label


def _resume_text(snap: _Snapshot) -> str | None:
    if snap.resume_at is None:
        return None
    seconds = max(0.0, (snap.resume_at - datetime.now(UTC)).total_seconds())
    return (
        f"at {_clock_time(snap.resume_at)} (in {seconds:.0f} s), when the next quota period starts"
    )


def _clock_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


def _live_view(snap: _Snapshot, waits: int, elapsed: float) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    style = "yellow" if snap.stage == "paused" else "green" if snap.stage == "completed" else ""
    grid.add_row("Stage", Text(_stage_text(snap), style=style))
    percent = 100 * snap.done // snap.total if snap.total else 0
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(snap.total, 1), completed=snap.done, width=40),
        Text(f"{snap.done:,} / {snap.total:,} operations  {percent}%"),
    )
    grid.add_row("Progress", bar)
    grid.add_row(
        "Quota",
        Text(
            f"{snap.quota_used:,} units used by the job · {snap.period_left:,} of "
            f"{snap.usable:,} left this period · waited for {waits} reset(s)"
        ),
    )
    resume = _resume_text(snap)
    if resume:
        grid.add_row("Resumes", Text(resume, style="yellow"))
    if snap.errors:
        grid.add_row("Failed", Text(f"{snap.errors} item(s), skipped (listed in the report)"))
    grid.add_row("Elapsed", Text(f"{elapsed:.0f} s"))
    return Group(grid)


class _LinePrinter:
    """The live view as log lines, for output that is not a terminal."""

    def __init__(self, out: Console, began: float) -> None:
        self._out = out
        self._began = began
        self._last_key: tuple[str, str | None] | None = None
        self._last_time = 0.0

    def show(self, snap: _Snapshot, waits: int) -> None:
        now = time.monotonic()
        key = (snap.stage, snap.pause_reason)
        if key == self._last_key and now - self._last_time < LINE_EVERY_SECONDS:
            return
        self._last_key, self._last_time = key, now
        head = _stage_text(snap)
        if snap.resume_at is not None:
            seconds = max(0.0, (snap.resume_at - datetime.now(UTC)).total_seconds())
            head += f", resumes {_clock_time(snap.resume_at)} (in {seconds:.0f} s)"
        line = (
            f"[{now - self._began:5.1f} s] {head} · {snap.done}/{snap.total} operations · "
            f"{snap.quota_used:,} quota units"
        )
        # One line per update, however narrow the log: soft wrap leaves it whole.
        self._out.print(Text(line), soft_wrap=True)


# --------------------------------------------------------------------------- report


def _fill_report(
    report: DemoReport,
    sessions: sessionmaker[Session],
    state: EmulatorState,
    settings: Settings,
    job_id: int,
) -> None:
    with sessions() as session:
        job = session.get_one(SyncJob, job_id)
        counts = Counter(
            {
                kind: int(n)
                for kind, n in session.execute(
                    select(SyncOperation.kind, func.count())
                    .where(SyncOperation.job_id == job_id, SyncOperation.status == "completed")
                    .group_by(SyncOperation.kind)
                )
            }
        )
        errors = session.scalars(
            select(SyncError).where(SyncError.job_id == job_id).order_by(SyncError.id)
        ).all()
        report.job_id = job.id
        report.stage = job.stage
        report.failure_message = job.failure_message
        report.quota_used = job.quota_used
        report.failures = [(e.stage, e.entity_type, e.entity_id, e.message) for e in errors]
        if job.completed_at is not None:
            report.sync_seconds = (job.completed_at - job.created_at).total_seconds()
        first_period = settings.quota_clock.period_start(job.created_at)
    report.playlists_created = counts[CREATE]
    report.videos_added = counts[ADD]
    report.playlists_deleted = counts[DELETE]
    # The emulator's own count: what YouTube saw, not what the job believes it spent.
    report.quota_periods = sum(
        1 for start, used in state.quota_usage().items() if start >= first_period and used
    )


# --------------------------------------------------------------------------- printing


def _shown(path: Path) -> str:
    """A path as short as it can be said from the current directory."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _title(out: Console, options: DemoOptions, ws: Workspace) -> None:
    out.rule("[bold]ytsync demo")
    out.print(
        Text(
            "The whole product on this machine: a YouTube emulator with a sample library, "
            "the embedded Temporal server, and a ytsync worker. Quota periods last "
            f"{options.period_seconds} s instead of a day."
        )
    )
    if ws.other_demos:
        out.print(
            Text(f"Another demo is running; this one uses {_shown(ws.path)}.", style="yellow")
        )


def _where(
    out: Console,
    workspace: Path,
    server: DevServer,
    emulator: Emulator,
    settings: Settings,
    options: DemoOptions,
) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    if server.ui_url:
        table.add_row(
            "Web UI",
            Text.assemble(
                (server.ui_url, "bold cyan"), " ← open it to watch the workflow while it runs"
            ),
        )
    table.add_row("Temporal", Text(f"{server.address} (state in {_shown(server.db_file)})"))
    table.add_row(
        "YouTube",
        Text(
            f"emulator at {emulator.endpoint}: {options.videos:,} videos in "
            f"{options.playlists} playlists"
        ),
    )
    writes = settings.usable_quota // WRITE_COST
    table.add_row(
        "Quota",
        Text(
            f"{settings.daily_quota:,} units a period of {options.period_seconds} s, "
            f"{settings.quota_reserve:,} kept in reserve: {writes} writes a period"
        ),
    )
    table.add_row("Files", Text(f"{_shown(workspace)} (database, plan, token, logs)"))
    out.print(table)


def _step(out: Console, number: int, title: str) -> None:
    out.print()
    out.rule(f"[bold]{number}. {title}", align="left")


def _print_import(out: Console, summary: ImportSummary) -> None:
    out.print(
        Text(
            f"Imported {summary.playlists} playlists with {summary.items:,} items: "
            f"{summary.videos:,} videos, {summary.unavailable} of them private or deleted. "
            f"Reading cost {summary.units_spent} quota units (1 a page of 50)."
        )
    )


def _print_plan(out: Console, summary: ApplySummary, path: Path) -> None:
    out.print(
        Text(
            f"Wrote a sample plan to {_shown(path)} and applied it: "
            f"{summary.categories} categories ({summary.protected_categories} protected: it "
            f"gets no playlist), {summary.videos:,} videos. A few videos stay uncategorised, "
            "and a few unavailable ones are listed, as in a real, slightly stale plan."
        )
    )


def _print_report(out: Console, report: DemoReport, settings: Settings) -> None:
    table = Table(title=f"Job {report.job_id}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    style = "green" if report.stage == "completed" else "red"
    table.add_row("Outcome", Text(report.stage, style=style))
    table.add_row("Playlists created", f"{report.playlists_created:,}")
    table.add_row("Videos added", f"{report.videos_added:,}")
    table.add_row("Old playlists deleted", f"{report.playlists_deleted:,}")
    table.add_row("Items failed", f"{len(report.failures):,}")
    table.add_row("Quota units used", f"{report.quota_used:,}")
    table.add_row(
        f"Quota periods ({settings.quota_period_seconds} s each)",
        f"{report.quota_periods}, with {report.quota_waits} wait(s) for a reset",
    )
    table.add_row("Sync time", f"{report.sync_seconds:.0f} s")
    out.print(table)
    if report.failure_message:
        out.print(Text(f"The job failed: {report.failure_message}", style="red"))
    if report.failures:
        failed = Table(title="Failed items (skipped; the rest went on)", title_justify="left")
        for column in ("Stage", "Item", "Reason"):
            failed.add_column(column)
        for stage, kind, entity, message in report.failures[:MAX_LISTED_FAILURES]:
            failed.add_row(stage, Text(f"{kind} {entity}"), Text(message))
        if len(report.failures) > MAX_LISTED_FAILURES:
            more = len(report.failures) - MAX_LISTED_FAILURES
            failed.add_row("", Text(f"… {more} more", style="dim"), "")
        out.print(failed)
    if report.problems:
        out.print(Text("Check against the emulator: FAILED", style="bold red"))
        for problem in report.problems:
            out.print(Text(f"  - {problem}"))
    else:
        out.print(
            Text(
                f"Check against the emulator: OK ({report.checked} checks): every category "
                "playlist holds exactly its available videos, once each; protected "
                "categories have none; no old playlist is left; system lists untouched.",
                style="bold green",
            )
        )


async def _stay_up(out: Console, server: DevServer, settings: Settings) -> None:
    """--keep: leave everything running for a look around, until Ctrl-C."""
    out.print()
    where = f" Web UI: {server.ui_url} ·" if server.ui_url else ""
    out.print(
        Text(
            f"--keep: the dev server and the emulator stay up.{where} "
            f"Temporal: {settings.temporal_address}. Press Ctrl-C to stop.",
            style="bold",
        )
    )
    # A Ctrl-C here ends the look-around, not the demo: it already succeeded or not.
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # handled: let the cleanup that follows await normally
