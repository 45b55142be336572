"""Recorded histories of real runs must replay against today's workflows.

A change that would break jobs already running (they can run for weeks) fails here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.organize import OrganizeWorkflow
from workflows.restore import RestoreWorkflow
from workflows.sync import SyncWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    names = {path.name.rsplit("-run", 1)[0] for path in HISTORIES}
    assert {"v1-multiday", "v1-pauses", "v1-restore", "v6-organize"} <= names
    assert sum("multiday" in p.name for p in HISTORIES) >= 2, "continue-as-new not recorded"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())

    async def replay() -> None:
        replayer = Replayer(workflows=[SyncWorkflow, RestoreWorkflow, OrganizeWorkflow])
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None

    asyncio.run(replay())
