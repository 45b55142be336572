"""End-to-end sync throughput with unlimited quota, against a plain client loop.

    python bench/sync_throughput.py --writes 10000 [--db postgres|sqlite] [--lanes N]
        [--batch N] [--seed 1] [--py-spy PATH] [--skip-plain]

Part 1: a sample library sized so that its sync makes about ``--writes`` writes
(playlist creations + video additions + playlist deletions) is imported into a fresh
database; a real ``temporal server start-dev`` runs as a subprocess (free ports,
headless, its SQLite file in a temp dir); the worker from ``ytsync.cli.worker.build_worker`` runs in
this process; the job is started with ``ytsync.cli.jobctl.start_job`` and awaited.  Quota is
unlimited on both sides (emulator ``daily_limit=None``; ``Settings(daily_quota=10**9,
quota_reserve=0)``).  Writes are counted from the emulator's request log; histories are
read from the server, run by run along the continue-as-new chain.

Part 2: a plain sequential loop of ``playlistItems.insert`` calls with
google-api-python-client (no ytsync code) against a fresh emulator, the same number of
calls, for comparison.

In both parts the emulator runs in a forked process of its own, as YouTube would be:
sharing this process's GIL would charge its CPU to whatever is being measured.

``--py-spy PATH`` samples this process with the py-spy binary at PATH during the sync
and prints the hottest functions (py-spy is not a project dependency; install it
anywhere, e.g. ``pip install --target /tmp/pyspy py-spy``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import benchkit
from benchkit import figure, heading, timed

from ytsync.cli.jobctl import start_job
from ytsync.cli.worker import build_worker
from ytsync.importer import import_library
from ytsync.plan import apply_plan
from ytsync.wire import SyncInput
from ytsync_emulator.model import RequestRecord
from ytsync_emulator.state import MAX_PLAYLIST_ITEMS, EmulatorState
from ytsync_sandbox import sandbox


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=10_000, help="about this many writes")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--lanes", type=int, default=None, help="SyncInput.lanes (default: the workflow's)"
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="SyncInput.batch_size (default: the workflow's)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--videos-per-playlist",
        type=int,
        default=80,
        help="library shape: playlists = videos / this (each old playlist is one delete)",
    )
    parser.add_argument("--py-spy", type=Path, default=None, help="path of a py-spy binary")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="the emulator answers each playlistItems.insert this much later (default 0)",
    )
    parser.add_argument("--skip-plain", action="store_true", help="skip the plain client loop")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- part 1


async def run_sync(args: argparse.Namespace, tmp: Path) -> tuple[int, float]:
    """The sync; returns (writes, writes per second end to end)."""
    heading(f"library sized for about {args.writes:,} writes")
    with timed() as elapsed:
        state, rows, (creates, adds, deletes) = benchkit.library_for_writes(
            args.writes,
            seed=args.seed,
            videos_per_playlist=args.videos_per_playlist,
            # The steady rate: YouTube's 404 right after a creation costs each lane one
            # retry a few seconds later, a start-up delay that is not throughput.
            emulator=lambda: EmulatorState(
                daily_limit=None,
                seed=args.seed,
                write_latency=args.latency_ms / 1000,
                not_found_after_create_seconds=0,
            ),
        )
    summary = state.summary()
    figure("videos in the library", summary["videos"])
    figure("normal playlists", summary["playlists"])
    figure("playlist items", summary["playlist_items"])
    figure("expected writes (create + add + delete)", f"{creates} + {adds:,} + {deletes:,}")
    figure("library build time", elapsed(), "s")

    with (
        benchkit.emulator_process(state, tmp) as emulator,
        benchkit.fresh_database(args.db, tmp) as db,
        benchkit.dev_server(tmp) as server,
    ):
        settings = benchkit.unlimited_settings(emulator, db, server)
        engine, sessions = sandbox.open_database(db.url)
        with timed() as elapsed:
            imported = import_library(settings, sessions)
            applied = apply_plan(sessions, sandbox.write_plan(tmp / "plan.csv", rows))
        figure("import + plan apply time (not part of the sync)", elapsed(), "s")
        figure("imported items / plan assignments", f"{imported.items:,} / {applied.assignments:,}")
        emulator.clear_log()

        client = await benchkit.connect_when_up(server.address, server.process)
        options: dict[str, Any] = {}
        if args.lanes is not None:
            options["lanes"] = args.lanes
        if args.batch is not None:
            options["batch_size"] = args.batch
        spy = benchkit.PySpy(args.py_spy, tmp)
        sql = benchkit.SqlCounter()
        postgres = db.kind == "postgres"
        waits = benchkit.PostgresWaits(db.name) if postgres else None
        pg_before = benchkit.postgres_stats(db.name) if postgres else {}
        worker = build_worker(client, settings)
        cpu_self, cpu_server = benchkit.cpu_seconds(), benchkit.cpu_seconds(server.process.pid)
        cpu_emulator = emulator.cpu_seconds()
        async with worker:
            spy.start()
            if waits is not None:
                waits.start()
            sql.counting = True
            with timed() as elapsed:
                started = await start_job(
                    settings, sessions, client, now=datetime.now(UTC), **options
                )
                result = await started.handle.result()
            sql.counting = False
            if waits is not None:
                waits.stop()
            spy.stop_and_report()
            cpu_self = benchkit.cpu_seconds() - cpu_self
            cpu_server = benchkit.cpu_seconds(server.process.pid) - cpu_server
            cpu_emulator = emulator.cpu_seconds() - cpu_emulator
            cpu_pg = benchkit.postgres_backend_cpu(db.name) if postgres else None
            pg_after = benchkit.postgres_stats(db.name) if postgres else {}
        seconds = elapsed()
        first_run = started.handle.first_execution_run_id or started.handle.run_id or ""
        histories = await benchkit.history_figures(client, started.workflow_id, first_run)
        engine.dispose()
        log = emulator.requests()

    writes = benchkit.write_requests(log)
    total = sum(writes.values())
    write_times = sorted(r.time for r in log if r.method in benchkit.WRITE_METHODS)
    heading("sync (dev server, in-process worker, unlimited quota)")
    figure("checkout", benchkit.checkout())
    figure("database", args.db)
    defaults = SyncInput(job_id=0)
    lanes = options.get("lanes", defaults.lanes)
    figure("lanes / batch size", f"{lanes} / {options.get('batch_size', defaults.batch_size)}")
    figure("job result", f"{result.stage}, {result.done:,}/{result.total:,} operations")
    figure("item errors", result.errors)
    figure("total writes (emulator log, 2xx)", total)
    for method in benchkit.WRITE_METHODS:
        figure(f"  {method}", writes.get(method, 0))
    attempts = sum(1 for r in log if r.method in benchkit.WRITE_METHODS)
    figure("write attempts incl. refused", attempts)
    reads = Counter(r.method for r in log if r.method.endswith(".list"))
    figure("read requests during the sync", sum(reads.values()))
    figure("wall time, start_job -> result", seconds, "s")
    figure("writes/s end to end", total / seconds)
    if len(write_times) > 1:
        span = (write_times[-1] - write_times[0]).total_seconds()
        figure("first -> last write", span, "s")
        figure("writes/s between first and last write", total / max(span, 1e-9))
        stage_figures(log, write_times[0])
        lane_figures(log, span)
    figure("CPU s, this process (worker + DB client)", cpu_self, "s")
    figure("CPU s, emulator process", cpu_emulator, "s")
    figure("CPU s, Temporal dev server", cpu_server, "s")
    if cpu_pg is not None:
        figure("CPU s, PostgreSQL backends of this database", cpu_pg, "s")
    figure("worker CPU ms per write", 1000 * cpu_self / max(total, 1), "ms")
    figure(
        "CPU s per write, worker + server + PostgreSQL",
        (cpu_self + cpu_server + (cpu_pg or 0)) / max(total, 1),
    )

    heading("database traffic during the sync")
    per_write = max(total, 1)
    for key in ("statements", "commits", "pool checkouts"):
        figure(f"{key} (this process)", sql.counts[key])
        figure("  per write", sql.counts[key] / per_write)
    for key, count in sorted(sql.counts.items()):
        if key.startswith("statement: "):
            figure(f"  {key.removeprefix('statement: ')} per write", count / per_write)
    if postgres:
        for key in ("xact_commit", "tup_updated", "tup_inserted", "tup_fetched"):
            delta = pg_after[key] - pg_before[key]
            figure(f"pg_stat_database {key} per write", delta / per_write)
    if waits is not None and waits.rounds:
        busy = sum(waits.samples.values())
        figure("pg_stat_activity samples (every 50 ms)", waits.rounds)
        figure("mean non-idle backends of this database", busy / waits.rounds)
        for what, count in waits.samples.most_common(8):
            figure(f"  {what}", f"{100 * count / max(busy, 1):.1f}% of busy samples")

    benchkit.report_histories(histories, total, each_run=True)
    return total, total / seconds


def stage_figures(log: list[RequestRecord], start: datetime) -> None:
    """When each kind of write ran, from the first write on: where the time goes."""
    for method in benchkit.WRITE_METHODS:
        times = [r.time for r in log if r.method == method]
        if times:
            first = (min(times) - start).total_seconds()
            last = (max(times) - start).total_seconds()
            rate = len(times) / max(last - first, 1e-9)
            when = f"{first:.2f} -> {last:.2f} s, {rate:,.0f}/s"
            figure(f"  {method}: first -> last, rate", when)


def lane_figures(log: list[RequestRecord], span: float) -> None:
    """How busy the lanes were: one write at a time per playlist is YouTube's rule, so
    the largest playlist's own pace bounds the whole add stage."""
    by_playlist: dict[str, list[datetime]] = defaultdict(list)
    for record in log:
        if record.method == "playlistItems.insert" and record.playlist_id:
            by_playlist[record.playlist_id].append(record.time)
    if not by_playlist or span <= 0:
        return
    spans = {pid: (max(t) - min(t)).total_seconds() for pid, t in by_playlist.items()}
    figure("playlists written (lanes)", len(by_playlist))
    figure("mean playlists in progress at once", sum(spans.values()) / span)
    largest = max(by_playlist, key=lambda pid: len(by_playlist[pid]))
    count = len(by_playlist[largest])
    figure("largest playlist: inserts / seconds", f"{count} / {spans[largest]:.2f} s")
    figure("largest playlist: inserts/s within its lane", count / max(spans[largest], 1e-9))
    times = sorted(by_playlist[largest])
    gaps = sorted((b - a).total_seconds() for a, b in pairwise(times))
    if gaps:
        figure("  median gap between its inserts", 1000 * gaps[len(gaps) // 2], "ms")
        long = [g for g in gaps if g > 0.02]
        figure("  gaps over 20 ms (batch ends, retries)", f"{len(long)}, {sum(long):.2f} s in all")


# --------------------------------------------------------------------------- part 2


def plain_loop(calls: int, tmp: Path, latency: float) -> float:
    """``calls`` sequential playlistItems.insert with a bare google-api-python-client."""
    state = EmulatorState(daily_limit=None, seed=2, write_latency=latency)
    per_playlist = MAX_PLAYLIST_ITEMS - 10
    playlists = [
        state.add_playlist(f"plain {k}").id for k in range(math.ceil(calls / per_playlist))
    ]
    videos = [state.add_video(title=f"video {k}").id for k in range(calls)]
    credentials = state.issue_credentials()  # before the fork: the child knows them too
    with benchkit.emulator_process(state, tmp) as emulator:
        youtube = benchkit.plain_client(emulator.endpoint, emulator.token_uri, credentials)
        with timed() as elapsed:
            for index, video_id in enumerate(videos):
                body = {
                    "snippet": {
                        "playlistId": playlists[index // per_playlist],
                        "resourceId": {"kind": "youtube#video", "videoId": video_id},
                    }
                }
                youtube.playlistItems().insert(part="snippet", body=body).execute()
        seconds = elapsed()
        done = benchkit.write_requests(emulator.requests())["playlistItems.insert"]
    heading("plain loop (google-api-python-client, sequential, fresh emulator)")
    figure("playlistItems.insert calls", done)
    figure("wall time", seconds, "s")
    figure("inserts/s", done / seconds)
    return done / seconds


async def main_async(args: argparse.Namespace) -> int:
    heading(f"sync throughput benchmark: about {args.writes:,} writes, {args.db}")
    with benchkit.workdir("ytsync-bench-sync-") as tmp:
        total, rate = await run_sync(args, tmp)
        if args.skip_plain or total == 0:
            return 0
        plain_rate = plain_loop(total, tmp, args.latency_ms / 1000)
    heading("comparison")
    figure("ytsync writes/s end to end", rate)
    figure("plain loop inserts/s", plain_rate)
    figure("ratio ytsync / plain", rate / plain_rate)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
