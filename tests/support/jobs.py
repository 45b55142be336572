"""Jobs under the time-skipping test server: the set-up, what a test waits for, and
what it reads back from the histories."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import (
    TEST_SERVER,
    Installation,
    env_clock,
    install,
)
from workflows.sync import SyncWorkflow
from ytsync.db.engine import transaction
from ytsync.db.models import SyncJob

FAST = {"heartbeat_timeout_seconds": 5.0}


def paused_for(handle: WorkflowHandle[Any, Any], reason: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        state = await handle.query(SyncWorkflow.state)
        return bool(state.pause_reason == reason)

    return check


def writes(inst: Installation) -> int:
    return sum(
        1
        for r in inst.state.requests()
        if r.method.endswith((".insert", ".delete")) and r.status < 300
    )


async def writes_held(inst: Installation) -> bool:
    with inst.state.lock:
        return bool(inst.state.busy)


def use_cli_on(
    monkeypatch: pytest.MonkeyPatch, inst: Installation, database_url: str, target: str
) -> None:
    for name, value in {
        "YTSYNC_DATABASE_URL": database_url,
        "YTSYNC_TEMPORAL_ADDRESS": target,
        "YTSYNC_TASK_QUEUE": inst.settings.task_queue,
    }.items():
        monkeypatch.setenv(name, value)


@asynccontextmanager
async def time_skipping(
    tmp_path: Path, database_url: str, **kw: Any
) -> AsyncIterator[tuple[WorkflowEnvironment, Installation, Callable[[], datetime]]]:
    """The time-skipping test server and an installation on its clock (``kw``: the
    installation's options)."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER)
    ) as env:
        clock = env_clock(env, asyncio.get_running_loop())
        inst = await asyncio.to_thread(install, tmp_path, database_url, clock, **kw)
        try:
            yield env, inst, clock
        finally:
            inst.state.write_hook = None
            inst.server.stop()


def request_pause(inst: Installation, job_id: int, at: datetime | None) -> None:
    with transaction(inst.sessions) as session:
        session.execute(update(SyncJob).where(SyncJob.id == job_id).values(pause_requested_at=at))


async def all_runs(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]
) -> list[WorkflowHistory]:
    runs = []
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        history = await env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        runs.append(history)
        attrs = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = attrs.new_execution_run_id or None
    return runs


def assert_no_secrets(inst: Installation, histories: list[str]) -> None:
    token = json.loads(inst.settings.token_file.read_text())
    secrets = [token["refresh_token"], token["client_secret"], token["token"]]
    secrets += list(inst.state._access)  # every access token the emulator ever issued
    assert len(secrets) > 3
    for text in histories:
        for secret in secrets:
            assert secret not in text, "a credential leaked into workflow history"


async def completed_activities(
    handle: WorkflowHandle[object, object],
) -> dict[str, tuple[str, int]]:
    """activity id -> (identity of the worker that completed it, its attempt)."""
    scheduled: dict[int, str] = {}
    attempts: dict[int, int] = {}
    completed: dict[str, tuple[str, int]] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            attempts[started.scheduled_event_id] = started.attempt
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            key = done.scheduled_event_id
            completed[scheduled[key]] = (done.identity, attempts[key])
    return completed
