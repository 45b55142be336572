"""A job's reads meet an answer they cannot read, or a listing that would never end:
the batch stops with one clear message for Temporal to retry later (as after any
passing fault), every page paid from the job's budget, and nothing is judged from
what was half read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.harness import install
from ytsync.db.engine import transaction
from ytsync.db.models import SyncJob
from ytsync.sync.budget import Budget
from ytsync.sync.reads import PagedReader
from ytsync.sync.writer import RetryLater
from ytsync.youtube.client import ReadRetry, YouTube
from ytsync.youtube.responses import MAX_PAGES


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    ("kind", "sends", "said"),
    [
        (
            "garbled_answer",
            3,
            "YouTube's answer to playlistItems.list could not be read: items.0: Input should "
            "be a JSON object",
        ),
        (
            "repeat_page_token",
            2,
            "YouTube's listing playlistItems.list does not end: page 2 gives the "
            "nextPageToken of an earlier page",
        ),
        (
            "endless_pages",
            MAX_PAGES["playlistItems.list"],
            "YouTube's listing playlistItems.list does not end: it goes on past 200 pages",
        ),
    ],
)
def test_a_read_that_cannot_be_trusted_stops_the_batch_with_its_reason(
    tmp_path: Path, database_url: str, kind: str, sends: int, said: str
) -> None:
    inst = install(tmp_path, database_url, videos=80, playlists=2, plan=False)
    with transaction(inst.sessions) as session:
        job = SyncJob(workflow_id="ytsync-job-reads", stage="delete_playlists")
        session.add(job)
        session.flush()
        job_id = job.id
    youtube = YouTube(
        inst.settings,
        read_retry=ReadRetry(attempts=3, first_wait=0.001, max_wait=0.001, jitter=0),
        sleep=lambda _seconds: None,
    )
    reader = PagedReader(youtube, Budget(inst.settings, inst.sessions, now, job_id))
    playlist = next(p for p in inst.state.iter_playlists() if len(p.items) > 1)
    inst.state.clear_log()
    inst.state.faults.add(kind=kind, method="playlistItems.list")  # type: ignore[arg-type]

    with pytest.raises(RetryLater) as stopped:
        reader.playlist_items(playlist.id)

    assert str(stopped.value).startswith(said)
    sent = inst.state.requests("playlistItems.list")
    assert len(sent) == sends
    # Every send was paid from the job's budget, re-sends included.
    assert reader.units == sends
