"""The units of one incremental organize run: a synced library, a few new videos.

    python bench/organize_reads.py [--videos 10000] [--new 20] [--uploads 500]
        [--db sqlite|postgres]

Builds the library in the in-process emulator, imports it and applies the sample plan,
then gives each category a playlist on the emulator holding its videos (the library as
a sync leaves it) and the channel ``--uploads`` uploads.  A first run reads the inbox
and the uploads whole (its uploads are then marked handled, as a run that wrote them
leaves them, without writing hundreds of copies); then ``--new`` videos arrive (half
saved to the inbox, half uploaded) and a second run reads only what is new, and writes
what its rules decide: the write stages' steps one after the other, as the workflow
runs them (the emulator's lists show writes at once here and the settle is 0: the
figures are units and requests, not the settle's wait).  Prints the units of each part
by API method, against what a full re-import would spend.  Figures only.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from datetime import UTC, datetime

import benchkit
from benchkit import figure, heading, timed
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync.channels import Channel
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import Category, CategoryVideo, OrganizeSeen, Video
from ytsync.importer import import_library
from ytsync.organize.read import read_sources
from ytsync.organize.steps import OrganizeJob
from ytsync.organize.wire import Finished, PlanInput, ReadInput
from ytsync.organize.write import plan_writes
from ytsync.plan import apply_plan
from ytsync.sync import operations as ops
from ytsync.sync.batches import Attempt
from ytsync.wire import BatchInput
from ytsync_emulator.sample import TOPICS, generate_library, sample_plan_rows
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox


def rules(categories: list[str]) -> str:
    """Shorts into the first category, a topic's words into its own, the rest stays."""
    parts = ['[sources]\ninbox = "Inbox"\nuploads = true\n']
    parts.append(f'[[rule]]\ncategory = "{categories[0]}"\nmax_duration = "60s"\n')
    for category in categories[1:]:
        topic = category.split(":")[0]
        if topic in TOPICS:
            parts.append(f'[[rule]]\ncategory = "{category}"\ntitle = "{topic}"\n')
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    heading(f"organize reads: {args.videos:,} videos, {args.new} new, {args.db}")
    figure("checkout", benchkit.checkout())
    # Lists show writes at once: the audits judge on their first round (the lag's cost
    # is the settle's wait, and a round of reads per lane when a lag outlasts it).
    state = EmulatorState(
        daily_limit=None, seed=1, list_lag_seconds=0.0, list_lag_jitter_seconds=0.0
    )
    generate_library(state, videos=args.videos, playlists=max(1, args.videos // 80), seed=1)
    for n in range(args.uploads):
        state.add_video(title=f"Episode {n}", own=True)
    with (
        benchkit.workdir("ytsync-bench-organize-") as tmp,
        sandbox.running_emulator(state, tmp / "token.json") as emulator,
        benchkit.fresh_database(args.db, tmp) as db,
    ):
        engine, sessions = sandbox.open_database(db.url)
        settings = sandbox.settings_for(emulator, db.url, daily_quota=1_000_000, settle_seconds=0.0)
        imported = import_library(settings, sessions)
        apply_plan(sessions, sandbox.write_plan(tmp / "plan.csv", sample_plan_rows(state, 1)))
        categories = _synced(state, sessions)
        state.add_playlist("Inbox")
        text = rules(categories)
        heading("library")
        figure("videos imported", imported.videos)
        figure("a full re-import would read", imported.units_spent, "units")
        figure("category playlists", len(categories))
        figure("uploads", len(state.playlist_items(state.uploads_id)))

        state.clear_log()
        with timed() as elapsed:
            first = read_sources(settings, sessions, ReadInput("bench-1", text, "rules.toml"))
        _report("first run (the uploads read whole)", first.read_units, elapsed(), state)

        # A run that wrote what its rules decided leaves those uploads handled, and the
        # next run reads past them.
        with transaction(sessions) as session:
            session.execute(update(OrganizeSeen).values(handled=True))
        inbox = next(p for p in state.iter_playlists() if p.title == "Inbox")
        for n in range(args.new):
            topic = list(TOPICS)[n % len(TOPICS)]
            if n % 2:
                state.add_video(title=f"{topic} upload {n}", own=True)
            else:
                video = state.add_video(title=f"{topic} saved {n}")
                state.add_item(inbox.id, video.id)
        state.clear_log()
        with timed() as elapsed:
            second = read_sources(
                settings, sessions, ReadInput("bench-2", text, "rules.toml", dry_run=False)
            )
        _report(f"incremental run ({args.new} new videos)", second.read_units, elapsed(), state)
        figure("  decided", dict(sorted((k, v) for k, v in second.counts.items() if v)))
        matched = second.counts.get("move", 0) + second.counts.get("copy", 0)
        figure(
            "  floor: channel, playlists, a page per source, videos.list, a lookup per placed",
            1
            + math.ceil(len(list(state.iter_playlists())) / 50)
            + 2
            + math.ceil(args.new / 50)
            + matched
            + second.counts.get("present", 0)
            + second.counts.get("remove", 0),
            "units",
        )

        state.clear_log()
        with timed() as elapsed:
            finished = _write(settings, sessions, second.run_id)
        _report_writes(finished, elapsed(), state)
        engine.dispose()
    return 0


def _write(settings: Settings, sessions: sessionmaker[Session], run_id: int) -> Finished:
    """The write stages of run ``run_id``, step by step as OrganizeWorkflow runs them."""
    workflow_id = "bench-2"
    job_id = plan_writes(sessions, PlanInput(workflow_id, run_id), datetime.now(UTC)).job_id
    attempt = Attempt(workflow_id, 1, lambda: None, lambda: False, time.sleep, lambda: None)
    job = OrganizeJob.on(
        Channel("bench", settings, sessions), job_id, lambda: datetime.now(UTC), attempt
    )
    with sessions() as session:
        lanes = ops.open_lanes(session, job_id, ops.ADD, ops.UNSENT)
    for lane in lanes:
        job.add_videos(BatchInput(job_id, 200, category_id=lane, settle=True))
    while lanes := job.plan_audits().lanes:
        for lane in lanes:
            job.audit_lane(BatchInput(job_id, 200, category_id=lane, settle=True))
    job.verify_inbox()
    job.remove_from_inbox(BatchInput(job_id, 200))
    return job.finish()


def _report_writes(finished: Finished, seconds: float, state: EmulatorState) -> None:
    heading("its writes (add, audit, verify, remove from the inbox)")
    figure("did", finished.results)
    units = Counter[str]()
    for r in state.requests():
        units[r.method] += r.units
    figure("units", sum(units.values()))
    for method, count in sorted(Counter(r.method for r in state.requests()).items()):
        figure(f"  {method}", count, f"requests, {units[method]:,} units")
    writes = sum(1 for r in state.requests() if r.method.endswith((".insert", ".delete")))
    reads = sum(units.values()) - 50 * writes
    figure("  reads beside the writes (audits, verify)", reads, "units")
    figure("wall time (no settle)", seconds, "s")


def _synced(state: EmulatorState, sessions: sessionmaker[Session]) -> list[str]:
    """Each unprotected category gets a playlist holding its planned videos."""
    names: list[str] = []
    with transaction(sessions) as session:
        rows = session.execute(
            select(Category.id, Category.name, Category.is_protected, Video.youtube_id)
            .join(CategoryVideo, CategoryVideo.category_id == Category.id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .order_by(Category.id, CategoryVideo.position)
        ).all()
        planned: dict[tuple[int, str, bool], list[str]] = {}
        for category_id, name, protected, youtube_id in rows:
            planned.setdefault((category_id, name, protected), []).append(youtube_id)
        for (category_id, name, protected), videos in planned.items():
            if protected:
                continue
            playlist = state.add_playlist(name, video_ids=videos)
            session.execute(
                update(Category)
                .where(Category.id == category_id)
                .values(youtube_playlist_id=playlist.id, created_at=datetime.now(UTC))
            )
            names.append(name)
    return names


def _report(title: str, units: int, seconds: float, state: EmulatorState) -> None:
    heading(title)
    figure("read units", units)
    for method, count in sorted(Counter(r.method for r in state.requests()).items()):
        figure(f"  {method}", count, "requests")
    figure("wall time", seconds, "s")


if __name__ == "__main__":
    raise SystemExit(main())
