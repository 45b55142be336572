"""Whole syncs against YouTube's less friendly answers, on the time-skipping server.

A sign-in without the youtube scope is a sign-in problem (a pause), not a failed item
per write; the 404 YouTube gives an insert right after it made the playlist means "not
yet", not "gone".
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.harness import ROOT, Installation, running_worker, sign_in_again, start
from tests.support.jobs import paused_for, time_skipping, writes
from tests.support.waiting import eventually
from workflows.sync import SyncWorkflow
from ytsync.db.models import Category, SyncJob
from ytsync.status import job_status
from ytsync_emulator.credentials import NARROW_SCOPE, issue_token_file
from ytsync_emulator.state import NOT_FOUND_AFTER_CREATE_SECONDS
from ytsync_sandbox.invariants import assert_library_as_planned

SCOPE = "https://www.googleapis.com/auth/youtube"


def test_a_sign_in_without_the_youtube_scope_pauses_then_resumes(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=120, playlists=4, seed=8) as (
            env,
            inst,
            clock,
        ):
            # The user signed in again and unticked "Manage your YouTube account".
            await asyncio.to_thread(
                issue_token_file,
                inst.state,
                inst.settings.token_file,
                base_url=inst.server.base_url,
                scope=NARROW_SCOPE,
            )
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                await eventually(paused_for(handle, "auth_required"), "auth_required")
                with inst.sessions() as session:
                    job = session.get_one(SyncJob, started.job_id)
                    status = job_status(
                        session, job, inst.settings, await env.get_current_time()
                    ).model_dump(mode="json")
                assert (status["stage"], status["pause_reason"]) == ("paused", "auth_required")
                assert status["paused_at_stage"] == "create_playlists"
                assert f"does not grant the YouTube scope ({SCOPE})" in status["pause_message"]
                assert status["errors"] == [], "a missing scope fails no item"
                assert writes(inst) == 0
                refused = [r for r in inst.state.requests() if r.status == 403]
                assert refused and all(r.units == 0 for r in refused)

                await asyncio.to_thread(sign_in_again, inst)
                await handle.signal(SyncWorkflow.resume)
                assert (await handle.result()).stage == "completed"
            with inst.sessions() as session:
                job = session.get_one(SyncJob, started.job_id)
                assert job.pause_message is None
            assert_library_as_planned(inst)

    asyncio.run(scenario())


def test_inserts_that_meet_the_404_after_creation_are_tried_again(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        # Far longer than the default, so the first inserts meet the 404 however slowly
        # the machine runs; the retries' waits pass on the test server's clock.
        window = 15 * NOT_FOUND_AFTER_CREATE_SECONDS
        async with time_skipping(
            tmp_path,
            database_url,
            videos=150,
            playlists=4,
            seed=9,
            not_found_after_create_seconds=window,
        ) as (env, inst, clock):
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
            not_yet = [
                r
                for r in inst.state.requests("playlistItems.insert")
                if r.status == 404 and r.fault is None
            ]
            assert not_yet, "the emulator should have answered 404 right after a creation"
            with inst.sessions() as session:
                job = session.get_one(SyncJob, started.job_id)
                status = job_status(
                    session, job, inst.settings, await env.get_current_time()
                ).model_dump(mode="json")
            messages = [e["message"] for e in status["errors"]]
            assert not [m for m in messages if "playlistNotFound" in m], messages
            assert_library_as_planned(inst)

    asyncio.run(scenario())


def mount_namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def worker_on_a_full_disk(
    target: str, inst: Installation, database_url: str
) -> subprocess.Popen[str]:
    """A worker whose token file sits on a full disk: a 16 KiB tmpfs, filled, in a
    mount namespace of its own.  Saving a refreshed sign-in fails with ENOSPC."""
    full = inst.tmp / "full"
    full.mkdir(exist_ok=True)
    script = (
        f'mount -t tmpfs -o size=16k tmpfs "{full}" && '
        f'cp "{inst.settings.token_file}" "{full}/token.json" && '
        f'(dd if=/dev/zero of="{full}/filler" bs=1k count=64 2>/dev/null || true) && '
        f'exec "{sys.executable}" -m tests.support.worker_process {target} --cached-workflows=0'
    )
    process = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", script],
        cwd=ROOT,
        env={
            **os.environ,
            "YTSYNC_DATABASE_URL": database_url,
            "YTSYNC_YOUTUBE_API_ENDPOINT": inst.settings.youtube_api_endpoint,
            "YTSYNC_TOKEN_FILE": str(full / "token.json"),
            "YTSYNC_OAUTH_TOKEN_URI": inst.settings.oauth_token_uri,
            "YTSYNC_TASK_QUEUE": inst.settings.task_queue,
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "worker ready"
    return process


def test_a_full_disk_under_the_workers_token_file_does_not_stop_the_job(
    tmp_path: Path, database_url: str
) -> None:
    """The worker cannot save a refreshed sign-in (ENOSPC): this machine's trouble, not
    YouTube's answer.  The token stays in the worker's memory, the job completes, and
    no write is sent twice."""
    if not mount_namespaces_work():
        pytest.skip("needs unshare -m and mount (root in a Linux container or VM)")

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=100, playlists=3, seed=10) as (
            env,
            inst,
            _clock,
        ):
            target = env.client.service_client.config.target_host
            # Every access token expires: the worker's first call refreshes, then saves.
            await asyncio.to_thread(inst.state.expire_all_access_tokens)
            worker = await asyncio.to_thread(worker_on_a_full_disk, target, inst, database_url)
            try:
                _started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
            finally:
                worker.kill()
                worker.wait()
            with inst.sessions() as session:
                made = session.query(Category).filter(Category.is_protected.is_(False)).count()
            applied = [r for r in inst.state.requests("playlists.insert") if r.applied]
            assert len(applied) == made
            assert_library_as_planned(inst)

    asyncio.run(scenario())
