"""`pause` and `resume` are Workflow Updates: the job says whether it takes them, and
answers with its state, which the CLI prints.  A request the job turns down (resume a
running job, pause it twice, pause a finished one) is a clear message and exit code 1.
With no worker to answer, the CLI does not hang: the request goes as a signal, which the
job takes once a worker runs it.
"""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.support.harness import running_worker, start
from tests.support.jobs import time_skipping, use_cli_on
from tests.support.waiting import eventually
from workflows.sync import SyncWorkflow
from ytsync.cli.app import main as cli_main
from ytsync.cli.jobctl import send
from ytsync.db.models import SyncJob


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_pause_and_resume_answer_with_the_state_or_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path / 'ytsync.db'}"

    async def run(*argv: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(cli, *argv)

    async def scenario() -> None:
        async with time_skipping(
            tmp_path,
            database_url,
            videos=60,
            playlists=3,
            seed=41,
            daily_quota=1_000_000,
            # No 404 window after a playlist's creation: the held insert may be a lane's
            # first, and a batch the pause cancels that then fails retryably is lost by
            # the time-skipping test server (see test_pause.py).
            not_found_after_create_seconds=0.0,
        ) as (env, inst, clock):
            use_cli_on(
                monkeypatch, inst, database_url, env.client.service_client.config.target_host
            )
            # Inserts stay in flight until released: the job is running, not paused.
            hold = inst.state.hold_writes()
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                await eventually(lambda: bool(inst.state.busy), "an insert in flight", 60)

                code, out, err = await run("resume")
                assert code == 1, out + err
                assert f"job {started.job_id} is running (add_videos), not paused" in err

                code, out, err = await run("pause", "--json")
                assert code == 0, err
                answer = json.loads(out)
                assert answer["accepted"] is True
                assert answer["state"]["paused"] is True
                assert answer["state"]["stage"] == "add_videos"
                with inst.sessions() as session:
                    assert session.get_one(SyncJob, started.job_id).pause_requested_at

                code, out, err = await run("pause")
                assert code == 1, out + err
                assert "already pausing at your request" in err
                assert "'python starter.py resume' goes on" in err

                hold.release()

                async def paused() -> bool:
                    state = await handle.query(SyncWorkflow.state)
                    return state.pause_reason == "user"

                await eventually(paused, "the job to hold at the pause")
                code, out, err = await run("resume")
                assert code == 0, err
                assert "The job says: resuming at add_videos (was paused: user);" in out
                with inst.sessions() as session:
                    assert session.get_one(SyncJob, started.job_id).pause_requested_at is None
                assert (await handle.result()).stage == "completed"

            code, out, err = await run("pause")
            assert code == 1, out + err
            assert f"job {started.job_id} is completed: nothing to pause" in err

    asyncio.run(scenario())


def test_with_no_worker_the_request_waits_as_a_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path / 'ytsync.db'}"

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=30, playlists=2, seed=42) as (
            env,
            inst,
            clock,
        ):
            started, handle = await start(inst, env.client, await env.get_current_time())
            sent = await asyncio.wait_for(
                send(env.client, inst.sessions, "pause", timeout=0.5), timeout=30
            )
            assert sent.state is None
            with inst.sessions() as session:
                assert session.get_one(SyncJob, started.job_id).pause_requested_at

            async with running_worker(env.client, inst, clock):

                async def paused() -> bool:
                    state = await handle.query(SyncWorkflow.state)
                    return state.pause_reason == "user"

                await eventually(paused, "the job to take the waiting pause")
                resumed = await send(env.client, inst.sessions, "resume")
                assert resumed.state is not None and not resumed.state.paused
                assert (await handle.result()).stage == "completed"

    asyncio.run(scenario())
