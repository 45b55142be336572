"""Search attributes on a real Temporal dev server, with and without them registered.

Where ytsync starts the server itself, the attributes are registered, and a job sets
them as it goes (only when a value changes); the static summary says what it does.
Where nobody registered them, the job runs all the same, the worker says so once, and
`starter.py temporal setup` registers them (again: nothing to do; of another type:
exit 1 naming it).
"""

from __future__ import annotations

import asyncio
import io
import logging
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from tests.support.harness import Installation, install, running_worker, start
from tests.support.waiting import eventually
from ytsync.cli.app import main as cli_main
from ytsync.cli.jobctl import send, sync_summary
from ytsync.db.models import SyncJob
from ytsync.devserver import running_dev_server
from ytsync.search_attributes import ALL, CHANNEL, PROGRESS, RESUME_AT, STAGE
from ytsync_emulator.clock import utc_now

NOT_REGISTERED = "search attributes not registered in namespace default"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


async def listed(client: Client, query: str) -> int:
    try:
        return (await client.count_workflows(query)).count
    except RPCError:
        return 0


def upserted_values(events: list[Any]) -> list[dict[str, bytes]]:
    """Each upsert event of a history: attribute name -> the value it set (raw)."""
    upserts = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            attributes = event.upsert_workflow_search_attributes_event_attributes
            fields = attributes.search_attributes.indexed_fields
            upserts.append({name: payload.data for name, payload in fields.items()})
    return upserts


async def small_library(tmp_path: Path, videos: int) -> Installation:
    database_url = f"sqlite:///{tmp_path / 'ytsync.db'}"
    # No 404 window after a playlist's creation: its 5 s "not yet" retry is not what
    # these tests are about (tests/ytsync/youtube/test_youtube_answers.py is).
    return await asyncio.to_thread(
        install,
        tmp_path,
        database_url,
        utc_now,
        videos=videos,
        playlists=3,
        not_found_after_create_seconds=0.0,
    )


@pytest.mark.timeout(180)
def test_a_job_sets_its_search_attributes_and_summary(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_dev_server(db_file=tmp_path / "temporal.db", headless=True) as server:
            client = await Client.connect(server.address, namespace=server.namespace)
            inst = await small_library(tmp_path, 60)
            try:
                async with running_worker(client, inst, utc_now):
                    started, handle = await start(inst, client, utc_now())
                    paused = await send(client, inst.sessions, "pause")
                    assert paused.state is not None and paused.state.paused

                    query = f'YtsyncStage = "paused" AND WorkflowId = "{started.workflow_id}"'

                    async def shown_paused() -> bool:
                        return await listed(client, query) == 1

                    await eventually(shown_paused, "the job listed as paused", 60)
                    assert await listed(client, f'YtsyncChannel = "{inst.settings.channel}"') == 1

                    described = await handle.describe()
                    with inst.sessions() as session:
                        preview = session.get_one(SyncJob, started.job_id).preview
                    summary = await described.static_summary()
                    assert summary == sync_summary(started.job_id, inst.settings.channel, preview)
                    assert f"{preview['videos_to_add']['count']:,} videos" in str(summary)
                    details = await described.static_details()
                    assert details and "**Videos to add:**" in details

                    await send(client, inst.sessions, "resume")
                    result = await asyncio.wait_for(handle.result(), timeout=120)
                    assert result.stage == "completed"
                    final = (await handle.describe()).typed_search_attributes
                    history = await handle.fetch_history()
            finally:
                inst.server.stop()
        assert final.get(STAGE) == "completed"
        assert final.get(PROGRESS) == 100
        assert final.get(CHANNEL) == inst.settings.channel
        assert final.get(RESUME_AT) is None
        # An upsert carries only what changed: none sets again what is already set.
        shown: dict[str, bytes] = {}
        upserts = upserted_values(list(history.events))
        assert upserts
        for values in upserts:
            assert all(shown.get(name) != data for name, data in values.items()), values
            shown |= values

    asyncio.run(scenario())


@pytest.mark.timeout(240)
def test_without_registered_attributes_jobs_run_and_setup_registers_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="ytsync.worker")

    async def scenario() -> None:
        async with running_dev_server(
            db_file=tmp_path / "temporal.db",
            headless=True,
            search_attributes=False,
            extra_args=["--namespace", "other"],
        ) as server:
            client = await Client.connect(server.address, namespace=server.namespace)
            inst = await small_library(tmp_path, 40)
            try:
                async with running_worker(client, inst, utc_now):
                    # Short runs: the worker checks the namespace again in every run.
                    started, handle = await start(inst, client, utc_now(), max_history_events=80)
                    result = await asyncio.wait_for(handle.result(), timeout=120)
                    described = await handle.describe()
            finally:
                inst.server.stop()
            assert result.stage == "completed"
            assert described.run_id != started.handle.first_execution_run_id, "one run only"
            assert all(described.typed_search_attributes.get(key) is None for key in ALL)
            warned = [r.getMessage() for r in caplog.records if NOT_REGISTERED in r.getMessage()]
            assert len(warned) == 1, warned
            assert "python starter.py temporal setup" in warned[0]

            monkeypatch.setenv("YTSYNC_TEMPORAL_ADDRESS", server.address)
            monkeypatch.setenv("YTSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
            code, out, err = await asyncio.to_thread(cli, "temporal", "setup")
            assert code == 0, err
            assert "Registered YtsyncStage, YtsyncChannel, YtsyncProgress, YtsyncResumeAt" in out
            code, out, err = await asyncio.to_thread(cli, "temporal", "setup")
            assert code == 0, err
            assert "Registered" not in out and "Already registered in namespace default" in out
            registered = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace="default")
            )
            for key in ALL:
                assert registered.custom_attributes[key.name] == int(key.indexed_value_type)

            # A namespace where the name is taken by another type: say which, exit 1.
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace="other",
                    search_attributes={
                        "YtsyncProgress": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    },
                )
            )
            monkeypatch.setenv("YTSYNC_TEMPORAL_NAMESPACE", "other")
            code, out, err = await asyncio.to_thread(cli, "temporal", "setup")
            assert code == 1, out
            assert "namespace other has YtsyncProgress as Keyword" in err

    asyncio.run(scenario())
