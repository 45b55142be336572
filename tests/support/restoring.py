"""Syncs and their undoing, whole, under the time-skipping test server: what the channel
looked like, the jobs run to their end, and a write hook that kills workers mid-write."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import Installation
from ytsync.cli.jobctl import StartedJob, start_job, start_restore
from ytsync.db.models import Category, SyncJob
from ytsync.importer import SPECIAL_PREFIXES
from ytsync.status import job_status
from ytsync.sync.undo import RestoreOptions
from ytsync_emulator.state import WriteVerdict

# One normal playlist: (title, description, privacy, its videos in order).
Entry = tuple[str, str, str, list[str]]
WRITES = (
    "playlists.insert",
    "playlists.update",
    "playlists.delete",
    "playlistItems.insert",
    "playlistItems.delete",
)


def library_of(inst: Installation) -> dict[str, Entry]:
    """Every normal playlist on the emulator: id -> (title, description, privacy, items)."""
    with inst.state.lock:
        return {
            pid: (p.title, p.description, p.privacy, [i.video_id for i in p.items])
            for pid, p in inst.state.playlists.items()
            if not p.special and not pid.startswith(SPECIAL_PREFIXES)
        }


def by_content(library: dict[str, Entry]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """The playlists whatever their ids: a recreated playlist has a new one."""
    return sorted((t, d, p, tuple(items)) for t, d, p, items in library.values())


def without(library: dict[str, Entry], videos: set[str]) -> dict[str, Entry]:
    """The library less some videos (deleted on YouTube: nothing can put them back)."""
    return {
        pid: (t, d, p, [v for v in items if v not in videos])
        for pid, (t, d, p, items) in library.items()
    }


def videos_in(library: dict[str, Entry]) -> set[str]:
    return {video for _t, _d, _p, items in library.values() for video in items}


def applied_writes(inst: Installation, since: int = 0) -> Counter[str]:
    """Writes YouTube applied and answered, by method, after request ``since``."""
    return Counter(
        r.method
        for r in inst.state.requests()
        if r.seq > since and r.method in WRITES and r.applied and r.status < 300
    )


def last_request(inst: Installation) -> int:
    requests = inst.state.requests()
    return requests[-1].seq if requests else 0


def made_playlists(inst: Installation) -> dict[str, str]:
    """Category name -> its playlist's id, for every category with one."""
    with inst.sessions() as session:
        rows = session.execute(
            select(Category.name, Category.youtube_playlist_id).where(
                Category.youtube_playlist_id.is_not(None)
            )
        ).all()
    return {name: str(playlist) for name, playlist in rows}


async def finished(
    env: WorkflowEnvironment, inst: Installation, started: StartedJob
) -> dict[str, Any]:
    """Wait for the job's end (completed); its ``status --json`` then."""
    result = await started.handle.result()
    assert result.stage == "completed"
    with inst.sessions() as session:
        job = session.get_one(SyncJob, started.job_id)
        now = await env.get_current_time()
        return job_status(session, job, inst.settings, now).model_dump(mode="json")


async def sync(
    env: WorkflowEnvironment, inst: Installation, strategy: str = "rebuild", **options: Any
) -> dict[str, Any]:
    settings = inst.settings.model_copy(update={"strategy": strategy})
    now = await env.get_current_time()
    started = await start_job(settings, inst.sessions, env.client, now=now, **options)
    return await finished(env, inst, started)


async def start_undo(
    env: WorkflowEnvironment,
    inst: Installation,
    *,
    order: str = "keep",
    undo: bool = False,
    **workflow_options: Any,
) -> StartedJob:
    return await start_restore(
        inst.sessions,
        env.client,
        inst.settings,
        None,
        options=RestoreOptions(order, undo),
        now=await env.get_current_time(),
        **workflow_options,
    )


async def restore(
    env: WorkflowEnvironment, inst: Installation, *, order: str = "keep", undo: bool = False
) -> dict[str, Any]:
    return await finished(env, inst, await start_undo(env, inst, order=order, undo=undo))


class KillPoints:
    """The emulator's write hook: holds the ``nth`` write of each ``method`` named, in
    flight, until the test has killed the worker that sent it; then YouTube applies it
    and its answer goes nowhere."""

    def __init__(self, points: list[tuple[str, int]]) -> None:
        self.points = points
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.reached = {point: threading.Event() for point in points}
        self.released = {point: threading.Event() for point in points}

    def hook(self, method: str) -> WriteVerdict:
        with self._lock:
            self._seen[method] += 1
            point = (method, self._seen[method])
        if point not in self.reached:
            return "answer"
        self.reached[point].set()
        self.released[point].wait(timeout=120)
        return "answer"


def vary_old_playlists(inst: Installation) -> None:
    """Give the old playlists each a privacy and a description of their own, as a real
    library has, so a restore that loses either shows."""
    with inst.state.lock:
        for number, playlist in enumerate(inst.state.playlists.values()):
            if not playlist.special:
                playlist.privacy = ("public", "unlisted", "private")[number % 3]
                playlist.description = f"Old text {number}" if number % 4 else ""
