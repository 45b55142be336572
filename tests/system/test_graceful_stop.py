"""A worker stopped the way a deploy stops it: on SIGTERM its batches stop at their next
write, record what they did, release their lanes and end, so another worker goes on at
once; the library ends exactly as planned.  A second signal ends it at once."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from tests.support.faultkit import WorkerProcess, wall_clock, worker_environ
from tests.support.harness import Installation, install
from tests.support.jobs import completed_activities
from tests.support.waiting import eventually
from ytsync.cli.jobctl import start_job
from ytsync.devserver import running_dev_server
from ytsync.wire import JobProgress
from ytsync_emulator.state import WriteVerdict
from ytsync_sandbox.invariants import RunFacts, check_fault_run

# A lane's lease outlasts the heartbeat timeout many times over: a batch retried
# because its worker vanished would find the lane still taken (LaneBusy) and need a
# third attempt, where one whose worker released the lane finishes on its second.
LEASE_TIMEOUT = {"YTSYNC_YOUTUBE_TIMEOUT_SECONDS": "60"}
JOB_OPTIONS = {"heartbeat_timeout_seconds": 10.0}
WRITE_LATENCY = 0.2
SYNC_LIMIT = 240.0


def installed(tmp_path: Path, database_url: str) -> Installation:
    return install(
        tmp_path,
        database_url,
        wall_clock,
        videos=300,
        playlists=4,
        # A quota no lane runs out of: the job is bound by YouTube's answer time.
        daily_quota=1_000_000,
        write_latency=WRITE_LATENCY,
        # No 404 window after a playlist's creation: every retry in this test is the
        # shutdown's, so attempts count hand-overs.
        not_found_after_create_seconds=0.0,
    )


@pytest.mark.slow
def test_sigterm_mid_batch_hands_the_lanes_to_another_worker(
    database_url: str, tmp_path: Path
) -> None:
    inst = installed(tmp_path, database_url)
    try:
        asyncio.run(deploy(inst, database_url, tmp_path))
    finally:
        inst.server.stop()


async def deploy(inst: Installation, database_url: str, tmp: Path) -> None:
    state = inst.state
    system_lists = {pid: state.playlist_items(pid) for pid in ("WL", "LL", state.uploads_id)}
    environ = worker_environ(inst, database_url) | LEASE_TIMEOUT
    async with running_dev_server(
        db_file=tmp / "temporal.db", headless=True, log_file=tmp / "temporal.log"
    ) as server:
        old = WorkerProcess(server.address, environ, tmp / "old")
        new = WorkerProcess(server.address, environ, tmp / "new")
        for worker in (old, new):
            worker.log_dir.mkdir()
        try:
            await asyncio.to_thread(old.spawn)
            client = await Client.connect(server.address)
            started = await start_job(
                inst.settings, inst.sessions, client, now=wall_clock(), **JOB_OPTIONS
            )
            identity = f"{old.pid}@"
            # The new release comes up, then the old one is told to stop mid-batch.
            await asyncio.to_thread(new.spawn)
            taker = f"{new.pid}@"
            running = await batches_running_on(started.handle, identity, inst)
            code = await asyncio.to_thread(old.stop)
            result: JobProgress = await asyncio.wait_for(started.handle.result(), SYNC_LIMIT)
            completions = await completed_activities(started.handle)
        finally:
            for worker in (old, new):
                worker.kill()

    assert code == 0, "a stopped worker ends by itself, cleanly"
    log = old.log_file(1).read_text()
    assert "SIGTERM: stopping" in log and "worker stopped" in log
    facts = RunFacts(started.job_id, result.stage, system_lists, burnt={}, lanes=4)
    assert check_fault_run(inst, facts) > 0
    handed_over = [completions[a] for a in running if not completions[a][0].startswith(identity)]
    assert handed_over, "no batch of the stopped worker was still running"
    for by, attempt in handed_over:
        # Its lane was free at once: the first retry ran it, on the other worker.
        assert by.startswith(taker)
        assert attempt == 2


async def batches_running_on(
    handle: WorkflowHandle[object, object], identity: str, inst: Installation
) -> list[str]:
    """Once some videos are added, the add_videos batches running on ``identity``."""
    found: list[str] = []

    async def some() -> bool:
        added = sum(
            1 for r in inst.state.requests() if r.method == "playlistItems.insert" and r.applied
        )
        if added < 20:
            return False
        description = await handle.describe()
        found[:] = [
            p.activity_id
            for p in description.raw_description.pending_activities
            if p.activity_type.name == "add_videos"
            and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            and p.last_worker_identity.startswith(identity)
        ]
        return len(found) >= 2

    await eventually(some, "add_videos batches running on the first worker", limit=120)
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_second_signal_stops_the_worker_at_once(database_url: str, tmp_path: Path) -> None:
    """With a write in flight that YouTube holds, a stopping worker waits for it; a
    second SIGTERM ends the process then and there."""
    inst = installed(tmp_path, database_url)
    held = threading.Event()
    release = threading.Event()

    def hold(method: str) -> WriteVerdict:
        if method == "playlistItems.insert":
            held.set()
            release.wait(120)
        return "answer"

    async def scenario() -> tuple[bool, int, bool]:
        environ = worker_environ(inst, database_url) | LEASE_TIMEOUT
        async with running_dev_server(db_file=tmp_path / "temporal.db", headless=True) as server:
            worker = WorkerProcess(server.address, environ, tmp_path)
            try:
                await asyncio.to_thread(worker.spawn)
                client = await Client.connect(server.address)
                inst.state.write_hook = hold
                await start_job(inst.settings, inst.sessions, client, now=wall_clock())
                await eventually(held.is_set, "an insert in flight", limit=120)
                worker.send(signal.SIGTERM)
                log = worker.log_file()
                await eventually(lambda: "SIGTERM: stopping" in log.read_text(), "the stop")
                # Its batch cannot stop before the held write is answered.
                waiting = worker.alive()
                worker.send(signal.SIGTERM)
                code = await asyncio.to_thread(worker.wait, 60)
                return waiting, code, release.is_set()
            finally:
                release.set()
                worker.kill()

    try:
        waiting, code, released = asyncio.run(scenario())
    finally:
        inst.state.write_hook = None
        inst.server.stop()
    assert waiting, "after one SIGTERM the worker waits for the write in flight"
    assert code == 128 + signal.SIGTERM
    assert not released, "it ended while the write was still in flight"
