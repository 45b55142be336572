"""Import a big library through the real API client, apply the sample plan, preview it.

    python bench/import_preview.py --videos 100000 [--playlists N] [--db sqlite|postgres]
        [--seed 1] [--no-tracemalloc] [--profile] [--py-spy PATH]

Builds the library in the in-process emulator (unlimited quota), runs
``ytsync.importer.import_library`` against it through google-api-python-client, applies
the sample plan with ``ytsync.plan.apply_plan`` and times ``ytsync.preview.compute_preview``.
Prints figures only; nothing is asserted.

The import runs twice, each into a fresh database: once plain (its wall time is the one
reported) and once under tracemalloc (its peak is reported), since tracing every
allocation slows Python code down several times.  ``--no-tracemalloc`` skips the second.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import sys
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.config import Settings
from ytsync.db.engine import session_factory
from ytsync.db.models import Base
from ytsync.importer import ImportSummary, import_library
from ytsync.plan import apply_plan
from ytsync.preview import compute_preview
from ytsync_emulator.model import RequestRecord
from ytsync_emulator.sample import generate_library, sample_plan_rows
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox

PREVIEW_REPEATS = 5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument(
        "--playlists",
        type=int,
        default=None,
        help="normal playlists (default: videos / 80, so 1,250 for 100,000 videos)",
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the second, traced import"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the timed import (main thread)"
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        help="sample the timed import (all threads) with the py-spy binary at this path",
    )
    return parser.parse_args(argv)


def physical_floor(state: EmulatorState) -> dict[str, int]:
    """The fewest list pages (1 unit each) that can read this library."""
    with state.lock:
        sizes = [len(p.items) for p in state.playlists.values() if not p.special]
        distinct = {i.video_id for p in state.playlists.values() if not p.special for i in p.items}
    pages = {
        "channels.list": 1,
        "playlists.list": max(1, math.ceil(len(sizes) / 50)),
        "playlistItems.list": sum(max(1, math.ceil(n / 50)) for n in sizes),
        "videos.list": math.ceil(len(distinct) / 50),
    }
    pages["total"] = sum(pages.values())
    pages["items"] = sum(sizes)
    pages["distinct_videos"] = len(distinct)
    return pages


def count_rows(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()
        }


def run_import(
    emulator: sandbox.Emulator,
    url: str,
    *,
    trace: bool,
    profile: bool,
    spy: benchkit.PySpy | None = None,
) -> tuple[float, ImportSummary, Engine, int]:
    """One import into the database at ``url``: (seconds, summary, engine, traced peak)."""
    engine, sessions = sandbox.open_database(url)
    settings = sandbox.settings_for(emulator, url)
    emulator.state.clear_log()
    profiler = cProfile.Profile() if profile else None
    peak = 0
    if trace:
        tracemalloc.start()
    if profiler is not None:
        profiler.enable()
    if spy is not None:
        spy.start()
    try:
        with timed() as elapsed:
            summary = import_library(settings, sessions)
    finally:
        if profiler is not None:
            profiler.disable()
        if spy is not None:
            spy.stop_and_report()
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        heading("cProfile of the import (main thread, top 30 by cumulative time)")
        print(out.getvalue())
    return elapsed(), summary, engine, peak


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    playlists = args.playlists or max(1, args.videos // 80)
    heading(f"import + preview benchmark: {args.videos:,} videos, {args.db}")
    figure("python", sys.version.split()[0])
    figure("checkout", benchkit.checkout())
    figure("RSS before the library", benchkit.current_rss_mib(), "MiB")

    state = EmulatorState(daily_limit=None, seed=args.seed)
    with timed() as elapsed:
        library = generate_library(state, videos=args.videos, playlists=playlists, seed=args.seed)
    heading("library (emulator)")
    for key, value in library.items():
        figure(key.replace("_", " "), value)
    figure("generate_library time", elapsed(), "s")
    figure("RSS with the library in the emulator", benchkit.current_rss_mib(), "MiB")
    floor = physical_floor(state)

    with (
        benchkit.workdir("ytsync-bench-import-") as tmp,
        sandbox.running_emulator(state, tmp / "token.json") as emulator,
    ):
        with benchkit.fresh_database(args.db, tmp) as db:
            seconds, summary, engine, _ = run_import(
                emulator,
                db.url,
                trace=False,
                profile=args.profile,
                spy=benchkit.PySpy(args.py_spy, tmp),
            )
            sessions = session_factory(engine)
            log = state.requests()
            rss_after_import = benchkit.max_rss_mib()
            report_import(seconds, summary, log, floor)
            figure("peak RSS after the import (ru_maxrss)", rss_after_import, "MiB")
            report_rows(count_rows(sessions))
            plan_and_preview(
                state, sessions, sandbox.settings_for(emulator, db.url), tmp, args.seed
            )
            engine.dispose()
        if not args.no_tracemalloc:
            sub = tmp / "traced"
            sub.mkdir()
            with benchkit.fresh_database(args.db, sub) as db:
                traced_seconds, _, traced_engine, peak = run_import(
                    emulator, db.url, trace=True, profile=False
                )
                traced_engine.dispose()
            heading("memory of the import (second import into a fresh database)")
            figure("tracemalloc peak during import_library", peak / 2**20, "MiB")
            figure("wall time of the traced import (slowed by tracing)", traced_seconds, "s")
    heading("process")
    figure("peak RSS of the whole process (ru_maxrss)", benchkit.max_rss_mib(), "MiB")
    figure("  (includes the emulator's in-memory library)", "")
    return 0


def report_import(
    seconds: float, summary: ImportSummary, log: list[RequestRecord], floor: dict[str, int]
) -> None:
    heading("import_library (timed run)")
    figure("wall time", seconds, "s")
    figure("playlists imported", summary.playlists)
    figure("playlist items imported", summary.items)
    figure("videos imported", summary.videos)
    figure("unavailable videos", summary.unavailable)
    calls = Counter(r.method for r in log)
    units = benchkit.units_by_method(log)
    api = {m: n for m, n in calls.items() if m != "oauth.token"}
    figure("API requests (emulator log)", sum(api.values()))
    for method in sorted(api):
        figure(f"  {method}", f"{api[method]:,} requests, {units[method]:,} units")
    figure("token refreshes (free)", calls.get("oauth.token", 0))
    figure("units spent (emulator)", sum(units.values()))
    figure("units spent (importer's own count)", summary.units_spent)
    figure("physical floor (pages that must be read)", floor["total"], "units")
    for method in ("channels.list", "playlists.list", "playlistItems.list", "videos.list"):
        figure(f"  {method}", floor[method])
    figure("pure item floor ceil(items / 50)", math.ceil(floor["items"] / 50), "units")
    figure("units spent / physical floor", sum(units.values()) / floor["total"])
    figure("requests per second", sum(api.values()) / seconds)
    figure("items imported per second", summary.items / seconds)


def report_rows(rows: dict[str, int]) -> None:
    heading("rows stored")
    for name, count in rows.items():
        if count:
            figure(name, count)
    figure("total", sum(rows.values()))


def plan_and_preview(
    state: EmulatorState, sessions: sessionmaker[Session], settings: Settings, tmp: Path, seed: int
) -> None:
    with timed() as elapsed:
        rows = sample_plan_rows(state, seed)
    plan_path = sandbox.write_plan(tmp / "plan.csv", rows)
    heading("apply_plan (sample plan)")
    figure("sample_plan_rows time", elapsed(), "s")
    with timed() as elapsed:
        applied = apply_plan(sessions, plan_path)
    figure("apply_plan wall time", elapsed(), "s")
    figure("categories (protected)", f"{applied.categories} ({applied.protected_categories})")
    figure("assignments", applied.assignments)

    now = datetime.now(UTC)
    times: list[float] = []
    preview = None
    for _ in range(1 + PREVIEW_REPEATS):
        with sessions() as session, timed() as elapsed:
            preview = compute_preview(session, settings, now)
        times.append(elapsed())
    assert preview is not None
    heading("compute_preview")
    figure("first run", times[0] * 1000, "ms")
    figure(f"best of the next {PREVIEW_REPEATS}", min(times[1:]) * 1000, "ms")
    figure(
        f"median of the next {PREVIEW_REPEATS}",
        sorted(times[1:])[PREVIEW_REPEATS // 2] * 1000,
        "ms",
    )
    figure("playlists to create", preview.playlists_to_create.count)
    figure("videos to add", preview.videos_to_add.count)
    figure("playlists to delete", preview.playlists_to_delete.count)
    figure("total quota cost", preview.total_quota_cost, "units")
    figure("quota periods needed (10,000/1,000 quota)", preview.quota_periods_needed)
    figure("unavailable videos in the plan", preview.unavailable_videos.count)
    figure("uncategorized videos", preview.uncategorized_videos.count)


if __name__ == "__main__":
    sys.exit(main())
