"""The durable sync under the time-skipping test server: days of quota in seconds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import (
    TEST_SERVER,
    env_clock,
    install,
    running_worker,
    start,
)
from tests.support.jobs import all_runs, assert_no_secrets
from ytsync.db.models import Category, QuotaLedger, SyncJob
from ytsync.status import job_status
from ytsync_sandbox.invariants import assert_library_as_planned


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
