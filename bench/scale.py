"""A sync of tens of thousands of writes over many quota periods, worker in its own process.

    python bench/scale.py [--writes 50000] [--quota default|large] [--db sqlite|postgres]
        [--seed 1] [--no-cache]

A sample library sized for about ``--writes`` writes is set up the way the tests do it
(``ytsync_sandbox.sandbox.install``: the emulator in this process, import, sample plan), then
synced on the Temporal time-skipping test server by a worker in a separate process
(``tests.support.worker_process``, on the test server's clock), so its memory can be read from
``/proc/PID/status``.  ``--quota default`` (the default) is YouTube's 10,000 units a
day with ytsync's 1,000 reserve: 50,000 writes span about 280 quota periods, each a
durable timer the test server skips.  ``--quota large`` gives the emulator no limit and
the job 10**9 units a day, so the sync runs without a quota wait.  The worker caches
workflows as the real one does (``--no-cache``: none, as the kill tests run it).

Printed: wall time of the sync, writes, quota periods, workflow runs (continue-as-new
count), history events per write, the largest run's history (events, bytes), the worker
process's peak RSS (VmHWM) and CPU.

Import and preview of a 100,000-video library are measured by ``bench/import_preview.py``
(this script only times the import as set-up).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections import Counter
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import env_clock, start, worker_process
from ytsync.quota import WRITE_COST
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox.sandbox import install

LARGE_QUOTA = 10**9


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=50_000, help="about this many writes")
    parser.add_argument("--quota", choices=("default", "large"), default="default")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--videos-per-playlist", type=int, default=80)
    parser.add_argument(
        "--no-cache", action="store_true", help="worker without a workflow cache (no sticky)"
    )
    return parser.parse_args(argv)


def proc_status(pid: int) -> dict[str, float]:
    """VmHWM, VmRSS (MiB) and Threads of a running process."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) / 1024
        elif key == "Threads":
            found[key] = int(value)
    return found


async def scenario(args: argparse.Namespace, db_url: str, tmp: Path) -> None:
    large = args.quota == "large"
    with timed() as elapsed:
        state, _rows, (creates, adds, deletes) = benchkit.library_for_writes(
            args.writes,
            seed=args.seed,
            videos_per_playlist=args.videos_per_playlist,
            emulator=lambda: EmulatorState(daily_limit=None),
        )
    summary = state.summary()
    del state
    heading(f"library sized for about {args.writes:,} writes")
    figure("videos / normal playlists", f"{summary['videos']:,} / {summary['playlists']:,}")
    figure("expected writes (create + add + delete)", f"{creates} + {adds:,} + {deletes:,}")
    figure("sizing the library", elapsed(), "s")

    daily, reserve = (LARGE_QUOTA, 0) if large else (10_000, 1_000)
    # The worker process reads its settings from the environment.
    os.environ["YTSYNC_DAILY_QUOTA"] = str(daily)
    os.environ["YTSYNC_QUOTA_RESERVE"] = str(reserve)
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(benchkit.TEST_SERVER)
    ) as env:
        clock = env_clock(env, asyncio.get_running_loop())
        with timed() as elapsed:
            inst = await asyncio.to_thread(
                install,
                tmp,
                db_url,
                clock,
                videos=summary["videos"],
                playlists=summary["playlists"],
                seed=args.seed,
                daily_quota=daily,
                quota_reserve=reserve,
                emulator_limit=None if large else daily,
            )
        figure("set-up: import + plan apply", elapsed(), "s")
        import_seq = len(inst.state.requests())
        import_units = sum(inst.state.quota_usage().values())
        target = env.client.service_client.config.target_host
        worker = await asyncio.to_thread(
            worker_process, target, inst, db_url, cached_workflows=0 if args.no_cache else 100
        )
        try:
            idle = proc_status(worker.pid)
            start_time = await env.get_current_time()
            with timed() as elapsed:
                started, handle = await start(inst, env.client, start_time)
                result = await handle.result()
            seconds = elapsed()
            busy = proc_status(worker.pid)
            worker_cpu = benchkit.cpu_seconds(worker.pid)
        finally:
            worker.terminate()
            await asyncio.to_thread(worker.wait)
        first_run = handle.first_execution_run_id or handle.run_id or ""
        histories = await benchkit.history_figures(env.client, started.workflow_id, first_run)
        log = inst.state.requests()[import_seq:]
        inst.server.stop()

    writes = Counter(r.method for r in log if r.method in benchkit.WRITE_METHODS and r.status < 300)
    total = sum(writes.values())
    quota_clock = inst.settings.quota_clock
    periods = {quota_clock.period_start(r.time) for r in log if r.method in benchkit.WRITE_METHODS}
    last = max(r.time for r in log)
    heading(f"sync: {args.quota} quota, worker in its own process, {args.db}")
    figure("checkout", benchkit.checkout())
    figure(
        "quota",
        "1,000,000,000 a day, no reserve, emulator unlimited"
        if large
        else "10,000 a day, 1,000 reserve (YouTube's default), midnight Pacific",
    )
    figure("worker workflow cache", "none (no sticky)" if args.no_cache else "100 workflows")
    figure("job result", f"{result.stage}, {result.done:,}/{result.total:,} operations")
    figure("item errors", result.errors)
    figure("writes (emulator log, 2xx)", total)
    for method in benchkit.WRITE_METHODS:
        figure(f"  {method}", writes.get(method, 0))
    figure("sync read units", sum(r.units for r in log if r.method.endswith(".list")))
    figure("quota periods with writes", len(periods))
    if not large:
        # As in quota_days.py: the first period's whole writes after the import's reads,
        # then ceil(rest / usable).
        usable = (daily - reserve) // WRITE_COST * WRITE_COST
        write_units = sum(r.units for r in log if r.method in benchkit.WRITE_METHODS)
        first = min(write_units, (daily - reserve - import_units) // WRITE_COST * WRITE_COST)
        minimum = (1 if first else 0) + math.ceil((write_units - first) / usable)
        figure("  theoretical minimum", minimum)
        figure("  import read units (first period)", import_units)
    figure("simulated time, job start -> last request", str(last - start_time))
    figure("wall time, start_job -> result", seconds, "s")
    figure("writes/s (wall)", total / seconds)

    benchkit.report_histories(histories, total)

    heading("worker process")
    figure("peak RSS (VmHWM) at the end", busy["VmHWM"], "MiB")
    figure("RSS when ready, before the job", idle["VmRSS"], "MiB")
    figure("RSS at the end", busy["VmRSS"], "MiB")
    figure("threads at the end", int(busy["Threads"]))
    figure("CPU", worker_cpu, "s")
    figure("CPU per write", 1000 * worker_cpu / max(total, 1), "ms")
    figure("target: peak RSS under 250 MB", "met" if busy["VmHWM"] * 2**20 < 250e6 else "NOT met")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    heading(f"scale benchmark: about {args.writes:,} writes, {args.quota} quota, {args.db}")
    with (
        benchkit.workdir("ytsync-bench-scale-") as tmp,
        benchkit.fresh_database(args.db, tmp) as db,
    ):
        asyncio.run(scenario(args, db.url, tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
