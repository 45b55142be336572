"""A job's steps run without Temporal (ytsync.sync.batches): an activity only binds the
job's channel and its attempt, and turns what a step raises into a failure."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.harness import Installation
from tests.support.jobs import request_pause
from tests.support.writing import make_lane, statuses, wall_clock
from ytsync.channels import Channel
from ytsync.db.models import SyncJob, SyncOperation
from ytsync.sync.batches import Attempt, ChannelJob, WrongChannel
from ytsync.wire import BatchInput, PauseReason


def attempt(workflow_id: str) -> Attempt:
    return Attempt(
        workflow_id=workflow_id,
        number=1,
        heartbeat=lambda: None,
        stop_requested=lambda: False,
        sleep=time.sleep,
        paused=lambda: None,
    )


def channel_job(inst: Installation, job_id: int, workflow_id: str | None = None) -> ChannelJob:
    with inst.sessions() as session:
        owner = session.get_one(SyncJob, job_id).workflow_id
    channel = Channel("test", inst.settings, inst.sessions)
    return ChannelJob.on(channel, job_id, wall_clock, attempt(workflow_id or owner))


def lane_batch(inst: Installation, job_id: int, op_ids: list[int]) -> BatchInput:
    with inst.sessions() as session:
        category_id = session.get_one(SyncOperation, op_ids[0]).category_id
    return BatchInput(job_id, max_writes=1_000, category_id=category_id)


def test_a_batch_writes_its_lane_on_the_channel_it_is_given(
    tmp_path: Path, database_url: str
) -> None:
    inst, job_id, op_ids, _playlist = make_lane(tmp_path, database_url, wall_clock)
    job = channel_job(inst, job_id)
    result = job.add_videos(lane_batch(inst, job_id, op_ids))
    assert (result.done, result.remaining, result.stop) == (len(op_ids), 0, None)
    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))


def test_a_paused_job_answers_at_once_and_writes_nothing(tmp_path: Path, database_url: str) -> None:
    inst, job_id, op_ids, _playlist = make_lane(tmp_path, database_url, wall_clock)
    request_pause(inst, job_id, wall_clock())
    result = channel_job(inst, job_id).add_videos(lane_batch(inst, job_id, op_ids))
    assert (result.done, result.remaining, result.stop) == (0, len(op_ids), PauseReason.USER)
    assert statuses(inst, op_ids) == Counter(pending=len(op_ids))


def test_a_job_row_of_another_workflow_is_never_touched(tmp_path: Path, database_url: str) -> None:
    inst, job_id, _op_ids, _playlist = make_lane(tmp_path, database_url, wall_clock)
    with pytest.raises(WrongChannel, match="the job names the wrong channel"):
        channel_job(inst, job_id, workflow_id="ytsync-job-of-another-channel")
