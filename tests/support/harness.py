"""A whole ytsync installation for tests: the sandbox's (emulator, database, plan) and a
Temporal worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import sysconfig
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.visibility import SearchAttributeCheck
from ytsync.cli.jobctl import StartedJob, start_job
from ytsync.cli.worker import build_worker
from ytsync_sandbox.sandbox import SANDBOX_FIELDS, Installation, install, settings_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sysconfig.get_path("scripts"))
TEST_SERVER = BIN / "temporal-test-server"
DEV_SERVER = BIN / "temporal"

__all__ = [
    "BIN",
    "DEV_SERVER",
    "ROOT",
    "TEST_SERVER",
    "Installation",
    "env_clock",
    "install",
    "running_worker",
    "sign_in_again",
    "start",
    "worker_process",
]


def env_clock(env: WorkflowEnvironment, loop: asyncio.AbstractEventLoop) -> Callable[[], datetime]:
    """The time-skipping server's clock, readable from any thread (activities, emulator),
    so quota periods move with the workflow's skipped timers."""

    def now() -> datetime:
        future = asyncio.run_coroutine_threadsafe(env.get_current_time(), loop)
        return future.result(timeout=30)

    return now


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
    """A worker in its own process (tests.support.worker_process), ready when this returns.

    ``cached_workflows`` 0 (no sticky queue) lets a test kill it and start another."""
    environ = {
        **os.environ,
        **settings_env(inst.settings, *SANDBOX_FIELDS, "task_queue", "settle_seconds"),
        "YTSYNC_DATABASE_URL": database_url,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.worker_process",
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
    inst.sign_in_again()
