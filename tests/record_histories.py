"""Record workflow histories for the replay tests: ``python -m tests.record_histories``.

Run it when SyncWorkflow changes shape on purpose, and commit the new files next to the
old ones: the old ones stay, because jobs started before the change are still running.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.harness import TEST_SERVER, env_clock, install, running_worker, start
from workflows.sync import SyncWorkflow

OUT = Path(__file__).resolve().parent / "histories"


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


async def record(tmp: Path, version: str) -> list[Path]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER)
    ) as env:
        clock = env_clock(env, asyncio.get_running_loop())
        saved: list[Path] = []
        # A multi-day sync that continues as new several times, with faults on the way.
        inst = await asyncio.to_thread(
            install, tmp / "a", f"sqlite:///{tmp}/a.db", clock, videos=300, playlists=6, seed=21
        )
        inst.state.faults.add(method="playlistItems.insert", kind="lose_response", count=2)
        inst.state.faults.add(method="playlistItems.insert", kind="error_5xx", count=2)
        async with running_worker(env.client, inst, clock):
            _job, handle = await start(
                inst, env.client, await env.get_current_time(), max_history_events=120
            )
            await handle.result()
            saved += await save_runs(env.client, handle, f"{version}-multiday")
        inst.server.stop()
        # A user pause and a revoked sign-in, each resumed.
        inst = await asyncio.to_thread(
            install, tmp / "b", f"sqlite:///{tmp}/b.db", clock, videos=80, playlists=3, seed=22
        )
        await asyncio.to_thread(inst.state.revoke_refresh_tokens)
        await asyncio.to_thread(inst.state.expire_all_access_tokens)
        async with running_worker(env.client, inst, clock):
            _job, handle = await start(inst, env.client, await env.get_current_time())
            while (await handle.query(SyncWorkflow.state)).pause_reason != "auth_required":
                await asyncio.sleep(0.05)
            cid, secret, refresh = await asyncio.to_thread(inst.state.issue_credentials)
            from ytsync.emulator.credentials import write_token_file

            write_token_file(
                inst.settings.token_file,
                base_url=inst.server.base_url,
                client_id=cid,
                client_secret=secret,
                refresh_token=refresh,
            )
            await handle.signal(SyncWorkflow.pause)
            await handle.signal(SyncWorkflow.resume)
            await handle.signal(SyncWorkflow.pause)
            while (await handle.query(SyncWorkflow.state)).pause_reason != "user":
                await asyncio.sleep(0.05)
            await handle.signal(SyncWorkflow.resume)
            await handle.result()
            saved += await save_runs(env.client, handle, f"{version}-pauses")
        inst.server.stop()
        return saved


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else "v1"
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        (root / "b").mkdir()
        for path in asyncio.run(record(root, version)):
            print(path.relative_to(OUT.parent.parent), path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
