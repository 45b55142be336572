"""``backup list`` and ``backup export``: the snapshots a sync takes before any write."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from ytsync.cli.context import Context, confirmed, launch
from ytsync.errors import UserError
from ytsync.files import write_output
from ytsync.safetext import json_visible

# Snapshot ids are a database's INTEGER, 32 bits on PostgreSQL.
MAX_SNAPSHOT_ID = 2**31 - 1

# ytsync.sync.undo.ORDERS, named here so the parser loads no database code.
ORDERS = ("keep", "any")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser("backup", help="list or export backup snapshots")
    actions = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list the snapshots")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(handler=run_list)
    export = actions.add_parser("export", help="write a snapshot as JSON")
    export.add_argument("file", type=Path, help="where to write it")
    export.add_argument("--snapshot", type=snapshot_id, help="snapshot id (default: the newest)")
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.set_defaults(handler=run_export)
    restore = commands.add_parser(
        "restore", help="recreate the old playlists of a backup snapshot, with their items"
    )
    restore.add_argument(
        "snapshot", nargs="?", type=snapshot_id, help="snapshot id (default: newest)"
    )
    restore.add_argument(
        "--preview", action="store_true", help="show what it would write and cost, and stop"
    )
    restore.add_argument(
        "--order",
        choices=ORDERS,
        default="keep",
        help="keep: the old order of every playlist (default); any: only add what is "
        "missing from the playlists a reusing sync kept (fewer writes)",
    )
    restore.add_argument(
        "--undo-sync",
        action="store_true",
        help="also delete the category playlists the sync made, each once its videos "
        "are verified back in their old playlists",
    )
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument(
        "--json", action="store_true", help="print the preview, or the job, as JSON"
    )
    restore.set_defaults(handler=run_restore)


def snapshot_id(text: str) -> int:
    """A snapshot id as typed: a whole number a database can hold (``backup list``
    shows them)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a snapshot id (a whole number; see 'backup list')"
        ) from None
    if not 1 <= number <= MAX_SNAPSHOT_ID:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a snapshot id (from 1 to {MAX_SNAPSHOT_ID:,}; see 'backup list')"
        )
    return number


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.backup import list_snapshots

    with ctx.sessions() as session:
        rows = list_snapshots(session)
    if args.json:
        ctx.print_json(rows)
        return 0
    if not rows:
        ctx.out.print("No snapshots yet: a sync takes one before its first write.")
        return 0
    from ytsync.cli.views import snapshots_table

    ctx.out.print(snapshots_table(rows))
    return 0


def run_export(args: argparse.Namespace, ctx: Context) -> int:
    target: Path = args.file
    # Checked before the database is read; write_output checks again as it writes.
    if target.is_symlink():
        raise UserError(f"{target} is a symbolic link; ytsync does not write through links")
    if target.exists() and not args.force:
        raise UserError(f"{target} already exists; add --force to overwrite it")
    if not target.parent.is_dir():
        raise UserError(f"folder {target.parent} does not exist")
    from ytsync.backup import snapshot_document

    with ctx.sessions() as session:
        data = snapshot_document(session, args.snapshot)
    # The whole library with its titles: private (0600), and never half written.
    # Exact, and safe to print: json_visible writes the characters a terminal would
    # obey, which json.dumps leaves raw (C1 controls, U+202E), as \u escapes.
    document = json_visible(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"
    write_output(target, document.encode("utf-8"), force=args.force)
    ctx.out.print(
        f"Wrote snapshot {data['snapshot_id']} ({len(data['playlists'])} playlists) to {target}."
    )
    return 0


def run_restore(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.sync.undo import RestoreOptions

    now = datetime.now(UTC)
    options = RestoreOptions(args.order, args.undo_sync)
    if args.preview:
        from ytsync.restore_preview import compute_restore_preview

        with ctx.sessions() as session:
            shown = compute_restore_preview(session, ctx.settings, args.snapshot, options, now)
        if args.json:
            ctx.print_json(shown.model_dump(mode="json"))
        else:
            from ytsync.cli.views import render_restore_preview

            render_restore_preview(shown, ctx.out)
        return 0
    from ytsync.jobs import restore_preview

    # Before asking and before Temporal: nothing to restore is exit code 2 either way.
    # The job keeps the preview the user said yes to.
    shown = restore_preview(ctx.sessions, args.snapshot, ctx.settings, now, options)
    if not args.yes:
        from ytsync.cli.views import render_restore_preview

        render_restore_preview(shown, ctx.err)
        what = "Restore the snapshot and undo the sync?" if args.undo_sync else "Restore?"
        if not confirmed(what, "restore"):
            ctx.err.print("Not started.")
            return 0
    from ytsync.cli.jobctl import start_restore

    return launch(
        ctx,
        lambda client: start_restore(
            ctx.sessions,
            client,
            ctx.settings,
            args.snapshot,
            options=options,
            preview=shown,
            now=now,
        ),
        args.json,
        "restore job",
    )
