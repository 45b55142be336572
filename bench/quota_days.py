"""Quota efficiency of a multi-day sync: ytsync against the naive script, side by side.

    python bench/quota_days.py [--writes 1000] [--db sqlite|postgres] [--seed 1]
        [--fault-rate 0.02] [--lag 2] [--fault-lag 5] [--no-faults] [--no-plain]

One sample library sized for about ``--writes`` writes is synced three times, each on a
fresh emulator that enforces 10,000 units a day (reset at midnight Pacific):

1. ytsync, set up the way the tests do it (``ytsync_sandbox.sandbox.install``: default
   ``Settings`` quota 10,000 with 1,000 in reserve, import, sample plan), on the Temporal
   time-skipping test server with the worker and the emulator reading its clock
   (``tests.support.harness.env_clock``), so days of quota waits pass in seconds;
2. the naive script (``bench/naive_sync.py``: google-api-python-client only, batches of
   10 writes, stop for the day below 1,000 units left, no reconciliation) on the same
   library and plan, starting at the same simulated moment with the same units already
   spent by the import; it reads "units left" from the emulator's counter (what the Cloud
   console shows) and jumps its clock (``benchkit.SimClock``) to the next reset when it
   stops, counting the skipped time;
3. ytsync again with faults injected by the emulator (lost answers, 5xx) after the import,
   and its lists lagging longer: what settling and auditing cost in reads and repairs.

Both ytsync runs use the product's settle delay (30 s) against an emulator whose lists
show writes ``--lag`` (``--fault-lag``) seconds late.

For each: quota periods used against the theoretical minimum (the first period's whole
writes given what the import left, then ``ceil(rest / usable)``), usable units left
unspent per period (all but the last), units spent on reads, how long after each reset
the first write went out, duplicates left on YouTube; then the targets, met or not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed
from naive_sync import NaiveResult, naive_sync
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import env_clock, running_worker, start
from ytsync import ledger
from ytsync.db.models import QuotaLedger, SyncJob
from ytsync.quota import WRITE_COST, QuotaClock
from ytsync.status import audit_summary
from ytsync_emulator.model import RequestRecord
from ytsync_emulator.sample import generate_library, sample_plan_rows
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox
from ytsync_sandbox.sandbox import install

DAILY_QUOTA = 10_000
RESERVE = 1_000
USABLE = DAILY_QUOTA - RESERVE


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1_000, help="about this many writes")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--videos-per-playlist", type=int, default=80)
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.02,
        help="probability of each injected fault kind per request in the fault run",
    )
    parser.add_argument(
        "--lag", type=float, default=2.0, help="list lag (s) of the run without faults"
    )
    parser.add_argument(
        "--fault-lag", type=float, default=5.0, help="list lag (s) of the run with faults"
    )
    parser.add_argument("--no-faults", action="store_true", help="skip the run with faults")
    parser.add_argument("--no-plain", action="store_true", help="skip the naive script")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- figures


@dataclass
class Period:
    start: datetime
    import_reads: int = 0
    sync_reads: int = 0
    write_units: int = 0
    writes: int = 0
    failed_writes: int = 0
    refused: int = 0
    free_errors: int = 0  # writes answered with an error that cost nothing (401)
    used: int = 0  # the emulator's counter for the period: every unit, anyone's
    first_write: datetime | None = None
    last_write: datetime | None = None
    ledger: str = ""  # ytsync's own ledger for the period, where there is one


@dataclass
class RunFigures:
    name: str
    periods: list[Period]  # first to last period the sync wrote in, idle ones included
    remaining_at_start: int
    import_reads: int
    sync_reads: int
    write_units: int
    writes: int
    failed_writes: int
    free_errors: dict[int, int]  # HTTP status -> writes refused at no cost (401: token)
    refused: int
    duplicates: int
    faults: dict[str, int] = field(default_factory=dict)
    notes: list[tuple[str, object]] = field(default_factory=list)
    # The settled checks' own account (ytsync runs only; see ytsync.status.audit_summary).
    audit: dict[str, int] = field(default_factory=dict)
    lag: float | None = None

    @property
    def repairs(self) -> int:
        return self.audit.get("sent_again", 0) + self.audit.get("duplicates_removed", 0)

    def per_thousand_writes(self, count: int) -> str:
        return f"{1000 * count / self.writes:.2f}" if self.writes else "-"

    @property
    def minimum(self) -> int:
        """Periods the write units need at best: the first period's whole writes given
        what it had left at the start, then full usable periods."""
        per_period = USABLE // WRITE_COST * WRITE_COST
        first = min(self.write_units, self.remaining_at_start // WRITE_COST * WRITE_COST)
        return (1 if first else 0) + math.ceil((self.write_units - first) / per_period)

    @property
    def unspent(self) -> list[int]:
        """Usable units not spent in each period but the last (negative: the reserve
        was dipped into)."""
        return [USABLE - p.used for p in self.periods[:-1]]

    @property
    def delays(self) -> list[float]:
        """Seconds from each reset to the first write after it (periods after the first
        with a write)."""
        return [
            (p.first_write - p.start).total_seconds()
            for p in self.periods[1:]
            if p.first_write is not None
        ]

    @property
    def total_units(self) -> int:
        return self.import_reads + self.sync_reads + self.write_units


def analyse(
    name: str,
    log: list[RequestRecord],
    usage: dict[datetime, int],
    clock: QuotaClock,
    *,
    import_seq: int,
    import_units: int,
    remaining_at_start: int,
    duplicates: int,
) -> RunFigures:
    """Per-period figures from an emulator's request log (requests after ``import_seq``
    are the sync's) and its quota counter."""
    periods: dict[datetime, Period] = {}
    free: dict[int, int] = {}

    def period_of(moment: datetime) -> Period:
        key = clock.period_start(moment)
        return periods.setdefault(key, Period(key))

    for record in log:
        if record.method == "oauth.token":
            continue
        entry = period_of(record.time)
        if record.status == 403 and record.units == 0:
            entry.refused += 1
            continue
        if record.seq <= import_seq:
            entry.import_reads += record.units
        elif record.method in benchkit.WRITE_METHODS:
            entry.write_units += record.units
            if record.status < 300:
                entry.writes += 1
                if entry.first_write is None or record.time < entry.first_write:
                    entry.first_write = record.time
                if entry.last_write is None or record.time > entry.last_write:
                    entry.last_write = record.time
            elif record.units:
                entry.failed_writes += 1
            else:
                entry.free_errors += 1
                free[record.status] = free.get(record.status, 0) + 1
        else:
            entry.sync_reads += record.units
    for moment, used in usage.items():
        period_of(moment).used = used
    active = sorted(
        p.start for p in periods.values() if p.writes or p.failed_writes or p.sync_reads
    )
    spanned: list[Period] = []
    if active:
        moment = active[0]
        while moment <= active[-1]:
            spanned.append(period_of(moment))
            moment = clock.next_reset(moment)
    return RunFigures(
        name=name,
        periods=spanned,
        remaining_at_start=remaining_at_start,
        import_reads=import_units,
        sync_reads=sum(p.sync_reads for p in periods.values()),
        write_units=sum(p.write_units for p in periods.values()),
        writes=sum(p.writes for p in periods.values()),
        failed_writes=sum(p.failed_writes for p in periods.values()),
        free_errors=dict(sorted(free.items())),
        refused=sum(p.refused for p in periods.values()),
        duplicates=duplicates,
    )


def duplicate_items(state: EmulatorState) -> int:
    """Playlist items beyond the first of each video in each playlist."""
    return sum(n - 1 for dupes in state.find_duplicates().values() for n in dupes.values())


def print_run(run: RunFigures) -> None:
    heading(f"{run.name}: per period (usable {USABLE:,} = {DAILY_QUOTA:,} - {RESERVE:,} reserve)")
    print(
        f"  {'period start (UTC)':<24}{'imp.rd':>7}{'sync rd':>8}{'writes':>7}{'failed':>7}"
        f"{'w.units':>8}{'used':>7}{'unspent':>8}{'ledger':>12}  reset -> first write"
    )
    for index, entry in enumerate(run.periods):
        last = index == len(run.periods) - 1
        unspent = f"{USABLE - entry.used:,}" + ("*" if last else "")
        if index == 0:
            delay = "(job start)"
        elif entry.first_write is None:
            delay = "no write (idle period)"
        else:
            delay = f"{(entry.first_write - entry.start).total_seconds():,.3f} s"
        print(
            f"  {benchkit.utc_from(entry.start):<24}{entry.import_reads:>7,}"
            f"{entry.sync_reads:>8,}{entry.writes:>7,}{entry.failed_writes:>7,}"
            f"{entry.write_units:>8,}{entry.used:>7,}{unspent:>8}{entry.ledger:>12}  {delay}"
        )
    print("  * the last period: what is left is not waste; negative: the reserve was spent")
    for label, value in run.notes:
        figure(label, value)


# --------------------------------------------------------------------------- ytsync


@dataclass
class Library:
    videos: int
    playlists: int
    expected: tuple[int, int, int]


def library_size(args: argparse.Namespace) -> Library:
    """A sample library whose sync makes about ``--writes`` writes."""
    state, _rows, counts = benchkit.library_for_writes(
        args.writes,
        seed=args.seed,
        videos_per_playlist=args.videos_per_playlist,
        emulator=lambda: EmulatorState(daily_limit=None),
    )
    summary = state.summary()
    return Library(summary["videos"], summary["playlists"], counts)


@dataclass
class Start:
    """Where the ytsync run began, so the naive script can begin at the same place."""

    moment: datetime
    import_units: int
    plan_rows: list[tuple[str, str, bool]]


def add_faults(state: EmulatorState, rate: float) -> None:
    faults = state.faults
    faults.add(method="playlists.insert", kind="lose_response", count=1)
    faults.add(method="playlistItems.insert", kind="lose_response", probability=rate)
    faults.add(method="playlistItems.insert", kind="lose_response_reset", probability=rate / 2)
    faults.add(method="playlistItems.insert", kind="error_5xx", probability=rate)
    faults.add(method="playlistItems.list", kind="error_5xx", probability=rate)
    faults.add(method="playlists.delete", kind="lose_response", count=1)


SETTLE_SECONDS = 30.0  # the product's default


async def ytsync_run(
    args: argparse.Namespace,
    library: Library,
    db_url: str,
    tmp: Path,
    *,
    fault_rate: float,
    lag: float,
) -> tuple[RunFigures, Start]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(benchkit.TEST_SERVER)
    ) as env:
        clock = env_clock(env, asyncio.get_running_loop())
        inst = await asyncio.to_thread(
            install,
            tmp,
            db_url,
            clock,
            videos=library.videos,
            playlists=library.playlists,
            seed=args.seed,
            daily_quota=DAILY_QUOTA,
            quota_reserve=RESERVE,
            emulator_limit=DAILY_QUOTA,
            list_lag_seconds=lag,
            settle_seconds=SETTLE_SECONDS,
        )
        try:
            import_seq = len(inst.state.requests())
            start_time = await env.get_current_time()
            quota_clock = inst.settings.quota_clock
            import_units = inst.state.quota_usage().get(quota_clock.period_start(start_time), 0)
            with inst.sessions() as session:
                remaining_at_start = ledger.remaining(
                    session, quota_clock.period_start(start_time), inst.settings.usable_quota
                )
            if fault_rate:
                add_faults(inst.state, fault_rate)
            with timed() as elapsed:
                async with running_worker(env.client, inst, clock):
                    started, handle = await start(inst, env.client, start_time)
                    result = await handle.result()
            log = inst.state.requests()
            run = analyse(
                "ytsync" + (f" with faults ({fault_rate:g})" if fault_rate else ""),
                log,
                inst.state.quota_usage(),
                quota_clock,
                import_seq=import_seq,
                import_units=sum(r.units for r in log[:import_seq]),
                remaining_at_start=remaining_at_start,
                duplicates=duplicate_items(inst.state),
            )
            run.faults = inst.state.faults.summary()
            with inst.sessions() as session:
                ledgers = {
                    row.period_start.replace(tzinfo=UTC): (int(row.units_used), row.exhausted)
                    for row in session.scalars(select(QuotaLedger))
                }
                job = session.get_one(SyncJob, started.job_id)
                preview_periods = job.preview.get("quota_periods_needed")
                job_quota_used = job.quota_used
                run.audit = audit_summary(session, job, inst.settings).model_dump()
            run.lag = lag
            for entry in run.periods:
                used, exhausted = ledgers.get(entry.start, (0, False))
                entry.ledger = f"{used:,}" + (" exh" if exhausted else "")
            last = max(r.time for r in log)
            run.notes = [
                ("job result", f"{result.stage}, {result.done:,}/{result.total:,} operations"),
                ("item errors", result.errors),
                ("preview's quota_periods_needed at start", str(preview_periods)),
                ("job.quota_used (the job's own ledger)", job_quota_used),
                ("faults injected", str(run.faults or "none")),
                ("list lag / settle delay", f"{lag:g} s / {SETTLE_SECONDS:g} s"),
                ("settled checks (audits + creation checks)", run.audit["checks"]),
                ("  rounds", run.audit["rounds"]),
                ("  read units", run.audit["read_units"]),
                ("  lost answers found applied once settled", run.audit["found_after_settle"]),
                ("  writes sent again (found missing)", run.audit["sent_again"]),
                ("  duplicate copies deleted", run.audit["duplicates_removed"]),
                ("simulated time, job start -> last request", str(last - start_time)),
                ("wall time of the sync (time-skipping)", f"{elapsed():.2f} s"),
            ]
            return run, Start(start_time, import_units, inst.plan_rows)
        finally:
            inst.server.stop()


# --------------------------------------------------------------------------- naive script


def naive_run(args: argparse.Namespace, library: Library, begin: Start, tmp: Path) -> RunFigures:
    """The naive script on a fresh emulator: same library, plan, start and import units."""
    clock = benchkit.SimClock(begin.moment)
    state = EmulatorState(clock=clock, daily_limit=DAILY_QUOTA)
    generate_library(state, videos=library.videos, playlists=library.playlists, seed=args.seed)
    rows = sample_plan_rows(state, args.seed)
    quota_clock = QuotaClock()
    state.burn_quota(begin.import_units)  # the import's reads, as in the ytsync run
    with sandbox.running_emulator(state, tmp / "naive-token.json") as emulator:
        youtube = benchkit.plain_client(
            emulator.endpoint, emulator.token_uri, state.issue_credentials()
        )
        remaining: Callable[[], int] = lambda: state.quota_remaining() or 0  # noqa: E731
        with timed() as elapsed:
            outcome: NaiveResult = naive_sync(
                youtube, rows, clock=clock, quota_clock=quota_clock, remaining=remaining
            )
        log = state.requests()
    run = analyse(
        "naive script",
        log,
        state.quota_usage(),
        quota_clock,
        import_seq=0,
        import_units=begin.import_units,
        remaining_at_start=USABLE - begin.import_units,
        duplicates=duplicate_items(state),
    )
    # The import's units were burnt, not logged: count them in the first period.
    if run.periods:
        run.periods[0].import_reads = begin.import_units
    last = max(r.time for r in log)
    run.notes = [
        ("same library and plan as the ytsync run", "yes" if rows == begin.plan_rows else "NO"),
        ("writes ok / failed", f"{outcome.writes_ok:,} / {outcome.writes_failed:,}"),
        ("failed writes by reason", str(outcome.errors or "none")),
        ("stops for the day", outcome.stops),
        ("idle time waiting for resets (simulated)", f"{outcome.idle_seconds:,.0f} s"),
        ("quota refusals (403 quotaExceeded)", outcome.quota_refusals),
        ("simulated time, start -> last request", str(last - begin.moment)),
        ("wall time", f"{elapsed():.2f} s"),
    ]
    return run


# --------------------------------------------------------------------------- comparison


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def compare(runs: list[RunFigures]) -> None:
    heading("side by side")
    width = max(22, *(len(r.name) + 2 for r in runs))
    print(f"  {'':<46}" + "".join(f"{r.name:>{width}}" for r in runs))

    def row(label: str, values: list[str]) -> None:
        print(f"  {label:<46}" + "".join(f"{v:>{width}}" for v in values))

    row("quota periods used (first to last write)", [str(len(r.periods)) for r in runs])
    row("theoretical minimum", [str(r.minimum) for r in runs])
    row("remaining usable at start (after import)", [f"{r.remaining_at_start:,}" for r in runs])
    row("successful writes", [f"{r.writes:,}" for r in runs])
    row("failed writes (charged)", [f"{r.failed_writes:,}" for r in runs])
    row(
        "write errors at no cost, by HTTP status",
        [", ".join(f"{k}: {v}" for k, v in r.free_errors.items()) or "0" for r in runs],
    )
    row("write units", [f"{r.write_units:,}" for r in runs])
    row("sync read units", [f"{r.sync_reads:,}" for r in runs])
    row(
        "  % of the sync's units",
        [percent(r.sync_reads, r.sync_reads + r.write_units) for r in runs],
    )
    row("import read units (before the sync)", [f"{r.import_reads:,}" for r in runs])
    row(
        "all reads, % of all units",
        [percent(r.sync_reads + r.import_reads, r.total_units) for r in runs],
    )
    row("all units", [f"{r.total_units:,}" for r in runs])

    def unspent(r: RunFigures, pick: Callable[[list[int]], float]) -> str:
        return f"{pick(r.unspent):,.1f}" if r.unspent else "-"

    row(
        "usable unspent per period but last: mean",
        [unspent(r, lambda u: sum(u) / len(u)) for r in runs],
    )
    row("  max", [unspent(r, max) for r in runs])
    row("  min (negative: reserve spent)", [unspent(r, min) for r in runs])
    row("  sum", [unspent(r, sum) for r in runs])
    row(
        "reset -> first write: mean (s)",
        [f"{sum(r.delays) / len(r.delays):.3f}" if r.delays else "-" for r in runs],
    )
    row("  max (s)", [f"{max(r.delays):.3f}" if r.delays else "-" for r in runs])
    row("refused for quota (403, free)", [str(r.refused) for r in runs])
    row("duplicate items left on YouTube", [str(r.duplicates) for r in runs])
    row("list lag (s)", [f"{r.lag:g}" if r.lag is not None else "0" for r in runs])
    row("settled-check read units", [f"{r.audit.get('read_units', 0):,}" for r in runs])
    row("read units per 1,000 writes", [r.per_thousand_writes(r.sync_reads) for r in runs])
    row("repair writes (sent again + copies deleted)", [f"{r.repairs:,}" for r in runs])
    row("repair writes per 1,000 writes", [r.per_thousand_writes(r.repairs) for r in runs])

    heading("targets (ytsync, no faults unless said)")
    ours = runs[0]
    checks = [
        (
            "uses the minimum number of periods",
            len(ours.periods) <= ours.minimum,
            f"{len(ours.periods)} vs {ours.minimum}",
        ),
        (
            "wastes < 50 usable units in every period but the last",
            all(u < WRITE_COST for u in ours.unspent),
            f"max {max(ours.unspent, default=0)}",
        ),
        (
            "reads <= 2% of the sync's units",
            ours.sync_reads <= 0.02 * (ours.sync_reads + ours.write_units),
            percent(ours.sync_reads, ours.sync_reads + ours.write_units),
        ),
        (
            "first write within 1 s of each reset",
            all(d < 1.0 for d in ours.delays),
            f"max {max(ours.delays, default=0):.3f} s",
        ),
    ]
    for label, met, detail in checks:
        figure(label, f"{'met' if met else 'NOT met'} ({detail})")
    for run in runs[1:]:
        if run.faults:
            share = percent(run.sync_reads, run.sync_reads + run.write_units)
            met = run.sync_reads <= 0.02 * (run.sync_reads + run.write_units)
            figure(
                f"{run.name}: reads <= 2% of the sync's units",
                f"{'met' if met else 'NOT met'} ({share})",
            )
            figure(f"{run.name}: no duplicate left", "met" if not run.duplicates else "NOT met")


async def scenario(args: argparse.Namespace, tmp: Path) -> None:
    library = library_size(args)
    creates, adds, deletes = library.expected
    heading(f"library sized for about {args.writes:,} writes")
    figure("videos / normal playlists", f"{library.videos:,} / {library.playlists:,}")
    figure("expected writes (create + add + delete)", f"{creates} + {adds:,} + {deletes:,}")
    runs: list[RunFigures] = []
    with benchkit.fresh_database(args.db, tmp) as db:
        run, begin = await ytsync_run(args, library, db.url, tmp, fault_rate=0.0, lag=args.lag)
    print_run(run)
    runs.append(run)
    if not args.no_plain:
        run = await asyncio.to_thread(naive_run, args, library, begin, tmp)
        print_run(run)
        runs.append(run)
    if not args.no_faults and args.fault_rate > 0:
        faulty = tmp / "faults"
        faulty.mkdir()
        with benchkit.fresh_database(args.db, faulty) as db:
            run, _ = await ytsync_run(
                args, library, db.url, faulty, fault_rate=args.fault_rate, lag=args.fault_lag
            )
        print_run(run)
        runs.append(run)
    compare(runs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The fault run fails activities on purpose: keep the SDK's tracebacks out of the
    # figures (its warnings say "Completing activity as failed" with the whole stack).
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    heading(f"quota efficiency benchmark: about {args.writes:,} writes, {args.db}")
    figure("checkout", benchkit.checkout())
    with benchkit.workdir("ytsync-bench-quota-") as tmp:
        asyncio.run(scenario(args, tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
