"""An upgrade mid-job: a sync started by the previous release, its worker killed in the
middle of the additions, finished by this release's worker.

The previous release runs from its own source tree (``git archive`` of its commit, in
this repository's history) with this checkout's virtual environment: its CLI imports
the library into a database at its own schema and starts the job, and its worker sends
the first writes.  Then this release's worker upgrades the database, replays the
running workflow's history and takes the job to its end, under lists that lag and
answers that get lost.  A quota period short enough to reset during the job shows the
running job taking up this release's workflow code as well: it continues as new there.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tarfile
from dataclasses import replace
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select, text
from temporalio.client import Client

from tests.support.faultkit import WorkerProcess, wall_clock, worker_environ
from tests.support.harness import ROOT, Installation, install
from tests.support.waiting import eventually
from ytsync.db.engine import make_engine, session_factory
from ytsync.db.models import SyncJob
from ytsync.db.peek import newest_revision
from ytsync.devserver import running_dev_server
from ytsync.wire import JobProgress
from ytsync_sandbox.invariants import RunFacts, check_fault_run

# The release before this one: main as it was before the work on issue 21 ("YouTube is
# the truth") began; its schema is at revision 0009.
PREVIOUS_RELEASE = "100b37e9a27d0f5d35735196e3e9df9320f8fa09"
PREVIOUS_SCHEMA = "0009"
# Writes the previous release sends before its worker dies.
FIRST_WRITES = 20
SYNC_LIMIT = 240.0
# Past what the dead worker's last requests take to land, short of its batches' heartbeat
# timeout, after which the new release writes.
TAKEN_OVER = timedelta(seconds=30)


@pytest.mark.slow
def test_a_job_of_the_previous_release_ends_exact_on_this_one(
    database_url: str, tmp_path: Path
) -> None:
    tree = previous_release(tmp_path / "previous")
    # The emulator, the token and the plan; the sandbox's own import goes to a scratch
    # database: the job's database is the previous release's to make.
    inst = install(
        tmp_path,
        f"sqlite:///{tmp_path / 'scratch.db'}",
        wall_clock,
        videos=80,
        playlists=4,
        seed=5,
        list_lag_seconds=2.0,
        not_found_after_create_seconds=0.0,
        write_latency=0.02,
        quota_reserve=0,
        period_seconds=20,
        settle_seconds=1.0,
    )
    try:
        asyncio.run(run(inst, tree, database_url, tmp_path))
    finally:
        inst.server.stop()


def previous_release(into: Path) -> Path:
    """The previous release's source tree, from this repository's history."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE],
        capture_output=True,
    )
    assert archive.returncode == 0, (
        f"commit {PREVIOUS_RELEASE} is not in this clone's history (a shallow clone?): "
        + archive.stderr.decode(errors="replace")
    )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_previous(tree: Path, environ: dict[str, str], *args: str) -> None:
    """The previous release's CLI: its code first on the path, this venv's packages."""
    done = subprocess.run(
        [sys.executable, "starter.py", *args],
        cwd=tree,
        env={**environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"previous release, {' '.join(args)}: {done.stderr}"


def schema_of(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


async def run(inst: Installation, tree: Path, database_url: str, tmp: Path) -> None:
    state = inst.state
    system_lists = {pid: state.playlist_items(pid) for pid in ("WL", "LL", state.uploads_id)}
    async with running_dev_server(
        db_file=tmp / "temporal.db", headless=True, log_file=tmp / "temporal.log"
    ) as server:
        environ = worker_environ(inst, database_url)
        environ["YTSYNC_TEMPORAL_ADDRESS"] = server.address
        run_previous(tree, environ, "import")
        run_previous(tree, environ, "plan", "apply", str(inst.write_plan()))
        assert schema_of(database_url) == PREVIOUS_SCHEMA
        state.faults.add(method="playlistItems.insert", kind="lose_response", probability=0.05)
        for folder in ("old", "new"):
            (tmp / folder).mkdir()
        old_env = {**environ, "PYTHONPATH": str(tree)}
        old = WorkerProcess(server.address, old_env, tmp / "old", cwd=tree)
        new = WorkerProcess(server.address, environ, tmp / "new")
        try:
            await asyncio.to_thread(old.spawn)
            run_previous(tree, environ, "start", "--yes")
            await eventually(
                lambda: len(state.requests("playlistItems.insert")) >= FIRST_WRITES,
                "the previous release's first writes",
                limit=120,
            )
            assert old.kill(), "the previous release's worker died by itself"
            killed = wall_clock()
            await asyncio.to_thread(new.spawn)
            # The new release writes once the dead worker's batches time out (their
            # heartbeat, 60 s), while what the dead worker had sent lands within moments
            # of its death: a write logged half a minute after it is the new release's.
            await eventually(
                lambda: any(
                    r.method == "playlistItems.insert" and r.time > killed + TAKEN_OVER
                    for r in state.requests()
                ),
                "the new release's first write",
                limit=150,
            )
            # Someone else spends the project's quota: the new release's next request
            # is refused, and the job waits for the next period on its code.
            state.faults.add(method="*", kind="quota_exceeded", count=1)
            engine = make_engine(database_url)
            with session_factory(engine)() as session:
                job = session.scalars(select(SyncJob)).one()
                workflow_id, job_id = job.workflow_id, job.id
            engine.dispose()
            client = await Client.connect(server.address)
            handle = client.get_workflow_handle(workflow_id, result_type=JobProgress)
            result = await asyncio.wait_for(handle.result(), SYNC_LIMIT)
            runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        finally:
            old.kill()
            new.kill()
    assert schema_of(database_url) == newest_revision()
    upgraded = replace(inst, sessions=session_factory(make_engine(database_url)))
    facts = RunFacts(job_id, result.stage, system_lists, burnt={}, lanes=4)
    assert check_fault_run(upgraded, facts) > 0
    # It continued as new after the quota wait, on this release's workflow code.
    assert len(runs) > 1
