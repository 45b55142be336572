"""How long a lane stops writing when its worker goes away: a deploy (SIGTERM) against a
crash (SIGKILL), on a throughput-bound job.

    python bench/shutdown_stall.py [--writes 2000] [--latency-ms 250] [--deploys 4]
        [--kills 2] [--db postgres|sqlite] [--only deploy|kill] [--seed 1]

For each scenario, from scratch: a sample library sized for about ``--writes`` writes,
served by the emulator in a process of its own that answers each insert
``--latency-ms`` later; unlimited quota (an extended quota: the job is bound by
YouTube's answer time, not by the daily reset); a real ``temporal server start-dev``;
worker processes (``tests/support/worker_process.py``, the real worker's stop).  During
the add_videos stage, at even steps of progress, a new worker is started and then the
old one gets SIGTERM (``deploy``, ``--deploys`` times) or SIGKILL (``kill``).

Printed per scenario: for every lane writing when its worker went away, the time from
the signal to that lane's next insert (from the emulator's request log), their median
and maximum; the job's wall time, start to result.  Request timeout and heartbeat
timeout are the defaults (60 s: a killed worker's lane waits 1.5 x 60 s for its lease).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed
from multi_worker import worker_env
from sqlalchemy import func, select

from tests.support.faultkit import WorkerProcess
from ytsync.cli.jobctl import start_job
from ytsync.db.models import SyncOperation
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox

# A lane counts as writing when it inserted this recently before the signal.
ACTIVE_WITHIN = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=250.0)
    parser.add_argument("--deploys", type=int, default=4)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--only", choices=("deploy", "kill"), default=None)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


@dataclass
class Outcome:
    scenario: str
    stalls: list[float]
    seconds: float
    writes: int


async def one_run(args: argparse.Namespace, scenario: str, events: int, tmp: Path) -> Outcome:
    heading(f"{scenario}: {events} time(s) during add_videos")
    state, rows, _planned = benchkit.library_for_writes(
        args.writes,
        seed=args.seed,
        videos_per_playlist=80,
        emulator=lambda: EmulatorState(
            daily_limit=None, seed=args.seed, write_latency=args.latency_ms / 1000
        ),
    )
    signalled: list[datetime] = []
    with (
        benchkit.emulator_process(state, tmp) as emulator,
        benchkit.fresh_database(args.db, tmp) as db,
        benchkit.dev_server(tmp) as server,
    ):
        settings = benchkit.unlimited_settings(emulator, db, server)
        engine, sessions = sandbox.prepare(settings, rows, tmp / "plan.csv")
        emulator.clear_log()
        client = await benchkit.connect_when_up(server.address, server.process)
        spawned = 0

        def new_worker() -> WorkerProcess:
            nonlocal spawned
            spawned += 1
            folder = tmp / f"worker-{spawned}"
            folder.mkdir()
            worker = WorkerProcess(server.address, worker_env(settings), folder)
            worker.spawn()
            return worker

        def added() -> tuple[int, int]:
            with sessions() as session:
                rows_ = session.execute(
                    select(SyncOperation.status, func.count())
                    .where(SyncOperation.kind == "add_video")
                    .group_by(SyncOperation.status)
                )
                counts = {status: int(n) for status, n in rows_}
            return counts.get("completed", 0), sum(counts.values())

        current = await asyncio.to_thread(new_worker)
        workers = [current]
        try:
            with timed() as elapsed:
                started = await start_job(settings, sessions, client, now=datetime.now(UTC))
                result_task = asyncio.ensure_future(started.handle.result())
                for number in range(1, events + 1):
                    target = number / (events + 1)
                    while True:
                        done, total = await asyncio.to_thread(added)
                        if total and done >= target * total:
                            break
                        if result_task.done():
                            raise RuntimeError("the job ended before all events fired")
                        await asyncio.sleep(0.2)
                    following = await asyncio.to_thread(new_worker)
                    workers.append(following)
                    signalled.append(datetime.now(UTC))
                    if scenario == "deploy":
                        code = await asyncio.to_thread(current.stop)
                        figure(f"worker {number} stopped by SIGTERM", f"exit {code}")
                    else:
                        current.kill()
                    current = following
                result = await result_task
            seconds = elapsed()
        finally:
            for worker in workers:
                worker.kill()
        engine.dispose()
        log = emulator.requests()

    inserts: dict[str, list[datetime]] = {}
    for r in log:
        if r.method == "playlistItems.insert" and r.playlist_id:
            inserts.setdefault(r.playlist_id, []).append(r.time)
    stalls = []
    for moment in signalled:
        for times in inserts.values():
            before = [t for t in times if t <= moment]
            after = [t for t in times if t > moment]
            if before and after and (moment - before[-1]).total_seconds() <= ACTIVE_WITHIN:
                stalls.append((after[0] - moment).total_seconds())
    writes = sum(benchkit.write_requests(log).values())
    figure("job result", f"{result.stage}, {result.done}/{result.total} operations")
    figure("writes", writes)
    figure("wall time, start -> result", seconds, "s")
    figure("lanes writing at a signal", len(stalls))
    if stalls:
        figure("lane stall, signal -> its next insert, median", statistics.median(stalls), "s")
        figure("lane stall, max", max(stalls), "s")
        figure("each", " ".join(f"{s:.1f}" for s in sorted(stalls)))
    return Outcome(scenario, stalls, seconds, writes)


async def main_async(args: argparse.Namespace) -> int:
    heading(
        f"lane stall after a worker goes away: about {args.writes:,} writes, {args.db}, "
        f"{args.latency_ms:.0f} ms per insert, unlimited quota"
    )
    figure("checkout", benchkit.checkout())
    plans = [("deploy", args.deploys), ("kill", args.kills)]
    outcomes = []
    with benchkit.workdir("ytsync-bench-stall-") as tmp:
        for scenario, events in plans:
            if args.only not in (None, scenario):
                continue
            folder = tmp / scenario
            folder.mkdir()
            started = time.monotonic()
            outcomes.append(await one_run(args, scenario, events, folder))
            figure("scenario took", time.monotonic() - started, "s")
    heading("summary")
    for o in outcomes:
        median = statistics.median(o.stalls) if o.stalls else float("nan")
        worst = max(o.stalls) if o.stalls else float("nan")
        figure(
            o.scenario,
            f"lanes wrote again {median:.1f} s (median) / {worst:.1f} s (max) after the signal; "
            f"{o.writes} writes in {o.seconds:.0f} s",
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
