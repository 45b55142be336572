"""Write units and quota periods of rebuild, reuse and the naive script on three plans.

    python bench/reuse_plans.py [--videos 3000] [--playlists 100] [--seed 1]

Costs come from the model only (``ytsync.reuse.plan_reuse``); no sync runs yet: a later
step will run real syncs with the reuse strategy and count the writes YouTube saw.

Each library is the emulator's sample (``generate_library``, about ``--videos`` videos,
with its duplicates, unavailable videos and system lists); each plan is a shape from
issue 12:

- rename: the plan ``plan export`` would write (one category per old playlist with
  items, its distinct videos in playlist order) with every category renamed;
- merge: a library of 30 old playlists folded three by three into 10 categories (the
  exported plan with three categories given one name);
- reshuffle: every video of the old playlists put into one of ``--playlists``
  categories at random, in random order.

Rebuild is today's sync: a create and the adds of each category, a delete per old
playlist.  Reuse keeps the old playlists ``plan_reuse`` assigns.  The naive script
(``bench/naive_sync.py``) is a rebuild that also sends the adds of unavailable videos
(it does not know them; each failed write still costs its units).  Quota periods follow
the preview's rule (``finish_estimate``) with the default 10,000 units a day less the
1,000 reserve, starting on a fresh day, for all three.  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import benchkit
from benchkit import figure, heading, timed

from ytsync.config import Settings
from ytsync.plan import export_names
from ytsync.preview import finish_estimate
from ytsync.quota import WRITE_COST, QuotaClock
from ytsync.reuse import CategorySpec, OldPlaylist, ReusePlan, Writes, plan_reuse
from ytsync_emulator.sample import generate_library
from ytsync_emulator.state import EmulatorState

TIMING_REPEATS = 5
# Settings' own defaults, not the environment's: the figures are for a stock install.
DAILY_QUOTA = int(Settings.model_fields["daily_quota"].default)
USABLE = DAILY_QUOTA - int(Settings.model_fields["quota_reserve"].default)
# Targets of issue 12: the most reuse may cost, as a share of rebuild's units.
TARGETS = {"rename": 0.05, "merge": 0.70, "reshuffle": 1.0}


@dataclass
class Library:
    old: list[OldPlaylist]
    available: set[str]

    @property
    def normal(self) -> list[OldPlaylist]:
        return [p for p in self.old if not p.special]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=3_000)
    parser.add_argument(
        "--playlists", type=int, default=100, help="old playlists (rename, reshuffle)"
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def library(videos: int, playlists: int, seed: int) -> Library:
    """A sample library as the importer sees it: old playlists with int ids, in order."""
    state = EmulatorState(daily_limit=None, seed=seed)
    generate_library(state, videos=videos, playlists=playlists, seed=seed)
    with state.lock:
        channel = state.channel_id
        # The same availability rule as benchkit.planned_writes and the importer.
        available = {
            vid
            for vid, video in state.videos.items()
            if not video.deleted
            and (video.privacy != "private" or video.owner_channel_id == channel)
        }
        old = [
            OldPlaylist(
                id=number,
                youtube_id=playlist.id,
                title=playlist.title,
                description=playlist.description,
                privacy=playlist.privacy,
                video_ids=tuple(item.video_id for item in playlist.items),
                special=playlist.special,
            )
            for number, playlist in enumerate(state.playlists.values(), start=1)
        ]
    return Library(old, available)


def category(cid: int, name: str, videos: list[str], available: set[str]) -> CategorySpec:
    ordered = list(dict.fromkeys(videos))  # plan apply refuses a video twice in a category
    return CategorySpec(
        id=cid,
        name=name,
        video_ids=tuple(v for v in ordered if v in available),
        unavailable_ids=frozenset(v for v in ordered if v not in available),
    )


def rename_plan(lib: Library) -> list[CategorySpec]:
    exported = [p for p in lib.normal if p.video_ids]  # export names only non-empty ones
    names = export_names([p.title for p in exported])
    return [
        category(i, f"{name} (sorted)", list(p.video_ids), lib.available)
        for i, (p, name) in enumerate(zip(exported, names, strict=True), start=1)
    ]


def merge_plan(lib: Library) -> list[CategorySpec]:
    groups: dict[int, list[str]] = {}
    for index, playlist in enumerate(lib.normal):
        groups.setdefault(index // 3, []).extend(playlist.video_ids)
    return [
        category(k + 1, f"Group {k + 1}", videos, lib.available) for k, videos in groups.items()
    ]


def reshuffle_plan(lib: Library, count: int, seed: int) -> list[CategorySpec]:
    rng = random.Random(seed)
    videos = list(dict.fromkeys(v for p in lib.normal for v in p.video_ids))
    rng.shuffle(videos)
    groups: dict[int, list[str]] = {k: [] for k in range(count)}
    for video in videos:
        groups[rng.randrange(count)].append(video)
    return [
        category(k + 1, f"Shuffled {k + 1}", members, lib.available)
        for k, members in groups.items()
    ]


def periods(writes: int) -> int:
    clock = QuotaClock()
    start = clock.period_start(datetime(2026, 1, 5, 12, tzinfo=UTC))
    return finish_estimate(writes * WRITE_COST, USABLE, USABLE, clock, start)[0]


def show(label: str, writes: Writes) -> None:
    parts = (
        f"{writes.updates} upd + {writes.creates} cre + {writes.adds:,} add + "
        f"{writes.item_deletes} item del + {writes.playlist_deletes} pl del"
    )
    figure(f"{label}: writes", f"{writes.total:,} ({parts})")
    figure(f"{label}: units / quota periods", f"{writes.units:,} / {periods(writes.total)}")


def best_time(work: Callable[[], ReusePlan]) -> float:
    times = []
    for _ in range(TIMING_REPEATS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def report(shape: str, lib: Library, categories: list[CategorySpec]) -> bool:
    heading(shape)
    with timed() as elapsed:
        plan = plan_reuse(categories, lib.old)
    figure("old playlists (normal) / categories", f"{len(lib.normal)} / {len(categories)}")
    figure(
        "planned videos (available + unavailable)",
        f"{plan.rebuild.adds:,} + {sum(len(c.unavailable_ids) for c in categories):,}",
    )
    figure("old playlists kept", len(plan.kept))
    figure("items of kept playlists out of plan order", plan.out_of_order)
    show("rebuild", plan.rebuild)
    show("reuse", plan.reuse)
    naive = plan.rebuild + Writes(adds=sum(len(c.unavailable_ids) for c in categories))
    show("naive script", naive)
    saved = 1 - plan.reuse.units / plan.rebuild.units
    figure("reuse: fewer write units than rebuild", f"{saved:.1%}")
    figure(
        "plan_reuse time: first / best of 5",
        f"{elapsed() * 1000:.1f} / "
        f"{best_time(lambda: plan_reuse(categories, lib.old)) * 1000:.1f} ms",
    )
    limit = TARGETS[shape]
    met = plan.reuse.units <= limit * plan.rebuild.units
    goal = "never more than rebuild" if limit == 1.0 else f"at least {1 - limit:.0%} fewer"
    figure(f"target: {goal}", "met" if met else "NOT met")
    return met


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    heading(f"reuse vs rebuild, from the model: about {args.videos:,} videos, seed {args.seed}")
    figure("checkout", benchkit.checkout())
    figure("usable units per quota period", f"{USABLE:,} ({USABLE // WRITE_COST} writes)")
    with timed() as elapsed:
        importlib.import_module("scipy.optimize")
    figure("import scipy.optimize (once per process)", f"{elapsed() * 1000:.0f} ms")
    wide = library(args.videos, args.playlists, args.seed)
    narrow = library(args.videos, 30, args.seed)
    results = [
        report("rename", wide, rename_plan(wide)),
        report("merge", narrow, merge_plan(narrow)),
        report("reshuffle", wide, reshuffle_plan(wide, args.playlists, args.seed)),
    ]
    heading("targets")
    figure("met", f"{sum(results)} of {len(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
