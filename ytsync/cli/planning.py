"""``plan apply FILE``, ``plan export FILE`` and ``preview``: shaping the sync before it starts."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ytsync.cli.context import Context
from ytsync.cli.views import render_preview
from ytsync.plan import ApplySummary, ExportSummary, apply_plan, export_plan
from ytsync.preview import compute_preview


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="set or export the plan (which videos go into which category)",
        description="The plan is a CSV file with the header category,video_id and an "
        "optional protected column (true/false).",
    )
    actions = plan.add_subparsers(dest="plan_command", required=True, metavar="ACTION")

    apply = actions.add_parser(
        "apply", help="replace the categories with a plan file (all or nothing)"
    )
    apply.add_argument("file", type=Path, metavar="FILE", help="the plan CSV to apply")
    _json_flag(apply)
    apply.set_defaults(handler=handle_apply)

    export = actions.add_parser(
        "export", help="write the imported playlists as a starting plan file"
    )
    export.add_argument("file", type=Path, metavar="FILE", help="where to write the CSV")
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    _json_flag(export)
    export.set_defaults(handler=handle_export)

    preview = subparsers.add_parser(
        "preview", help="show what a sync would create, add and delete, and its quota cost"
    )
    _json_flag(preview)
    preview.set_defaults(handler=handle_preview)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def handle_apply(args: argparse.Namespace, ctx: Context) -> int:
    summary = apply_plan(ctx.sessions, args.file)
    if args.json:
        ctx.print_json(summary.model_dump(mode="json"))
    else:
        print_apply_summary(summary, ctx.out)
    return 0


def handle_export(args: argparse.Namespace, ctx: Context) -> int:
    summary = export_plan(ctx.sessions, args.file, force=args.force)
    if args.json:
        ctx.print_json(summary.model_dump(mode="json"))
    else:
        print_export_summary(summary, ctx.out)
    return 0


def handle_preview(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.sessions() as session:
        preview = compute_preview(session, ctx.settings, datetime.now(UTC))
    if args.json:
        ctx.print_json(preview.model_dump(mode="json"))
    else:
        render_preview(preview, ctx.out)
    return 0


def print_apply_summary(summary: ApplySummary, out: Console) -> None:
    out.print(
        Text(
            f"Applied {summary.file}: {summary.categories:,} categories "
            f"({summary.protected_categories:,} protected), {summary.videos:,} videos, "
            f"{summary.assignments:,} category entries."
        )
    )
    out.print(
        Text(
            f"{summary.categories_added:,} new, {summary.categories_kept:,} kept, "
            f"{summary.categories_removed:,} removed."
        )
    )
    for renamed in summary.renamed_categories:
        note = " (its YouTube playlist keeps the old title)" if renamed.youtube_playlist_id else ""
        out.print(Text(f"Renamed {renamed.old_name!r} to {renamed.new_name!r}{note}."))
    for removed in summary.playlists_left_on_youtube:
        out.print(
            Text(
                f"Warning: removed category {removed.category_name!r} already has playlist "
                f"{removed.youtube_playlist_id} on YouTube; it stays there (delete it on "
                "YouTube if you no longer want it).",
                style="yellow",
            )
        )
    out.print(Text("Next: python starter.py preview"))


def print_export_summary(summary: ExportSummary, out: Console) -> None:
    if summary.categories == 0:
        out.print(
            Text(
                f"Wrote only the header to {summary.file}: no imported playlist has videos "
                "(run python starter.py import first)."
            )
        )
        return
    out.print(
        Text(
            f"Wrote {summary.categories:,} categories with {summary.videos:,} videos to "
            f"{summary.file} (none protected)."
        )
    )
    notes = [
        (summary.skipped_duplicates, "duplicate playlist item(s) skipped"),
        (summary.empty_playlists, "empty playlist(s) left out"),
        (summary.adjusted_names, "name(s) shortened or numbered to stay unique"),
    ]
    for count, text in notes:
        if count:
            out.print(Text(f"{count:,} {text}."))
    out.print(Text(f"Edit it, then run: python starter.py plan apply {summary.file}"))
