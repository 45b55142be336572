"""A whole ytsync installation for tests: emulator, database, plan, Temporal worker."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.visibility import SearchAttributeCheck
from worker import build_worker
from ytsync.cli.jobctl import StartedJob, start_job
from ytsync.config import Settings
from ytsync.db.engine import make_engine, session_factory, upgrade
from ytsync.emulator.credentials import issue_token_file
from ytsync.emulator.sample import generate_library, sample_plan_rows
from ytsync.emulator.server import EmulatorServer
from ytsync.emulator.state import EmulatorState
from ytsync.importer import import_library
from ytsync.plan import apply_plan

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sysconfig.get_path("scripts"))
TEST_SERVER = BIN / "temporal-test-server"
DEV_SERVER = BIN / "temporal"


def env_clock(env: WorkflowEnvironment, loop: asyncio.AbstractEventLoop) -> Callable[[], datetime]:
    """The time-skipping server's clock, readable from any thread (activities, emulator),
    so quota periods move with the workflow's skipped timers."""

    def now() -> datetime:
        future = asyncio.run_coroutine_threadsafe(env.get_current_time(), loop)
        return future.result(timeout=30)

    return now


@dataclass
class Installation:
    state: EmulatorState
    server: EmulatorServer
    settings: Settings
    sessions: sessionmaker[Session]
    plan_rows: list[tuple[str, str, bool]]
    tmp: Path

    def write_plan(self, rows: list[tuple[str, str, bool]] | None = None) -> Path:
        path = self.tmp / f"plan-{uuid.uuid4().hex[:6]}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["category", "video_id", "protected"])
            for category, video_id, protected in rows or self.plan_rows:
                writer.writerow([category, video_id, "true" if protected else "false"])
        return path


def install(
    tmp: Path,
    database_url: str,
    clock: Callable[[], datetime],
    *,
    videos: int = 300,
    playlists: int = 8,
    seed: int = 1,
    daily_quota: int = 10_000,
    quota_reserve: int = 1_000,
    emulator_limit: int | None = None,
    period_seconds: int | None = None,
    plan: bool = True,
    server: EmulatorServer | None = None,
    channel: str | None = None,
    unavailable_fraction: float = 0.01,
    settle_seconds: float = 1.0,
    **state_options: Any,
) -> Installation:
    """A library on the emulator, imported into ``database_url``, with a plan.

    ``server``: serve it as one more account (channel) of a running emulator, as
    Google serves every channel on one address; ``channel``: the settings' channel.
    """
    settings_kw: dict[str, Any] = {}
    # Short, for tests on a real clock: the emulator's lists lag behind writes by less
    # than ytsync waits before judging them (test_safety and the fault suite make the
    # lag longer, and the wait with it).
    state_options.setdefault("list_lag_seconds", 0.5)
    settings_kw["settle_seconds"] = settle_seconds
    if period_seconds:
        settings_kw["quota_period_seconds"] = period_seconds
    state = EmulatorState(clock=clock, daily_limit=emulator_limit, **state_options)
    if period_seconds:
        from ytsync.quota import QuotaClock

        state.quota_clock = QuotaClock(period_seconds=period_seconds)
    generate_library(
        state,
        videos=videos,
        playlists=playlists,
        seed=seed,
        unavailable_fraction=unavailable_fraction,
    )
    if server is None:
        server = EmulatorServer(state)
        server.start()
    else:
        server.add_account(state)
    if channel is not None:
        settings_kw["channel"] = channel
    token = issue_token_file(state, tmp / "token.json", base_url=server.base_url)
    settings = Settings(
        database_url=database_url,
        youtube_api_endpoint=server.base_url,
        token_file=token,
        oauth_token_uri=server.token_uri,
        task_queue=f"ytsync-test-{uuid.uuid4().hex[:8]}",
        daily_quota=daily_quota,
        quota_reserve=quota_reserve,
        **settings_kw,
    )
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    import_library(settings, sessions, now=clock)
    rows = sample_plan_rows(state, seed)
    inst = Installation(state, server, settings, sessions, rows, tmp)
    if plan:
        apply_plan(sessions, inst.write_plan())
    return inst


@asynccontextmanager
async def running_worker(
    client: Client,
    inst: Installation,
    clock: Callable[[], datetime],
    search_attributes: SearchAttributeCheck | None = None,
) -> AsyncIterator[Worker]:
    worker = build_worker(client, inst.settings, clock=clock, search_attributes=search_attributes)
    async with worker:
        yield worker


async def start(
    inst: Installation, client: Client, now: datetime, **options: Any
) -> tuple[StartedJob, WorkflowHandle[Any, Any]]:
    started = await start_job(inst.settings, inst.sessions, client, now=now, **options)
    # The handle from start_workflow: on the time-skipping server only it lets time
    # skip while its result is awaited.
    return started, started.handle


def worker_process(
    env_target: str, inst: Installation, database_url: str, *, cached_workflows: int = 0
) -> subprocess.Popen[str]:
    """A worker in its own process (tests.worker_process), ready when this returns.

    ``cached_workflows`` 0 (no sticky queue) lets a test kill it and start another."""
    environ = {
        **os.environ,
        "YTSYNC_DATABASE_URL": database_url,
        "YTSYNC_YOUTUBE_API_ENDPOINT": inst.settings.youtube_api_endpoint,
        "YTSYNC_TOKEN_FILE": str(inst.settings.token_file),
        "YTSYNC_OAUTH_TOKEN_URI": inst.settings.oauth_token_uri,
        "YTSYNC_TASK_QUEUE": inst.settings.task_queue,
        "YTSYNC_SETTLE_SECONDS": str(inst.settings.settle_seconds),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.worker_process",
            env_target,
            f"--cached-workflows={cached_workflows}",
        ],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "worker ready"
    return process


def sign_in_again(inst: Installation) -> None:
    """What a user does after auth_required: new credentials in the token file."""
    issue_token_file(inst.state, inst.settings.token_file, base_url=inst.server.base_url)
