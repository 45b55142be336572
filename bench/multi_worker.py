"""Writes per second with 1, 2 and 4 worker processes on one task queue.

    python bench/multi_worker.py [--writes 600] [--workers 1,2,4] [--latency-ms 100]
        [--db postgres|sqlite] [--lanes N] [--batch N] [--seed 1]

For each worker count, from scratch: a sample library sized for about ``--writes``
writes, served by the emulator in a forked process of its own that answers each
``playlistItems.insert`` ``--latency-ms`` later (as YouTube takes its time); a fresh
database with the library imported and the sample plan applied; a real
``temporal server start-dev``; N worker processes (``tests/support/worker_process.py`` on the
wall clock, as on N hosts) polling one task queue.  The job is started with
``start_job`` and awaited.  Quota is unlimited on both sides.

Printed per count: writes, wall time from start to result, writes/s end to end and
between the first and the last write, how many activities each worker completed (from
the identities in the workflow history), the workers' CPU seconds; then one table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
from benchkit import figure, heading, timed
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from tests.support.faultkit import WorkerProcess
from ytsync.cli.jobctl import start_job
from ytsync.config import Settings
from ytsync.wire import SyncInput
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=600, help="about this many writes")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=100.0,
        help="the emulator answers each playlistItems.insert this much later (default 100)",
    )
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--lanes", type=int, default=None, help="SyncInput.lanes")
    parser.add_argument("--batch", type=int, default=None, help="SyncInput.batch_size")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


@dataclass
class Run:
    workers: int
    writes: int
    seconds: float
    between: float
    activities: list[int]
    cpu: list[float]


async def one_run(args: argparse.Namespace, count: int, tmp: Path) -> Run:
    heading(f"{count} worker process(es)")
    state, rows, _planned = benchkit.library_for_writes(
        args.writes,
        seed=args.seed,
        videos_per_playlist=80,
        emulator=lambda: EmulatorState(
            daily_limit=None, seed=args.seed, write_latency=args.latency_ms / 1000
        ),
    )
    with (
        benchkit.emulator_process(state, tmp) as emulator,
        benchkit.fresh_database(args.db, tmp) as db,
        benchkit.dev_server(tmp) as server,
    ):
        settings = benchkit.unlimited_settings(emulator, db, server)
        engine, sessions = sandbox.prepare(settings, rows, tmp / "plan.csv")
        emulator.clear_log()
        client = await benchkit.connect_when_up(server.address, server.process)

        workers = []
        for number in range(count):
            folder = tmp / f"worker-{count}-{number}"
            folder.mkdir()
            workers.append(WorkerProcess(server.address, worker_env(settings), folder))
        await asyncio.gather(*(asyncio.to_thread(w.spawn) for w in workers))
        try:
            pids = [w.pid or 0 for w in workers]
            cpu_before = [benchkit.cpu_seconds(pid) for pid in pids]
            options: dict[str, Any] = {}
            if args.lanes is not None:
                options["lanes"] = args.lanes
            if args.batch is not None:
                options["batch_size"] = args.batch
            with timed() as elapsed:
                started = await start_job(
                    settings, sessions, client, now=datetime.now(UTC), **options
                )
                result = await started.handle.result()
            seconds = elapsed()
            cpu = [
                benchkit.cpu_seconds(pid) - before
                for pid, before in zip(pids, cpu_before, strict=True)
            ]
            by_identity = await completions(client, started.handle)
        finally:
            for worker in workers:
                worker.kill()
        engine.dispose()
        log = emulator.requests()

    writes = sum(benchkit.write_requests(log).values())
    times = sorted(r.time for r in log if r.method in benchkit.WRITE_METHODS and r.status < 300)
    between = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    activities = [by_identity.get(f"{pid}@", 0) for pid in pids]
    figure("job result", f"{result.stage}, {result.done}/{result.total} operations")
    figure("writes (emulator log, 2xx)", writes)
    figure("wall time, start_job -> result", seconds, "s")
    figure("writes/s end to end", writes / seconds)
    figure("writes/s first -> last write", writes / max(between, 1e-9))
    figure("activities completed per worker", " ".join(map(str, activities)))
    figure("CPU s per worker", " ".join(f"{c:.1f}" for c in cpu))
    return Run(count, writes, seconds, between, activities, cpu)


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YTSYNC_", "TEMPORAL_"))}
    return env | {
        "YTSYNC_DATABASE_URL": settings.database_url,
        "YTSYNC_YOUTUBE_API_ENDPOINT": settings.youtube_api_endpoint,
        "YTSYNC_TOKEN_FILE": str(settings.token_file),
        "YTSYNC_OAUTH_TOKEN_URI": settings.oauth_token_uri,
        "YTSYNC_TASK_QUEUE": settings.task_queue,
        "YTSYNC_DAILY_QUOTA": str(settings.daily_quota),
        "YTSYNC_QUOTA_RESERVE": str(settings.quota_reserve),
    }


async def completions(client: Client, handle: WorkflowHandle[Any, Any]) -> Counter[str]:
    """Activities completed per worker, keyed by the pid part of the identity
    (``PID@host``), from every run of the workflow."""
    counts: Counter[str] = Counter()
    run_id = handle.first_execution_run_id or handle.run_id
    while run_id:
        following = None
        current = client.get_workflow_handle(handle.id, run_id=run_id)
        async for event in current.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                identity = event.activity_task_completed_event_attributes.identity
                counts[identity.partition("@")[0] + "@"] += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                attributes = event.workflow_execution_continued_as_new_event_attributes
                following = attributes.new_execution_run_id
        run_id = following
    return counts


async def main_async(args: argparse.Namespace) -> int:
    counts = [int(part) for part in args.workers.split(",") if part.strip()]
    defaults = SyncInput(job_id=0)
    lanes = args.lanes or defaults.lanes
    heading(
        f"multi-worker benchmark: about {args.writes:,} writes, {args.db}, "
        f"{args.latency_ms:.0f} ms per insert"
    )
    figure("checkout", benchkit.checkout())
    figure("lanes / batch size", f"{lanes} / {args.batch or defaults.batch_size}")
    figure("insert ceiling of the lanes (lanes x 1000 / latency)", lanes * 1000 / args.latency_ms)
    runs = []
    with benchkit.workdir("ytsync-bench-workers-") as tmp:
        for count in counts:
            folder = tmp / f"run-{count}"
            folder.mkdir()
            runs.append(await one_run(args, count, folder))
    heading("summary")
    for run in runs:
        figure(
            f"{run.workers} worker(s)",
            f"{run.writes} writes in {run.seconds:.1f} s: {run.writes / run.seconds:.1f} writes/s "
            f"end to end, {run.writes / max(run.between, 1e-9):.1f} first -> last write; "
            f"worker CPU {sum(run.cpu):.1f} s",
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
