"""Real syncs, rebuild against reuse: the writes YouTube saw and the quota periods used.

    python bench/reuse_sync.py [--videos 1000] [--playlists 30] [--seed 1]
        [--shapes rename,merge,reshuffle]

Where bench/reuse_plans.py prices the plans with the model alone, this runs whole jobs
(``start`` with ``--strategy rebuild`` and ``--strategy reuse``) on the Temporal
time-skipping test server against the emulator, set up as the tests do
(``ytsync_sandbox.sandbox.install``: 10,000 units a day, 1,000 in reserve, SQLite), so days of
quota waits pass in seconds.  Plans (as in issue 12):

- rename: the exported plan (``plan export``) with every category renamed;
- merge: the exported plan folded three categories into one;
- reshuffle: every video of the exported plan put into one of as many categories at
  random.

For each run: write units YouTube charged (every insert, update and delete sent, failed
ones included), writes by method, quota periods in which the job wrote, the job's total
units (reads included), and whether every category playlist ended exact (no duplicate,
its available videos all there).  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from collections import Counter
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed

from tests.support.harness import running_worker
from tests.support.jobs import time_skipping
from tests.support.reuse import apply, category_playlists, exported, merged, planned
from ytsync.cli.jobctl import start_job
from ytsync.quota import WRITE_COST
from ytsync_sandbox.sandbox import Installation

SHAPES = ("rename", "merge", "reshuffle")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=1_000)
    parser.add_argument("--playlists", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    return parser.parse_args(argv)


def shaped(shape: str, plan: dict[str, list[str]], seed: int) -> dict[str, list[str]]:
    if shape == "rename":
        return {f"{name} (sorted)": videos for name, videos in plan.items()}
    if shape == "merge":
        return merged(plan, 3)
    rng = random.Random(seed)
    videos = list(dict.fromkeys(v for members in plan.values() for v in members))
    rng.shuffle(videos)
    groups: dict[str, list[str]] = {f"Shuffled {k + 1}": [] for k in range(len(plan))}
    names = list(groups)
    for video in videos:
        groups[rng.choice(names)].append(video)
    return {name: members for name, members in groups.items() if members}


def exact(inst: Installation) -> bool:
    wanted = planned(inst)
    for name, playlist_id in category_playlists(inst).items():
        if playlist_id not in inst.state.playlists:
            return False
        items = inst.state.playlist_items(playlist_id)
        available = wanted.get(name, ([], set()))[0]
        if len(items) != len(set(items)) or not set(available) <= set(items):
            return False
    return True


async def one_run(args: argparse.Namespace, shape: str, strategy: str, tmp: Path) -> None:
    async with time_skipping(
        tmp,
        f"sqlite:///{tmp / 'ytsync.db'}",
        videos=args.videos,
        playlists=args.playlists,
        seed=args.seed,
        plan=False,
        settle_seconds=30.0,
    ) as (env, inst, clock):
        apply(inst, shaped(shape, exported(inst), args.seed))
        inst.state.clear_log()
        settings = inst.settings.model_copy(update={"strategy": strategy})
        async with running_worker(env.client, inst, clock):
            with timed() as elapsed:
                started = await start_job(
                    settings, inst.sessions, env.client, now=await env.get_current_time()
                )
                progress = await started.handle.result()
        log = inst.state.requests()
        writes = Counter(r.method for r in log if r.units == WRITE_COST)
        clock_of = inst.settings.quota_clock
        periods = {clock_of.period_start(r.time) for r in log if r.units == WRITE_COST}
        heading(f"{shape}, {strategy}")
        figure("write units", f"{sum(writes.values()) * WRITE_COST:,}")
        figure("writes", ", ".join(f"{m} {n:,}" for m, n in sorted(writes.items())))
        figure("quota periods with writes", len(periods))
        figure("job units (reads included)", f"{progress.quota_used:,}")
        figure("ended", progress.stage)
        figure("category playlists exact", "yes" if exact(inst) else "NO")
        figure("wall time", f"{elapsed():.1f}", "s")


async def scenario(args: argparse.Namespace, tmp: Path) -> None:
    for shape in args.shapes.split(","):
        for strategy in ("rebuild", "reuse"):
            directory = tmp / f"{shape}-{strategy}"
            directory.mkdir()
            await one_run(args, shape, strategy, directory)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    heading(f"rebuild vs reuse, real syncs: {args.videos:,} videos, {args.playlists} playlists")
    figure("checkout", benchkit.checkout())
    with benchkit.workdir("ytsync-bench-reuse-") as tmp:
        asyncio.run(scenario(args, tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
