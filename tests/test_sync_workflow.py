"""The durable sync under the time-skipping test server: days of quota in seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.harness import TEST_SERVER, env_clock, install, running_worker, start
from tests.invariants import assert_library_as_planned
from ytsync.db.models import QuotaLedger, SyncJob
from ytsync.status import job_status


def test_multi_day_sync_reaches_the_planned_library(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER)
        ) as env:
            clock = env_clock(env, asyncio.get_running_loop())
            inst = await asyncio.to_thread(
                install, tmp_path, database_url, clock, videos=400, playlists=10
            )
            try:
                async with running_worker(env.client, inst, clock):
                    started, handle = await start(inst, env.client, await env.get_current_time())
                    result = await handle.result()
                assert result.stage == "completed"
                checked = assert_library_as_planned(inst)
                assert checked > 10
                with inst.sessions() as session:
                    job = session.get_one(SyncJob, started.job_id)
                    assert job.stage == "completed"
                    periods = session.scalars(select(QuotaLedger)).all()
                    status = job_status(session, job, inst.settings, await env.get_current_time())
                assert len(periods) >= 2, "the sync should have needed several quota days"
                assert all(p.units_used <= inst.settings.usable_quota for p in periods)
                assert status["progress"]["done"] == status["progress"]["total"]
                assert status["stage_results"]["add_videos"]["open"] == 0
            finally:
                inst.server.stop()

    asyncio.run(scenario())
