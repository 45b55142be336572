"""A job that needs its owner says so exactly once, whatever happens to the workers: a
sync on a revoked sign-in pauses on auth_required; its message is tried while the
webhook is down, the worker is SIGKILLed between tries, the next one delivers it, and
the workers killed and started after that send nothing more.  Once the owner signs in
again and resumes, the completion is the only other message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.client import Client

from tests.support.faultkit import WorkerProcess, wall_clock, worker_environ
from tests.support.harness import Installation, install
from tests.support.jobs import paused_for
from tests.support.waiting import eventually
from tests.support.webhook import Webhook, webhook
from workflows.sync import SyncWorkflow
from ytsync.cli.jobctl import start_job
from ytsync.db.models import Notification, SyncJob
from ytsync.devserver import running_dev_server
from ytsync.notify import outbox

CHECKED = "notifications of channel default: on (outbox checked)"


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_auth_required_is_delivered_once_through_worker_kills(
    database_url: str, tmp_path: Path
) -> None:
    inst = install(tmp_path, database_url, wall_clock, videos=60, playlists=3, seed=12)
    try:
        with webhook("down") as hook:
            asyncio.run(scenario(inst, database_url, tmp_path, hook))
    finally:
        inst.server.stop()


def row(inst: Installation, event: str) -> Notification | None:
    with inst.sessions() as session:
        found = session.scalars(select(Notification).where(Notification.event == event)).first()
        if found is not None:
            session.expunge(found)
        return found


async def scenario(inst: Installation, database_url: str, tmp: Path, hook: Webhook) -> None:
    await asyncio.to_thread(inst.state.revoke_refresh_tokens)
    await asyncio.to_thread(inst.state.expire_all_access_tokens)
    environ = worker_environ(inst, database_url) | {"YTSYNC_NOTIFY": hook.url}
    async with running_dev_server(
        db_file=tmp / "temporal.db", headless=True, log_file=tmp / "temporal.log"
    ) as server:
        worker = WorkerProcess(server.address, environ, tmp)
        try:
            await asyncio.to_thread(worker.spawn)
            client = await Client.connect(server.address)
            started = await start_job(inst.settings, inst.sessions, client, now=wall_clock())

            def tried_once() -> bool:
                found = row(inst, "auth_required:1")
                return found is not None and (found.status, found.attempts) == (
                    outbox.PENDING,
                    1,
                )

            await eventually(tried_once, "a first try while the webhook is down", limit=120)
            # The pause is the workflow's too (its set_stage reported done): a kill
            # now costs no activity timeout.
            await eventually(paused_for(started.handle, "auth_required"), "the pause")
            # Between two tries (the next is 10 s away), the worker dies.
            assert worker.kill()
            assert hook.seen() == 1 and hook.delivered() == []
            with hook.lock:
                hook.mode = "up"
            await asyncio.to_thread(worker.spawn)

            def sent() -> bool:
                found = row(inst, "auth_required:1")
                return found is not None and found.status == outbox.SENT

            await eventually(sent, "the message sent by the next worker", limit=120)
            # Two more workers killed and started: each checks the outbox at start and
            # finds nothing to send.
            for _ in range(2):
                assert worker.kill()
                await asyncio.to_thread(worker.spawn)
                await eventually(
                    lambda: CHECKED in worker.log_file().read_text(), "the outbox checked"
                )
            assert len(hook.titled("needs you to sign in again")) == 1

            # The owner signs in again and resumes: the job completes.
            await asyncio.to_thread(inst.sign_in_again)
            await started.handle.signal(SyncWorkflow.resume)
            assert (await asyncio.wait_for(started.handle.result(), 180)).stage == "completed"
            await eventually(lambda: len(hook.delivered()) == 2, "the completion message")
        finally:
            worker.kill()

    (auth,) = hook.titled("needs you to sign in again")
    assert f"job {started.job_id} on channel default" in auth["title"]
    assert "ytsync resume" in auth["message"]
    assert len(hook.titled(f"job {started.job_id} on channel default completed")) == 1
    with inst.sessions() as session:
        job = session.get_one(SyncJob, started.job_id)
        assert job.stage == "completed"
        events = sorted(session.scalars(select(Notification.event)))
    assert events == ["auth_required:1", "completed"]
