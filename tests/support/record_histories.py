"""Record workflow histories for the replay tests:
``python -m tests.support.record_histories VERSION [multiday|pauses|restore|organize ...]``.

Run it when a workflow (SyncWorkflow, RestoreWorkflow, OrganizeWorkflow) changes shape
on purpose, and commit the new files next to the
old ones: the old ones stay, because jobs started before the change are still running.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.visibility import SearchAttributeCheck
from tests.support.harness import (
    TEST_SERVER,
    env_clock,
    install,
    running_worker,
    sign_in_again,
    start,
)
from tests.support.organize import new_videos, rules_for, synced
from workflows.organize import OrganizeWorkflow
from workflows.sync import SyncWorkflow
from ytsync.cli.jobctl import start_restore
from ytsync.organize.wire import OrganizeInput
from ytsync.search_attributes import ALL
from ytsync.sync.undo import RestoreOptions

OUT = Path(__file__).resolve().parents[1] / "workflows" / "histories"


async def save_runs(client: Client, handle: WorkflowHandle[Any, Any], name: str) -> list[Path]:
    """Every run of the workflow (it continues as new), oldest first."""
    saved = []
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    index = 1
    while run_id:
        run = client.get_workflow_handle(handle.id, run_id=run_id)
        history = await run.fetch_history()
        path = OUT / f"{name}-run{index}.json"
        path.write_text(history.to_json())
        saved.append(path)
        last = history.events[-1]
        attrs = last.workflow_execution_continued_as_new_event_attributes
        run_id = attrs.new_execution_run_id or None
        index += 1
    return saved


async def registered_search_attributes(client: Client) -> SearchAttributeCheck:
    """v5 on: the histories hold the search attributes' upserts.  The time-skipping
    server registers attributes but cannot list them, so the worker's check is told
    what was registered."""
    registered = {key.name: int(key.indexed_value_type) for key in ALL}
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                name: IndexedValueType.ValueType(kind) for name, kind in registered.items()
            },
        )
    )

    async def listed() -> dict[str, int]:
        return registered

    return SearchAttributeCheck(client, lister=listed)


Scenario = Callable[[WorkflowEnvironment, Path, str, SearchAttributeCheck], Awaitable[list[Path]]]


async def multiday(
    env: WorkflowEnvironment, tmp: Path, version: str, check: SearchAttributeCheck
) -> list[Path]:
    """A multi-day sync that continues as new, with faults on the way."""
    clock = env_clock(env, asyncio.get_running_loop())
    inst = await asyncio.to_thread(
        install, tmp, f"sqlite:///{tmp}/a.db", clock, videos=300, playlists=6, seed=21
    )
    inst.state.faults.add(method="playlistItems.insert", kind="lose_response", count=2)
    inst.state.faults.add(method="playlistItems.insert", kind="error_5xx", count=2)
    # v4 on: a lost creation, settled through its marker by the creation check.
    inst.state.faults.add(method="playlists.insert", kind="lose_response", count=1)
    try:
        async with running_worker(env.client, inst, clock, check):
            _job, handle = await start(
                inst, env.client, await env.get_current_time(), max_history_events=120
            )
            await handle.result()
            return await save_runs(env.client, handle, f"{version}-multiday")
    finally:
        inst.server.stop()


async def pauses(
    env: WorkflowEnvironment, tmp: Path, version: str, check: SearchAttributeCheck
) -> list[Path]:
    """A revoked sign-in and a user pause, each resumed; then (v3 on) a pause while
    inserts are in flight, which cancels the running batches (v5 on: asked for and
    resumed with the updates)."""
    clock = env_clock(env, asyncio.get_running_loop())
    inst = await asyncio.to_thread(
        install, tmp, f"sqlite:///{tmp}/b.db", clock, videos=80, playlists=3, seed=22
    )
    await asyncio.to_thread(inst.state.revoke_refresh_tokens)
    await asyncio.to_thread(inst.state.expire_all_access_tokens)
    try:
        async with running_worker(env.client, inst, clock, check):
            _job, handle = await start(inst, env.client, await env.get_current_time())
            while (await handle.query(SyncWorkflow.state)).pause_reason != "auth_required":
                await asyncio.sleep(0.05)
            await asyncio.to_thread(sign_in_again, inst)
            await handle.signal(SyncWorkflow.pause)
            await handle.signal(SyncWorkflow.resume)
            hold = inst.state.hold_writes()
            await handle.signal(SyncWorkflow.pause)
            while (await handle.query(SyncWorkflow.state)).pause_reason != "user":
                await asyncio.sleep(0.05)
            await handle.signal(SyncWorkflow.resume)
            while not inst.state.busy:
                await asyncio.sleep(0.05)
            await handle.execute_update(SyncWorkflow.pause_update)
            hold.release()
            while (await handle.query(SyncWorkflow.state)).pause_reason != "user":
                await asyncio.sleep(0.05)
            await handle.execute_update(SyncWorkflow.resume_update)
            await handle.result()
            return await save_runs(env.client, handle, f"{version}-pauses")
    finally:
        inst.server.stop()


async def restore(
    env: WorkflowEnvironment, tmp: Path, version: str, check: SearchAttributeCheck
) -> list[Path]:
    """A sync, then a restore of its backup (v6 on: a full undo, so the history holds
    the settled checks, the verification, the removals and the deletions)."""
    clock = env_clock(env, asyncio.get_running_loop())
    inst = await asyncio.to_thread(
        install, tmp, f"sqlite:///{tmp}/c.db", clock, videos=100, playlists=3, seed=23
    )
    try:
        async with running_worker(env.client, inst, clock, check):
            _job, handle = await start(inst, env.client, await env.get_current_time())
            await handle.result()
            started = await start_restore(
                inst.sessions,
                env.client,
                inst.settings,
                None,
                options=RestoreOptions(undo=True),
                now=await env.get_current_time(),
            )
            await started.handle.result()
            return await save_runs(env.client, started.handle, f"{version}-restore")
    finally:
        inst.server.stop()


async def organize(
    env: WorkflowEnvironment, tmp: Path, version: str, check: SearchAttributeCheck
) -> list[Path]:
    """An organize run that writes (v6 on): it moves the inbox's new videos into their
    categories and copies new uploads, one insert's and one removal's answer lost."""
    clock = env_clock(env, asyncio.get_running_loop())
    inst = await asyncio.to_thread(
        install, tmp, f"sqlite:///{tmp}/d.db", clock, videos=120, playlists=4, seed=24
    )
    categories = await asyncio.to_thread(synced, inst)
    saved = await asyncio.to_thread(new_videos, inst, "saved")
    await asyncio.to_thread(
        inst.state.add_playlist,
        "Inbox",
        video_ids=[v.id for v in saved.short + saved.recipe + saved.other],
    )
    await asyncio.to_thread(new_videos, inst, "upload", own=True)
    inst.state.faults.add(method="playlistItems.insert", kind="lose_response", count=1)
    inst.state.faults.add(method="playlistItems.delete", kind="lose_response", count=1)
    try:
        async with running_worker(env.client, inst, clock, check):
            handle = await env.client.start_workflow(
                OrganizeWorkflow.run,
                OrganizeInput(
                    rules=rules_for(categories),
                    rules_source="rules.toml",
                    dry_run=False,
                    schedule_id="ytsync-organize-default",
                    channel=inst.settings.channel,
                ),
                id="ytsync-organize-default-2026-12-08T03:00:00Z",
                task_queue=inst.settings.task_queue,
            )
            await handle.result()
            return await save_runs(env.client, handle, f"{version}-organize")
    finally:
        inst.server.stop()


SCENARIOS: dict[str, Scenario] = {
    "multiday": multiday,
    "pauses": pauses,
    "restore": restore,
    "organize": organize,
}


async def record(tmp: Path, version: str, names: list[str]) -> list[Path]:
    saved: list[Path] = []
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER)
    ) as env:
        check = await registered_search_attributes(env.client)
        for name in names:
            folder = tmp / name
            folder.mkdir()
            saved += await SCENARIOS[name](env, folder, version, check)
    return saved


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else "v1"
    names = sys.argv[2:] or list(SCENARIOS)
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in asyncio.run(record(Path(tmp), version, names)):
            print(path.relative_to(OUT.parent.parent), path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
