"""OrganizeWorkflow under the time-skipping test server: a run reads the sources and
says what it would do, waits on a durable timer while a sync runs, and fails naming
what the user must fix."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, update
from temporalio.client import WorkflowFailureError

from tests.support.harness import Installation, running_worker
from tests.support.jobs import time_skipping
from tests.support.organize import new_videos, rules_for, synced
from tests.support.waiting import eventually
from workflows.organize import OrganizeWorkflow
from ytsync.db.engine import transaction
from ytsync.db.models import OrganizeRun, SyncJob
from ytsync.organize.wire import OrganizeInput

LIBRARY = {"videos": 300, "playlists": 6, "seed": 3}


def organize_input(inst: Installation, rules: str) -> OrganizeInput:
    return OrganizeInput(rules=rules, rules_source="rules.toml", channel=inst.settings.channel)


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


@pytest.mark.timeout(240)
def test_a_run_that_writes_moves_and_copies(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, **LIBRARY) as (env, inst, clock):
            categories = await asyncio.to_thread(synced, inst)
            saved = await asyncio.to_thread(new_videos, inst, "saved")
            uploaded = await asyncio.to_thread(new_videos, inst, "upload", own=True)
            inbox = await asyncio.to_thread(
                inst.state.add_playlist,
                "Inbox",
                video_ids=[v.id for v in saved.short + saved.recipe + saved.other],
            )
            uploads_before = inst.state.playlist_items(inst.state.uploads_id)
            inst.state.clear_log()
            async with running_worker(env.client, inst, clock):
                handle = await env.client.start_workflow(
                    OrganizeWorkflow.run,
                    replace(organize_input(inst, rules_for(categories)), dry_run=False),
                    id="ytsync-organize-test-4",
                    task_queue=inst.settings.task_queue,
                )
                result = await handle.result()
            print(result)
            short, recipe = sorted(categories)[:2]
            assert inst.state.playlist_items(inbox.id) == [v.id for v in saved.other]
            for video in saved.short + uploaded.short:
                assert inst.state.playlist_items(categories[short]).count(video.id) == 1
            for video in saved.recipe + uploaded.recipe:
                assert inst.state.playlist_items(categories[recipe]).count(video.id) == 1
            assert inst.state.playlist_items(inst.state.uploads_id) == uploads_before
            assert result.summary.startswith("organize: 4 moved, ")

    asyncio.run(scenario())
