"""OrganizeWorkflow under the time-skipping test server: a preview reads the sources and
says what it would do; a run that writes moves the inbox's videos into their categories
and copies the uploads, through lagging lists, lost answers and a killed worker; a run
waits on a durable timer while a sync runs, and fails naming what the user must fix."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from temporalio.client import WorkflowFailureError

from tests.support.harness import Installation, running_worker, start, worker_process
from tests.support.jobs import paused_for, time_skipping, use_cli_on, writes, writes_held
from tests.support.organize import assert_moved, new_videos, rules_for, synced
from tests.support.waiting import eventually
from workflows.organize import OrganizeWorkflow
from ytsync.cli.app import main as cli_main
from ytsync.db.engine import transaction
from ytsync.db.models import Category, OrganizeRun, QuotaLedger, SyncJob, SyncOperation
from ytsync.organize.runs import last_run
from ytsync.organize.wire import OrganizeInput
from ytsync.wire import SyncInput

LIBRARY = {"videos": 300, "playlists": 6, "seed": 3}


def organize_input(inst: Installation, rules: str, *, dry_run: bool = True) -> OrganizeInput:
    return OrganizeInput(
        rules=rules,
        rules_source="rules.toml",
        channel=inst.settings.channel,
        dry_run=dry_run,
        # Short heartbeats: a killed worker's batch is tried again within seconds.
        job=SyncInput(job_id=0, heartbeat_timeout_seconds=5.0),
    )


def run_row(inst: Installation) -> OrganizeRun | None:
    with inst.sessions() as session:
        return session.scalars(select(OrganizeRun).order_by(OrganizeRun.id.desc())).first()


@pytest.mark.timeout(180)
def test_a_run_reads_and_says_what_it_would_do(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, **LIBRARY) as (env, inst, clock):
            # In threads: the emulator reads the test server's clock through this loop.
            categories = await asyncio.to_thread(synced, inst)
            saved = await asyncio.to_thread(new_videos, inst, "saved")
            await asyncio.to_thread(
                inst.state.add_playlist,
                "Inbox",
                video_ids=[v.id for v in saved.short + saved.recipe + saved.other],
            )
            inst.state.clear_log()
            async with running_worker(env.client, inst, clock):
                handle = await env.client.start_workflow(
                    OrganizeWorkflow.run,
                    organize_input(inst, rules_for(categories)),
                    id="ytsync-organize-test-1",
                    task_queue=inst.settings.task_queue,
                )
                result = await handle.result()
            assert result.summary.startswith("organize (preview): 4 to move, ")
            assert result.counts["move"] == 4 and result.counts["unmatched"] >= 2
            row = run_row(inst)
            assert row is not None and (row.outcome, row.workflow_id) == (
                "planned",
                "ytsync-organize-test-1",
            )
            assert not any(
                r.method.endswith((".insert", ".delete", ".update")) for r in inst.state.requests()
            ), "a preview writes nothing"

    asyncio.run(scenario())


@pytest.mark.timeout(180)
def test_a_run_waits_while_a_sync_runs(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, **LIBRARY) as (env, inst, clock):
            categories = await asyncio.to_thread(synced, inst)
            await asyncio.to_thread(inst.state.add_playlist, "Inbox")
            with transaction(inst.sessions) as session:
                session.add(SyncJob(workflow_id="ytsync-job-7", stage="add_videos"))
            inst.state.clear_log()
            async with running_worker(env.client, inst, clock):
                handle = await env.client.start_workflow(
                    OrganizeWorkflow.run,
                    organize_input(inst, rules_for(categories)),
                    id="ytsync-organize-test-2",
                    task_queue=inst.settings.task_queue,
                )

                def waiting() -> bool:
                    row = run_row(inst)
                    return row is not None and row.outcome == "waiting"

                await eventually(waiting, "the run waiting for the sync")
                assert inst.state.requests() == [], "nothing is read while a sync runs"
                with transaction(inst.sessions) as session:
                    session.execute(update(SyncJob).values(stage="completed"))
                result = await handle.result()
            assert result.counts is not None and result.read_units > 0
            history = await handle.fetch_history()
            timers = [e for e in history.events if e.HasField("timer_started_event_attributes")]
            assert timers, "the wait is a durable timer"

    asyncio.run(scenario())


@pytest.mark.timeout(180)
def test_a_missing_inbox_fails_the_run_and_says_why(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, **LIBRARY) as (env, inst, clock):
            categories = await asyncio.to_thread(synced, inst)
            async with running_worker(env.client, inst, clock):
                handle = await env.client.start_workflow(
                    OrganizeWorkflow.run,
                    organize_input(inst, rules_for(categories)),
                    id="ytsync-organize-test-3",
                    task_queue=inst.settings.task_queue,
                )
                with pytest.raises(WorkflowFailureError) as failed:
                    await handle.result()
            assert "no playlist titled or with the id 'Inbox'" in str(failed.value.cause)
            row = run_row(inst)
            assert row is not None and row.outcome == "failed"
            assert row.message is not None and "'Inbox'" in row.message

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_run_moves_the_inbox_through_lost_answers_lag_and_a_killed_worker(
    tmp_path: Path, database_url: str
) -> None:
    """Lists lag up to 8 s (longer than the 5 s settle), a fifth of the inserts' answers
    and two removals' answers are lost, and the worker is killed with an insert in
    flight: every video the rules place is in its category once, out of the inbox, and
    nothing else moved."""
    lagging = {"list_lag_seconds": 2.0, "list_lag_jitter_seconds": 6.0, "settle_seconds": 5.0}

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, **LIBRARY, **lagging) as (env, inst, _c):
            state = inst.state
            categories = await asyncio.to_thread(synced, inst)
            short, recipe = sorted(categories)[:2]
            saved = await asyncio.to_thread(partial(new_videos, inst, "saved", count=4))
            uploaded = await asyncio.to_thread(partial(new_videos, inst, "upload", own=True))
            before = [v.id for v in saved.short + saved.recipe + saved.other + saved.deleted]
            inbox = await asyncio.to_thread(state.add_playlist, "Inbox", video_ids=before)
            uploads = state.playlist_items(state.uploads_id)
            state.faults.add(method="playlistItems.insert", kind="lose_response", probability=0.2)
            state.faults.add(method="playlistItems.delete", kind="lose_response", count=2)
            target = env.client.service_client.config.target_host
            spawn = partial(worker_process, target, inst, database_url)

            hold = state.hold_writes()
            first = await asyncio.to_thread(spawn)
            handle = await env.client.start_workflow(
                OrganizeWorkflow.run,
                organize_input(inst, rules_for(categories), dry_run=False),
                id="ytsync-organize-test-kill",
                task_queue=inst.settings.task_queue,
            )
            await eventually(lambda: writes_held(inst), "an insert to be in flight")
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
            hold.release()  # YouTube applies the write; its answer goes nowhere
            second = await asyncio.to_thread(spawn)
            try:
                result = await handle.result()
            finally:
                second.kill()
                second.wait()
            placed = {v.id: categories[short] for v in saved.short}
            placed |= {v.id: categories[recipe] for v in saved.recipe}
            await asyncio.to_thread(assert_moved, inst, inbox.id, before, placed)
            for video in uploaded.short:
                assert state.playlist_items(categories[short]).count(video.id) == 1
            for video in uploaded.recipe:
                assert state.playlist_items(categories[recipe]).count(video.id) == 1
            assert state.playlist_items(state.uploads_id) == uploads
            assert state.faults.summary().get("lose_response", 0) >= 2
            assert result.results.get("moved") == len(placed)
            assert result.summary.startswith(f"organize: {len(placed)} moved, ")
            with inst.sessions() as session:
                job = session.get_one(SyncJob, result.job_id)
                assert (job.kind, job.stage) == ("organize", "completed")

    asyncio.run(scenario())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_writes_only_after_the_sync_and_never_overspends(
    tmp_path: Path, database_url: str
) -> None:
    """A sync that takes several quota days, and a writing run started beside it: the
    run waits until the sync has ended, then moves; the two together never spend more
    than the usable quota of a period."""

    async def scenario() -> None:
        async with time_skipping(
            tmp_path, database_url, videos=100, playlists=3, seed=4, daily_quota=3_000
        ) as (env, inst, clock):
            state = inst.state
            with inst.sessions() as session:
                names = sorted(
                    session.scalars(select(Category.name).where(Category.is_protected.is_(False)))
                )
            saved = await asyncio.to_thread(new_videos, inst, "saved")
            before = [v.id for v in saved.short + saved.recipe + saved.other]
            inbox = await asyncio.to_thread(state.add_playlist, "Inbox", video_ids=before)
            rules = rules_for(dict.fromkeys(names, ""))
            async with running_worker(env.client, inst, clock):
                started, sync = await start(inst, env.client, await env.get_current_time())
                handle = await env.client.start_workflow(
                    OrganizeWorkflow.run,
                    organize_input(inst, rules, dry_run=False),
                    id="ytsync-organize-test-beside",
                    task_queue=inst.settings.task_queue,
                )
                assert (await sync.result()).stage == "completed"
                result = await handle.result()
            with inst.sessions() as session:
                synced_job = session.get_one(SyncJob, started.job_id)
                organize_job = session.get_one(SyncJob, result.job_id)
                categories = dict(
                    session.execute(select(Category.name, Category.youtube_playlist_id)).all()
                )
                first_write = session.scalar(
                    select(func.min(SyncOperation.sent_at)).where(
                        SyncOperation.job_id == result.job_id
                    )
                )
                periods = session.scalars(select(QuotaLedger)).all()
            assert synced_job.completed_at is not None and first_write is not None
            assert first_write > synced_job.completed_at, "no write while the sync ran"
            assert organize_job.stage == "completed"
            placed = {v.id: str(categories[names[0]]) for v in saved.short}
            placed |= {v.id: str(categories[names[1]]) for v in saved.recipe}
            await asyncio.to_thread(assert_moved, inst, inbox.id, before, placed)
            usable = inst.settings.usable_quota
            assert len(periods) >= 3, "the sync took several quota periods"
            for period in periods:
                assert period.units_used <= usable, (
                    f"{period.period_start} spent {period.units_used}"
                )
            for period_start, used in state.quota_usage().items():
                assert used <= usable, f"YouTube counted {used} units in {period_start}"
            history = await handle.fetch_history()
            timers = [e for e in history.events if e.HasField("timer_started_event_attributes")]
            assert timers, "the run waited on a durable timer"

    asyncio.run(scenario())


@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pause_and_resume_reach_a_writing_run_and_start_waits_for_it(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, **LIBRARY) as (env, inst, clock):
            state = inst.state
            categories = await asyncio.to_thread(synced, inst)
            saved = await asyncio.to_thread(new_videos, inst, "saved")
            before = [v.id for v in saved.short + saved.recipe + saved.other]
            inbox = await asyncio.to_thread(state.add_playlist, "Inbox", video_ids=before)
            use_cli_on(
                monkeypatch, inst, database_url, env.client.service_client.config.target_host
            )
            async with running_worker(env.client, inst, clock):
                hold = state.hold_writes()
                handle = await env.client.start_workflow(
                    OrganizeWorkflow.run,
                    organize_input(inst, rules_for(categories), dry_run=False),
                    id="ytsync-organize-test-pause",
                    task_queue=inst.settings.task_queue,
                )
                await eventually(lambda: writes_held(inst), "an insert to be in flight")
                code = await asyncio.to_thread(cli_main, ["pause", "--json"])
                paused = json.loads(capsys.readouterr().out)
                assert code == 0 and paused["accepted"] is True
                assert paused["workflow_id"] == "ytsync-organize-test-pause"
                # A sync is refused while the run holds the channel, and says why.
                code = await asyncio.to_thread(cli_main, ["start", "--yes", "--json"])
                assert code == 1 and "an organize run is writing" in capsys.readouterr().err
                hold.release()
                await eventually(paused_for(handle, "user"), "the run paused")
                written = writes(inst)
                await env.sleep(timedelta(days=1))
                assert writes(inst) == written, "a paused run writes nothing"
                code = await asyncio.to_thread(cli_main, ["schedule", "list"])
                capsys.readouterr()
                with inst.sessions() as session:
                    summary = last_run(session)
                assert summary is not None and "paused (user) at add_videos" in summary.summary
                assert await asyncio.to_thread(cli_main, ["resume", "--json"]) == 0
                result = await handle.result()
            placed = {v.id: categories[sorted(categories)[0]] for v in saved.short}
            placed |= {v.id: categories[sorted(categories)[1]] for v in saved.recipe}
            await asyncio.to_thread(assert_moved, inst, inbox.id, before, placed)
            assert result.results == {"moved": len(placed)}

    asyncio.run(scenario())
