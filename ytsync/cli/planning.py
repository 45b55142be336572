"""``plan apply FILE``, ``plan export FILE`` and ``preview``: shaping the sync before it starts."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from ytsync.cli.context import Context


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

    rules = actions.add_parser(
        "rules",
        help="place the videos into categories by a rules file (TOML), as plan apply would",
        description="Rules in order, the first that matches places a video; checked as a "
        "whole, nothing applied on any problem. The change is shown as a diff of the "
        "videos it affects.",
    )
    rules.add_argument("file", type=Path, metavar="FILE", help="the rules file (TOML)")
    rules.add_argument(
        "--dry-run", action="store_true", help="show what would change; change nothing"
    )
    rules.add_argument(
        "--explain",
        action="store_true",
        help="list each video with the rule that placed it, and the videos no rule matched",
    )
    _json_flag(rules)
    rules.set_defaults(handler=handle_rules)

    export = actions.add_parser(
        "export", help="write the imported playlists as a starting plan file"
    )
    export.add_argument("file", type=Path, metavar="FILE", help="where to write the CSV")
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    export.add_argument(
        "--categories",
        action="store_true",
        help="write the categories as they are now (a plan or rules applied), not the "
        "imported playlists",
    )
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
    from ytsync.cli.views import print_apply_summary
    from ytsync.plan import apply_plan

    summary = apply_plan(ctx.sessions, args.file)
    if args.json:
        ctx.print_json(summary.model_dump(mode="json"))
    else:
        print_apply_summary(summary, ctx.out)
    return 0


def handle_rules(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli.views import render_rules
    from ytsync.rules.apply import apply_rules

    result = apply_rules(ctx.sessions, args.file, dry_run=args.dry_run, explain=args.explain)
    if args.json:
        lists = set() if args.explain else {"placed_videos", "unmatched_videos"}
        ctx.print_json(result.model_dump(mode="json", exclude=lists))
    else:
        render_rules(result, ctx.out)
    return 0


def handle_export(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli.views import print_export_summary
    from ytsync.plan import export_categories, export_plan

    export = export_categories if args.categories else export_plan
    summary = export(ctx.sessions, args.file, force=args.force)
    if args.json:
        ctx.print_json(summary.model_dump(mode="json"))
    else:
        print_export_summary(summary, ctx.out)
    return 0


def handle_preview(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli.views import render_preview
    from ytsync.preview import compute_preview

    with ctx.sessions() as session:
        preview = compute_preview(session, ctx.settings, datetime.now(UTC))
    if args.json:
        ctx.print_json(preview.model_dump(mode="json"))
    else:
        render_preview(preview, ctx.out)
    return 0
