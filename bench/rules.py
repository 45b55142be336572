"""Rules over a big library: how long ``plan rules`` takes and how much memory it needs.

    python bench/rules.py --videos 100000 [--playlists N] [--db sqlite|postgres] [--seed 1]
        [--no-tracemalloc]

Builds the library in the in-process emulator, imports it through the real API client
(``ytsync.importer.import_library``: the details rules match on come with it), then runs
``ytsync.rules.apply.apply_rules`` with a rules file of every kind of condition (the
README's example, grown to one rule per sample topic): a dry run, a dry run with
``--explain``, the apply, and the apply again (nothing left to change); and the parts of
one run on their own (reading the library, matching).  Memory: ru_maxrss before and
after, and the tracemalloc peak of one more dry run with the explanation (tracing slows
Python down several times, so its time is not the one reported).  Prints figures only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import benchkit
from benchkit import figure, heading, timed

from ytsync.importer import import_library
from ytsync.rules.apply import RulesResult, apply_rules, read_library
from ytsync.rules.file import read_rules
from ytsync.rules.model import first_matches
from ytsync_emulator.sample import TOPICS, generate_library
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox

REPEATS = 3


def rules_text() -> str:
    """Shorts first, long watches, a channel, then a rule per sample genre by title (as
    the sample plan of a big library has genre categories), a rule per topic by
    playlist for the rest of its playlists, and an old-videos rule."""
    parts = [
        '[category."Shorts"]\nprivacy = "unlisted"\n',
        # Split by date: a playlist holds at most 5,000 videos.
        '[[rule]]\ncategory = "Shorts"\nmax_duration = "60s"\npublished_before = 2017-07-01\n',
        '[[rule]]\ncategory = "Shorts since 2017"\nmax_duration = "60s"\n',
        '[[rule]]\ncategory = "Long watches"\nmin_duration = "80m"\n',
        '[[rule]]\ncategory = "One channel"\nchannel = ["Aurora Kitchen", "Basalt TV"]\n',
    ]
    # Two topics without rules: their videos stay unplaced, as a real rules file leaves
    # some.
    topics = list(TOPICS.items())[:-2]
    for topic, genres in topics:
        for genre, (_templates, subjects) in genres.items():
            # json.dumps writes a TOML basic string: the same escapes.
            title = json.dumps(rf"\b({'|'.join(re.escape(s) for s in subjects)})\b")
            parts.append(f'[[rule]]\ncategory = "{topic}: {genre}"\ntitle = {title}\n')
    for topic, _genres in topics:
        parts.append(f'[[rule]]\ncategory = "{topic}: more"\nplaylist = "{topic} *"\n')
    parts.append('[[rule]]\ncategory = "Before 2012"\npublished_before = 2012-01-01\n')
    return "\n".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument(
        "--playlists", type=int, default=None, help="default: videos / 80 (1,250 for 100,000)"
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced run")
    return parser.parse_args(argv)


def best(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        with timed() as elapsed:
            run()
        times.append(elapsed())
    return min(times)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    playlists = args.playlists or max(1, args.videos // 80)
    heading(f"rules benchmark: {args.videos:,} videos, {playlists:,} playlists, {args.db}")
    figure("python", sys.version.split()[0])
    figure("checkout", benchkit.checkout())
    state = EmulatorState(daily_limit=None, seed=args.seed)
    generate_library(state, videos=args.videos, playlists=playlists, seed=args.seed)
    with (
        benchkit.workdir("ytsync-bench-rules-") as tmp,
        sandbox.running_emulator(state, tmp / "token.json") as emulator,
        benchkit.fresh_database(args.db, tmp) as db,
    ):
        engine, sessions = sandbox.open_database(db.url)
        with timed() as elapsed:
            summary = import_library(sandbox.settings_for(emulator, db.url), sessions)
        heading("library (imported through the real client)")
        figure("videos", summary.videos)
        figure("playlist items", summary.items)
        figure("import wall time", elapsed(), "s")
        figure("import units", summary.units_spent)
        path = Path(tmp) / "rules.toml"
        path.write_text(rules_text(), encoding="utf-8")
        ruleset = read_rules(path)
        figure("rules in the file", len(ruleset.rules))
        rss_before = benchkit.current_rss_mib()
        figure("RSS before the rules", rss_before, "MiB")

        heading("plan rules (apply_rules), best of 3 where repeated")
        result: list[RulesResult] = []
        figure(
            "--dry-run",
            best(lambda: result.append(apply_rules(sessions, path, dry_run=True))),
            "s",
        )
        first = result[-1]
        figure(
            "  videos / placed / unmatched",
            f"{first.videos:,} / {first.matched:,} / {first.unmatched:,}",
        )
        diff = first.diff
        figure(
            "  diff: placed / moved / unplaced",
            f"{len(diff.placed):,} / {len(diff.moved):,} / {len(diff.unplaced):,}",
        )
        figure(
            "--dry-run --explain",
            best(lambda: apply_rules(sessions, path, dry_run=True, explain=True)),
            "s",
        )
        with timed() as elapsed:
            applied = apply_rules(sessions, path)
        figure("apply (first: every video newly placed)", elapsed(), "s")
        assert applied.applied is not None
        figure("  category entries written", applied.applied.assignments)
        figure("apply again (nothing to change)", best(lambda: apply_rules(sessions, path)), "s")

        heading("the parts of one run")
        with sessions() as session:
            with timed() as elapsed:
                library, _current = read_library(session)
            figure("read_library (videos, playlists, categories)", elapsed(), "s")
        figure(
            "first_matches (every video against the rules)",
            best(lambda: first_matches(ruleset.rules, library)),
            "s",
        )
        figure(
            "  per video",
            best(lambda: first_matches(ruleset.rules, library)) / len(library.videos) * 1e6,
            "µs",
        )
        figure("read_rules (parse and check the file)", best(lambda: read_rules(path)), "s")

        heading("memory")
        figure("RSS after the runs", benchkit.current_rss_mib(), "MiB")
        figure("peak RSS of the process (ru_maxrss)", benchkit.max_rss_mib(), "MiB")
        figure("  (includes the emulator's in-memory library)", "")
        if not args.no_tracemalloc:
            tracemalloc.start()
            apply_rules(sessions, path, dry_run=True, explain=True)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            figure("tracemalloc peak of a --dry-run --explain", peak / 2**20, "MiB")
            tracemalloc.start()
            apply_rules(sessions, path, dry_run=True)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            figure("tracemalloc peak of a --dry-run", peak / 2**20, "MiB")
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
