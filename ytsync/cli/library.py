"""``import``: read the channel into the database."""

from __future__ import annotations

import argparse
from typing import Any

from ytsync.cli.context import Context

# Playlists and items left out of the library that the table's warnings name.
MAX_SHOWN_REFUSED = 10


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("import", help="import playlists, items and video status")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace, ctx: Context) -> int:
    # Here, not at the top: every command would load the API client stack.
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from ytsync.importer import import_library

    ctx.creates_database = True  # the one command that may start a new database
    sessions = ctx.sessions
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=ctx.err,
        transient=True,
        disable=args.json or not ctx.err.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                label = "playlist items" if stage == "items" else "video status"
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        summary = import_library(ctx.settings, sessions, progress=tick)
    if args.json:
        ctx.print_json(summary.as_dict())
        return 0
    table = Table(title="Imported library", show_header=False)
    table.add_row("playlists", str(summary.playlists))
    table.add_row("playlist items", str(summary.items))
    table.add_row("videos", str(summary.videos))
    table.add_row("unavailable videos (private or deleted)", str(summary.unavailable))
    table.add_row("skipped (system or sync-created lists)", str(len(summary.skipped_playlists)))
    table.add_row("gone from YouTube since last import", str(summary.gone_playlists))
    table.add_row("quota units spent", str(summary.units_spent))
    ctx.out.print(table)
    for refused in summary.refused[:MAX_SHOWN_REFUSED]:
        ctx.err.print(f"warning: {refused}", markup=False)
    if len(summary.refused) > MAX_SHOWN_REFUSED:
        more = len(summary.refused) - MAX_SHOWN_REFUSED
        ctx.err.print(f"warning: … and {more:,} more left out ('import --json' lists them)")
    return 0
