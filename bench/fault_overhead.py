"""What a hostile API costs a job: wall time and read units, with and without faults.

    python bench/fault_overhead.py --writes 1000 [--faults 12] [--db sqlite|postgres]
        [--settle 3] [--lag 2] [--seed 1]

A sample library sized for about ``--writes`` writes is synced twice on a real
``temporal server start-dev`` with the worker in this process and unlimited quota:
once on a clean emulator, once with faults on every request (of ``--faults`` percent:
5/12 lost answers, 5/12 5xx, 2/12 429, as the issue's 5% + 5% + 2%).  Both runs have
the emulator's list lag and the same settle delay.  Printed per run: wall time from
start to result, writes, reads and their share of the units, the settled checks'
account, duplicates and missing videos on the emulator; then the ratio of wall times.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
from benchkit import figure, heading, timed

from ytsync.cli.jobctl import start_job
from ytsync.cli.worker import build_worker
from ytsync.db.models import SyncJob
from ytsync.importer import import_library
from ytsync.plan import apply_plan
from ytsync.quota import WRITE_COST
from ytsync.status import job_status
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox

# The hostile mix, as shares of --faults: lost answers, 5xx, 429.
MIX = (("lose_response", 5), ("error_5xx", 5), ("rate_limit_429", 2))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1000, help="about this many writes")
    parser.add_argument("--faults", type=float, default=12.0, help="percent of all requests")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="sqlite")
    parser.add_argument("--settle", type=float, default=3.0, help="YTSYNC_SETTLE_SECONDS")
    parser.add_argument("--lag", type=float, default=2.0, help="the emulator's list lag, s")
    parser.add_argument(
        "--jitter", type=float, default=0.0, help="more list lag, drawn per list call, s"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--idle", action="store_true", help="name each idle stretch: the requests around it"
    )
    return parser.parse_args(argv)


async def one_run(args: argparse.Namespace, tmp: Path, percent: float) -> dict[str, Any]:
    # Emulators from before the per-call lag have no jitter to set (and none to draw).
    jitter = {"list_lag_jitter_seconds": args.jitter} if _has_jitter() else {}
    state, rows, planned = benchkit.library_for_writes(
        args.writes,
        seed=args.seed,
        videos_per_playlist=40,
        emulator=lambda: EmulatorState(
            daily_limit=None, seed=args.seed, list_lag_seconds=args.lag, **jitter
        ),
    )
    run: dict[str, Any] = {"planned writes": sum(planned)}
    with (
        benchkit.emulator_process(state, tmp) as emulator,
        benchkit.fresh_database(args.db, tmp) as db,
        benchkit.dev_server(tmp) as server,
    ):
        settings = benchkit.unlimited_settings(emulator, db, server, settle_seconds=args.settle)
        engine, sessions = sandbox.open_database(db.url)
        # The import is not what is measured: it runs before the faults begin.
        import_library(settings, sessions)
        apply_plan(sessions, sandbox.write_plan(tmp / "plan.csv", rows))
        emulator.clear_log()
        for kind, share in MIX:
            if percent:
                probability = percent * share / sum(s for _k, s in MIX) / 100
                emulator.add_fault(method="*", kind=kind, probability=probability)
        client = await benchkit.connect_when_up(server.address, server.process)
        async with build_worker(client, settings):
            with timed() as elapsed:
                started = await start_job(settings, sessions, client, now=datetime.now(UTC))
                result = await started.handle.result()
            run["wall time, s"] = round(elapsed(), 1)
        with sessions() as session:
            job = session.get_one(SyncJob, started.job_id)
            status = job_status(session, job, settings, datetime.now(UTC))
        log = emulator.requests()
        duplicates = emulator.duplicates()
        engine.dispose()
    run["job"] = f"{result.stage}, {result.done}/{result.total} operations"
    writes = sum(benchkit.write_requests(log).values())
    units = sum(r.units for r in log)
    reads = units - WRITE_COST * sum(1 for r in log if r.units == WRITE_COST)
    run["writes applied (2xx)"] = writes
    run["requests"] = len(log)
    run["faults injected"] = sum(1 for r in log if r.fault)
    run["units, all"] = units
    run["read units"] = reads
    run["reads, share of units"] = f"{100 * reads / max(units, 1):.2f}%"
    audit = status.audit
    run["settled checks / rounds"] = f"{audit.checks} / {audit.rounds}"
    run["found after settle / sent again / duplicates removed"] = (
        f"{audit.found_after_settle} / {audit.sent_again} / {audit.duplicates_removed}"
    )
    run["settle in use, s"] = getattr(audit, "settle_seconds", args.settle)
    run["videos held twice in a playlist"] = sum(len(d) for d in duplicates.values())
    # Where the wall time goes: stretches in which YouTube heard nothing (retry
    # backoffs, settle timers, the workflow's own turns).
    ordered = sorted(log, key=lambda r: r.time)
    times = [r.time for r in ordered]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    idle = [gap for gap in gaps if gap >= 1.0]
    run["idle stretches of 1 s or more: count, total s"] = f"{len(idle)}, {sum(idle):.1f}"
    if args.idle:
        for n, gap in enumerate(gaps):
            if gap >= 1.0:
                before, after = ordered[n], ordered[n + 1]
                run[f"  idle {gap:.1f} s at +{(before.time - times[0]).total_seconds():.1f}"] = (
                    f"{before.method} {before.status} {before.fault or ''} -> "
                    f"{after.method} {after.status}"
                )
    run["first -> last request, s"] = round((times[-1] - times[0]).total_seconds(), 1)
    return run


def _has_jitter() -> bool:
    return "list_lag_jitter_seconds" in inspect.signature(EmulatorState).parameters


async def main_async(args: argparse.Namespace) -> int:
    heading(f"fault overhead: about {args.writes:,} writes, {args.db}")
    figure("checkout", benchkit.checkout())
    figure("settle / list lag", f"{args.settle} s / {args.lag} s")
    runs = {}
    for percent in (0.0, args.faults):
        with benchkit.workdir("ytsync-bench-faults-") as tmp:
            runs[percent] = await one_run(args, tmp, percent)
        heading(f"{percent:g}% faults")
        for key, value in runs[percent].items():
            figure(key, value)
    heading("comparison")
    clean, hostile = runs[0.0]["wall time, s"], runs[args.faults]["wall time, s"]
    figure(f"wall time with {args.faults:g}% faults / without", hostile / max(clean, 1e-9))
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
