"""The durable sync under the time-skipping test server: days of quota in seconds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.harness import TEST_SERVER, Installation, env_clock, install, running_worker, start
from ytsync.db.models import Category, QuotaLedger, SyncJob
from ytsync.status import job_status
from ytsync_sandbox.invariants import assert_library_as_planned


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


def stages_in_order(histories: list[WorkflowHistory]) -> list[str]:
    """The working stages the job went through, from its set_stage calls, pauses left out."""
    seen: list[str] = []
    for history in histories:
        for event in history.events:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name != "set_stage":
                continue
            stage = json.loads(attrs.input.payloads[0].data)["stage"]
            if stage != "paused" and (not seen or seen[-1] != stage):
                seen.append(stage)
    return seen


def assert_no_secrets(inst: Installation, histories: list[str]) -> None:
    token = json.loads(inst.settings.token_file.read_text())
    secrets = [token["refresh_token"], token["client_secret"], token["token"]]
    secrets += list(inst.state._access)  # every access token the emulator ever issued
    assert len(secrets) > 3
    for text in histories:
        for secret in secrets:
            assert secret not in text, "a credential leaked into workflow history"


def test_multi_day_sync_reaches_the_planned_library(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER)
        ) as env:
            clock = env_clock(env, asyncio.get_running_loop())
            inst = await asyncio.to_thread(
                install, tmp_path, database_url, clock, videos=1000, playlists=14
            )
            try:
                async with running_worker(env.client, inst, clock):
                    started, handle = await start(
                        inst, env.client, await env.get_current_time(), max_history_events=150
                    )
                    result = await handle.result()
                    histories = await all_runs(env, handle)
                assert result.stage == "completed"
                checked = assert_library_as_planned(inst)
                assert checked > 10
                with inst.sessions() as session:
                    job = session.get_one(SyncJob, started.job_id)
                    assert job.stage == "completed"
                    periods = session.scalars(select(QuotaLedger)).all()
                    now = await env.get_current_time()
                    status = job_status(session, job, inst.settings, now).model_dump(mode="json")
                assert len(periods) >= 2, "the sync should have needed several quota days"
                assert all(p.units_used <= inst.settings.usable_quota for p in periods)
                assert status["progress"]["done"] == status["progress"]["total"]
                assert status["stage_results"]["add_videos"]["open"] == 0
                assert status["errors"], "the library's unavailable videos must be reported"
                assert {e["stage"] for e in status["errors"]} == {"add_videos"}
                assert len(histories) >= 2, "a long job must continue as new"
                assert all(len(h.events) < 400 for h in histories)
                assert_no_secrets(inst, [h.to_json() for h in histories])
                assert stages_in_order(histories) == [
                    "backup",
                    "create_playlists",
                    "add_videos",
                    "delete_playlists",
                    "completed",
                ]
                with inst.sessions() as session:
                    categories = session.scalars(select(Category)).all()
                assert len(categories) >= 20
                assert any(c.is_protected for c in categories)
                for period, used in inst.state.quota_usage().items():
                    assert used <= inst.settings.usable_quota, f"{period}: {used} units"
            finally:
                inst.server.stop()

    asyncio.run(scenario())
