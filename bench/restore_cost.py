"""What undoing a sync costs: write units and quota periods of a restore and of a full
undo, after a rebuild and after a reuse, with ``--order keep`` and ``--order any``.

    python bench/restore_cost.py [--videos 1000] [--playlists 30] [--seed 1]
        [--real one|all]

For each strategy, one library (set up as the tests do: ``ytsync_sandbox.sandbox.install``,
10,000 units a day, 1,000 in reserve, SQLite) gets the same plan: the exported plan
folded three categories into one, every fifth video of a category moved into the next
and every seventh left out (so a reusing sync both appends to and removes from the
playlists it keeps), and one new category of a few videos of each (a playlist the sync
makes whichever the strategy).  The sync runs to its end on the Temporal time-skipping test server
against the emulator.  Then ``restore --preview`` prices the four restores (plain and
full undo, each order), and real restores run on the same server: ``--real one`` the
default one (a full undo, ``--order keep``), ``--real all`` all four, each on a library
synced afresh.  For each real run: the write units YouTube charged and the quota periods
in which the restore wrote, against the preview; the job's units with its reads; whether
the old playlists ended as they were before the sync (but for the videos deleted or
private to someone else, which nothing can put back).  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections import Counter
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import running_worker
from tests.support.jobs import time_skipping
from tests.support.restoring import (
    Entry,
    by_content,
    finished,
    library_of,
    start_undo,
    sync,
    without,
)
from tests.support.reuse import apply, exported, merged, moved
from ytsync.quota import WRITE_COST
from ytsync.restore_preview import compute_restore_preview
from ytsync.sync.undo import ORDERS, RestoreOptions
from ytsync_sandbox.sandbox import Installation

STRATEGIES = ("rebuild", "reuse")
RESTORES = tuple((undo, order) for undo in (False, True) for order in ORDERS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=1_000)
    parser.add_argument("--playlists", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--real", choices=("one", "all"), default="one")
    return parser.parse_args(argv)


def name(undo: bool, order: str) -> str:
    return f"{'full undo' if undo else 'restore'}, --order {order}"


async def synced(
    args: argparse.Namespace, strategy: str, tmp: Path, real: list[RestoreOptions]
) -> None:
    """Libraries synced with ``strategy``: on the first, the four previews; on each, one
    of the real restores ``real``."""
    for index, options in enumerate(real):
        directory = tmp / f"{strategy}-{index}"
        directory.mkdir()
        async with time_skipping(
            directory,
            f"sqlite:///{directory / 'ytsync.db'}",
            videos=args.videos,
            playlists=args.playlists,
            seed=args.seed,
            plan=False,
            settle_seconds=30.0,
        ) as (env, inst, clock):
            plan = moved(merged(exported(inst), 3))
            plan["Extra picks"] = [video for videos in plan.values() for video in videos[:4]]
            apply(inst, plan)
            before = library_of(inst)
            async with running_worker(env.client, inst, clock):
                status = await sync(env, inst, strategy)
                if index == 0:
                    heading(f"after a {strategy} ({status['quota_used']:,} units)")
                    await previews(env, inst)
                await one_restore(env, inst, options, before)


async def previews(env: WorkflowEnvironment, inst: Installation) -> None:
    now = await env.get_current_time()
    with inst.sessions() as session:
        for undo, order in RESTORES:
            preview = compute_restore_preview(
                session, inst.settings, None, RestoreOptions(order, undo), now
            )
            figure(
                f"preview: {name(undo, order)}",
                f"{preview.write_units:,} write units ({preview.writes:,} writes: "
                f"{preview.playlists_to_recreate.count} recreated, "
                f"{preview.playlists_to_rename.count} renamed, "
                f"{preview.items_to_add.count:,} added, {preview.items_to_remove.count:,} "
                f"removed, {preview.playlists_to_delete.count} deleted), "
                f"{preview.quota_periods_needed} quota periods",
            )


async def one_restore(
    env: WorkflowEnvironment,
    inst: Installation,
    options: RestoreOptions,
    before: dict[str, Entry],
) -> None:
    now = await env.get_current_time()
    with inst.sessions() as session:
        preview = compute_restore_preview(session, inst.settings, None, options, now)
    since = inst.state.requests()[-1].seq
    with timed() as elapsed:
        started = await start_undo(env, inst, order=options.order, undo=options.undo)
        status = await finished(env, inst, started)
    writes = [r for r in inst.state.requests() if r.seq > since and r.units == WRITE_COST]
    clock = inst.settings.quota_clock
    periods = {clock.period_start(r.time) for r in writes}
    same = as_before(inst, before, options)
    label = name(options.undo, options.order)
    figure(
        f"real: {label}: write units",
        f"{len(writes) * WRITE_COST:,} (preview {preview.write_units:,})",
    )
    figure(
        f"real: {label}: quota periods with writes",
        f"{len(periods)} (preview {preview.quota_periods_needed})",
    )
    figure(f"real: {label}: job units, reads included", f"{status['quota_used']:,}")
    figure(f"real: {label}: read units of the checks", f"{status['audit']['read_units']:,}")
    figure(f"real: {label}: the old playlists as before", "yes" if same else "NO")
    figure(f"real: {label}: wall time", f"{elapsed():.1f}", "s")


def as_before(inst: Installation, before: dict[str, Entry], options: RestoreOptions) -> bool:
    """Are the old playlists as they were: the kept ones under their ids (their items in
    any order with ``--order any``), the others recreated, but for the videos deleted
    or private to someone else, which nothing can put back (a kept playlist's item of
    one stays where it is); with ``--undo-sync``, and nothing else left?"""
    with inst.state.lock:
        gone = {
            vid
            for vid, video in inst.state.videos.items()
            if video.deleted
            or (video.privacy == "private" and video.owner_channel_id != inst.state.channel_id)
        }
    now = library_of(inst)
    kept = set(before) & set(now)
    for pid in kept:
        title, description, privacy, items = now[pid]
        wanted = before[pid]
        if (title, description, privacy) != wanted[:3]:
            return False
        # An item of a video gone stays where it is: out of the comparison.
        have = [v for v in items if v not in gone]
        want = [v for v in wanted[3] if v not in gone]
        if options.order == "any":
            have, want = sorted(have), sorted(want)
        if have != want:
            return False
    recreated = Counter(by_content(without({p: before[p] for p in before if p not in kept}, gone)))
    others = Counter(by_content({p: e for p, e in now.items() if p not in kept}))
    if options.undo:
        return others == recreated
    return not recreated - others


async def scenario(args: argparse.Namespace, tmp: Path) -> None:
    wanted = RESTORES if args.real == "all" else ((True, "keep"),)
    for strategy in STRATEGIES:
        await synced(args, strategy, tmp, [RestoreOptions(order, undo) for undo, order in wanted])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    heading(f"undoing a sync: {args.videos:,} videos, {args.playlists} playlists")
    figure("checkout", benchkit.checkout())
    with benchkit.workdir("ytsync-bench-restore-") as tmp:
        asyncio.run(scenario(args, tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
