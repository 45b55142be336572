"""How well a multi-day sync packs its writes into quota periods.

    python bench/quota_days.py [--writes 1000] [--db sqlite|postgres] [--seed 1]

A sample library sized for about ``--writes`` writes is set up the way the tests do it
(``tests.harness.install``: emulator enforcing 10,000 units a day, default
``Settings`` quota 10,000 with 1,000 in reserve, import and sample plan), then synced on
the Temporal time-skipping test server with the worker and the emulator reading its
clock (``tests.harness.env_clock``), so the days of quota waits pass in seconds.

Prints the quota periods the sync used against the theoretical minimum, the units left
unspent in each period, read and write units, and how long after each quota reset the
first write went out (emulator request times against ``QuotaClock``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.harness import Installation, env_clock, install, running_worker, start
from ytsync import ledger
from ytsync.db.models import QuotaLedger, SyncJob
from ytsync.emulator.state import EmulatorState
from ytsync.quota import WRITE_COST

DAILY_QUOTA = 10_000
RESERVE = 1_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1_000, help="about this many writes")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--videos-per-playlist", type=int, default=80)
    return parser.parse_args(argv)


@dataclass
class Period:
    start: datetime
    import_reads: int = 0
    sync_reads: int = 0
    write_units: int = 0
    writes: int = 0
    refused: int = 0
    first_write: datetime | None = None
    ledger_used: int = 0
    exhausted: bool = False
    methods: dict[str, int] = field(default_factory=dict)


def library_size(args: argparse.Namespace) -> tuple[int, int, tuple[int, int, int]]:
    """(videos, playlists) of a sample library whose sync makes about ``--writes`` writes."""
    state, _rows, counts = benchkit.library_for_writes(
        args.writes,
        seed=args.seed,
        videos_per_playlist=args.videos_per_playlist,
        emulator=lambda: EmulatorState(daily_limit=None),
    )
    summary = state.summary()
    return summary["videos"], summary["playlists"], counts


async def scenario(args: argparse.Namespace, db_url: str, tmp: Path) -> None:
    videos, playlists, (creates, adds, deletes) = library_size(args)
    heading(f"library sized for about {args.writes:,} writes")
    figure("videos / normal playlists", f"{videos:,} / {playlists:,}")
    figure("expected writes (create + add + delete)", f"{creates} + {adds:,} + {deletes:,}")

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(benchkit.TEST_SERVER)
    ) as env:
        clock = env_clock(env, asyncio.get_running_loop())
        inst = await asyncio.to_thread(
            install,
            tmp,
            db_url,
            clock,
            videos=videos,
            playlists=playlists,
            seed=args.seed,
            daily_quota=DAILY_QUOTA,
            quota_reserve=RESERVE,
            emulator_limit=DAILY_QUOTA,
        )
        try:
            import_seq = len(inst.state.requests())
            start_time = await env.get_current_time()
            with inst.sessions() as session:
                remaining_at_start = ledger.remaining(
                    session,
                    inst.settings.quota_clock.period_start(start_time),
                    inst.settings.usable_quota,
                )
            with timed() as elapsed:
                async with running_worker(env.client, inst, clock):
                    started, handle = await start(inst, env.client, start_time)
                    result = await handle.result()
            end_time = await env.get_current_time()
            report(inst, started.job_id, import_seq, start_time, end_time, remaining_at_start)
            heading("run")
            figure("job result", f"{result.stage}, {result.done:,}/{result.total:,} operations")
            figure("item errors", result.errors)
            figure("simulated time, start -> completed", str(end_time - start_time))
            figure("wall time of the sync (time-skipping)", elapsed(), "s")
        finally:
            inst.server.stop()


def report(
    inst: Installation,
    job_id: int,
    import_seq: int,
    start_time: datetime,
    end_time: datetime,
    remaining_at_start: int,
) -> None:
    clock = inst.settings.quota_clock
    usable = inst.settings.usable_quota
    periods: dict[datetime, Period] = {}

    def period_of(moment: datetime) -> Period:
        key = clock.period_start(moment)
        return periods.setdefault(key, Period(key))

    for record in inst.state.requests():
        if record.method == "oauth.token":
            continue
        entry = period_of(record.time)
        if record.status == 403 and record.units == 0:
            entry.refused += 1
            continue
        if record.method in benchkit.WRITE_METHODS:
            entry.write_units += record.units
            if record.status < 300:
                entry.writes += 1
                if entry.first_write is None or record.time < entry.first_write:
                    entry.first_write = record.time
        elif record.seq <= import_seq:
            entry.import_reads += record.units
        else:
            entry.sync_reads += record.units
    with inst.sessions() as session:
        for row in session.scalars(select(QuotaLedger)):
            entry = period_of(row.period_start)
            entry.ledger_used, entry.exhausted = int(row.units_used), bool(row.exhausted)
        job = session.get_one(SyncJob, job_id)
        preview_periods = job.preview.get("quota_periods_needed")
        job_quota_used = job.quota_used

    used = sorted((p for p in periods.values() if p.writes or p.sync_reads), key=lambda p: p.start)
    write_units = sum(p.write_units for p in periods.values())
    sync_reads = sum(p.sync_reads for p in periods.values())
    import_reads = sum(p.import_reads for p in periods.values())
    per_period = usable // WRITE_COST * WRITE_COST
    first_slice = min(write_units, remaining_at_start // WRITE_COST * WRITE_COST)
    minimum = (1 if first_slice else 0) + math.ceil((write_units - first_slice) / per_period)

    heading("quota periods (default quota: 10,000 a day, 1,000 reserve, midnight Pacific)")
    figure("usable units per period", usable)
    figure("remaining in the first period at job start", remaining_at_start)
    figure("quota periods used by the sync", len(used))
    figure("theoretical minimum", minimum)
    figure("  = first period's whole writes + ceil(rest / usable)", "")
    figure("preview's quota_periods_needed at start", str(preview_periods))
    figure("extra periods over the minimum", len(used) - minimum)
    heading("units")
    figure("import reads (before the job)", import_reads)
    figure("sync reads", sync_reads)
    figure("sync write units", write_units)
    figure("successful writes", sum(p.writes for p in periods.values()))
    figure("requests refused for quota (403, free)", sum(p.refused for p in periods.values()))
    figure("job.quota_used (the job's own ledger)", job_quota_used)

    heading("per period")
    print(
        f"  {'period start (UTC)':<24}{'imp.reads':>10}{'sync rd':>8}{'writes':>7}"
        f"{'w.units':>8}{'ledger':>8}{'unspent':>8}{'exh':>4}  reset -> first write"
    )
    wasted: list[int] = []
    previous: datetime | None = None
    delays: list[float] = []
    for index, entry in enumerate(used):
        spent = entry.ledger_used
        unspent = usable - spent
        last = index == len(used) - 1
        if not last:
            wasted.append(unspent)
        delay = ""
        if previous is not None and entry.first_write is not None:
            reset = clock.next_reset(previous)
            seconds = (entry.first_write - reset).total_seconds()
            delays.append(seconds)
            delay = f"{seconds:,.3f} s" + ("" if reset == entry.start else " (gap!)")
        print(
            f"  {benchkit.utc_from(entry.start):<24}{entry.import_reads:>10,}{entry.sync_reads:>8,}"
            f"{entry.writes:>7,}{entry.write_units:>8,}{spent:>8,}"
            f"{(str(unspent) + ('' if not last else '*')):>8}{'y' if entry.exhausted else '':>4}"
            f"  {delay or '(job start)'}"
        )
        previous = entry.start
    print("  * the last period: what is left is not waste")
    figure("units unspent, all periods but the last", sum(wasted))
    if wasted:
        figure("  mean per period", sum(wasted) / len(wasted))
        figure("  max in one period", max(wasted))
    if delays:
        figure("reset -> first write, mean", sum(delays) / len(delays), "s")
        figure("reset -> first write, max", max(delays), "s")
    figure(
        "job span (simulated)", f"{benchkit.utc_from(start_time)} -> {benchkit.utc_from(end_time)}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    heading(f"quota days benchmark: about {args.writes:,} writes, {args.db}")
    figure("checkout", benchkit.checkout())
    with (
        benchkit.workdir("ytsync-bench-quota-") as tmp,
        benchkit.fresh_database(args.db, tmp) as db,
    ):
        asyncio.run(scenario(args, db.url, tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
