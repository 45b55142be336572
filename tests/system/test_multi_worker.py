"""Several workers on one task queue, as several hosts run them: three worker processes
share a sync, one is SIGKILLed while it runs a batch, and the sync still ends exactly as
planned (no duplicate, nothing missing), its batch finished by another worker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from tests.support.faultkit import WorkerProcess, wall_clock, worker_environ
from tests.support.harness import Installation, install
from tests.support.jobs import completed_activities
from ytsync.cli.jobctl import start_job
from ytsync.devserver import running_dev_server
from ytsync.wire import JobProgress
from ytsync_sandbox.invariants import RunFacts, check_fault_run

WORKERS = 3
# Short heartbeats, so the killed worker's batch is retried within seconds; small
# batches, so each worker gets several.
JOB_OPTIONS = {"heartbeat_timeout_seconds": 3.0, "batch_size": 5}
# Each insert takes this long on the emulator: a batch is still running when it is
# found running, so the kill lands mid-batch.
WRITE_LATENCY = 0.05
SYNC_LIMIT = 180.0


@pytest.mark.slow
def test_three_workers_one_killed_mid_batch(database_url: str, tmp_path: Path) -> None:
    inst = install(
        tmp_path,
        database_url,
        wall_clock,
        videos=90,
        playlists=4,
        write_latency=WRITE_LATENCY,
        # No 404 window after a playlist's creation (the 1 s settle falls inside it):
        # every lane would sit out the writer's 5 s retry before its first insert.
        not_found_after_create_seconds=0.0,
    )
    try:
        asyncio.run(run(inst, database_url, tmp_path))
    finally:
        inst.server.stop()


async def run(inst: Installation, database_url: str, tmp: Path) -> None:
    state = inst.state
    system_lists = {pid: state.playlist_items(pid) for pid in ("WL", "LL", state.uploads_id)}
    async with running_dev_server(
        db_file=tmp / "temporal.db", headless=True, log_file=tmp / "temporal.log"
    ) as server:
        workers = []
        for number in range(WORKERS):
            folder = tmp / f"worker{number}"
            folder.mkdir()
            workers.append(
                WorkerProcess(server.address, worker_environ(inst, database_url), folder)
            )
        try:
            await asyncio.gather(*(asyncio.to_thread(w.spawn) for w in workers))
            client = await Client.connect(server.address)
            started = await start_job(
                inst.settings, inst.sessions, client, now=wall_clock(), **JOB_OPTIONS
            )
            victim, identity, killed = await kill_a_busy_worker(started.handle, workers, inst)
            result: JobProgress = await asyncio.wait_for(started.handle.result(), SYNC_LIMIT)
            completions = await completed_activities(started.handle)
        finally:
            for worker in workers:
                worker.kill()

    facts = RunFacts(started.job_id, result.stage, system_lists, burnt={}, lanes=4)
    assert check_fault_run(inst, facts) > 0
    assert not victim.alive()
    # The batches the killed worker was running were finished by another worker, on a
    # later attempt.
    for activity_id in killed:
        by, attempt = completions[activity_id]
        assert by != identity
        assert attempt >= 2
    # The work was shared: activities were completed by more than one worker (the
    # victim had completed some before it died).
    assert len({by for by, _attempt in completions.values()}) >= 2


async def kill_a_busy_worker(
    handle: WorkflowHandle[object, object], workers: list[WorkerProcess], inst: Installation
) -> tuple[WorkerProcess, str, list[str]]:
    """Once some videos are added, SIGKILL a worker that has completed work and runs an
    add_videos batch.

    Returns it, its Temporal identity and the ids of the batches it was running when it
    died: those the server still has pending on it after the kill.  A worker can finish
    its batch between the look and the kill; then it is started again and another one
    is chosen, so the kill always lands mid-batch however slow the machine is."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        added = sum(
            1 for r in inst.state.requests() if r.method == "playlistItems.insert" and r.applied
        )
        if added >= 10:
            by_pid = {worker.pid: worker for worker in workers}
            done_by = {by for by, _attempt in (await completed_activities(handle)).values()}
            description = await handle.describe()
            for pending in description.raw_description.pending_activities:
                identity = pending.last_worker_identity
                pid = int(identity.partition("@")[0] or 0)
                if (
                    pending.activity_type.name == "add_videos"
                    and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                    and pid in by_pid
                    and identity in done_by
                ):
                    victim = by_pid[pid]
                    assert victim.kill()
                    after = await handle.describe()
                    running = [
                        p.activity_id
                        for p in after.raw_description.pending_activities
                        if p.activity_type.name == "add_videos"
                        and p.last_worker_identity == identity
                    ]
                    if running:
                        return victim, identity, running
                    await asyncio.to_thread(victim.spawn)
                    break
        await asyncio.sleep(0.05)
    raise AssertionError("no add_videos batch was seen running on a worker that had done work")
