"""Everything the command line draws with rich: the plan's summaries, the preview, a
job's status, the report.

The domain hands over typed data (``Preview``, ``JobStatus``, ``JobReport``); only this
module decides how a person sees it.  JSON output never comes through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ytsync.cli.hints import KEPT_NEW_WAY_OUT
from ytsync.organize.change import SHOWN as SHOWN_CHANGES
from ytsync.organize.change import RulesChange
from ytsync.organize.runs import RunReport, RunSummary
from ytsync.plan import ApplySummary, ExportSummary
from ytsync.preview import CategoryCount, PlaylistRef, Preview
from ytsync.quota import WRITE_COST
from ytsync.report import JobReport
from ytsync.restore_preview import RestorePreview
from ytsync.rules.apply import RulesDiff, RulesResult, VideoChange
from ytsync.safetext import one_line
from ytsync.status import Audit, JobStatus, KeptPlaylist
from ytsync.strategies import Strategies
from ytsync.wire import FINAL_STAGES, PauseReason, Stage

if TYPE_CHECKING:
    from ytsync.cli.schedulectl import ScheduleInfo

# Rows per table in the human-readable preview; the rest is summed up in one line.
MAX_TABLE_ROWS = 20
# Refresh tokens of an OAuth app in "Testing" status expire after 7 days.
TESTING_TOKEN_DAYS = 7
NO_JOB = "No sync job yet. Start one with 'python starter.py start'."
AUTH_REQUIRED_HELP = (
    "YouTube no longer accepts the sign-in (expired or revoked). Sign in again with "
    "'python starter.py auth --client-secrets FILE', then run 'python starter.py resume'."
)
# After the job's own words (a sign-in problem, or one on this machine), which name no
# command.
AUTH_WAY_OUT = (
    "; fix that (a sign-in: 'python starter.py auth --client-secrets FILE'), "
    "then run 'python starter.py resume'"
)
BAR_WIDTH = 30
# What finishes a job that kept what it could not verify.
FINISH_SYNC = "run 'python starter.py start' again to check the kept playlists and finish"
FINISH_RESTORE = (
    "once what is named can be put back (a playlist YouTube refused to recreate: free a "
    "playlist slot), run 'python starter.py restore' again with the same options to check "
    "again and finish"
)


def cell(text: str, style: str = "") -> Text:
    """Text from YouTube or a plan in one cell or line: never rich markup, a line
    break or tab written out (a name must not print as a row of its own); the console
    shows control and invisible characters as escapes (ytsync.cli.console)."""
    return Text(one_line(text), style=style)


# --------------------------------------------------------------------------- preview


def render_preview(preview: Preview, console: Console) -> None:
    """The preview for a person: tables of the work, the cost, the finish, the warnings."""
    console.print(_summary_table(preview))
    _print_quota(preview, console)
    if preview.videos_to_add.by_category or preview.playlists_to_create.items:
        console.print(_categories_table(preview))
    if preview.playlists_to_delete.items:
        console.print(_deletions_table(preview.playlists_to_delete.items))
    if preview.sources_kept:
        names = ", ".join(f"'{p.name}'" for p in preview.sources_kept)
        console.print(
            Text(f"Kept, not deleted: {names}: an organize schedule's inbox (its source).")
        )
    if preview.protected_categories:
        console.print(_protected_table(preview.protected_categories))
    console.print(_strategies_table(preview.strategies))
    if preview.strategies.reuse_keeps:
        console.print(_kept_table(preview.strategies))
    _print_warnings(preview, console)


def _summary_table(preview: Preview) -> Table:
    table = Table(title="What the sync will do")
    table.add_column("Step")
    table.add_column("Count", justify="right")
    table.add_column("Quota units", justify="right")
    steps = (
        ("Create playlists", preview.playlists_to_create.count),
        ("Add videos", preview.videos_to_add.count),
        ("Delete old playlists", preview.playlists_to_delete.count),
    )
    for label, count in steps:
        table.add_row(label, f"{count:,}", f"{count * WRITE_COST:,}")
    table.add_section()
    table.add_row("Total", "", f"{preview.total_quota_cost:,}", style="bold")
    return table


def _print_quota(preview: Preview, console: Console) -> None:
    console.print(
        Text(
            f"Quota: {preview.daily_quota_limit:,} units a period (a day on YouTube), "
            f"{preview.quota_reserve:,} kept "
            f"in reserve, so {preview.usable_quota_per_period:,} for the sync; "
            f"{preview.remaining_quota_today:,} left in this period "
            f"(next reset {_local(preview.next_quota_reset)})."
        )
    )
    if preview.quota_shared_with:
        console.print(
            Text(
                "The quota is shared with "
                f"{_names(preview.quota_shared_with)}: signed in through the same OAuth "
                "client (one Google Cloud project), their jobs spend the same units."
            )
        )
    if preview.total_quota_cost == 0:
        console.print(Text("Nothing to write: the sync would only back up the library."))
        return
    finish = _last_writes(preview)
    console.print(
        Text(
            f"Needs {preview.quota_periods_needed:,} quota period(s) "
            f"({preview.estimated_days:,} day(s) at the full daily limit); "
            f"the last writes run {finish}."
        )
    )


def _categories_table(preview: Preview) -> Table:
    new_ids = {item.category_id for item in preview.playlists_to_create.items}
    counts = {entry.category_id: entry for entry in preview.videos_to_add.by_category}
    rows = [(e.category_name, e.category_id in new_ids, e.video_count) for e in counts.values()]
    rows += [
        (item.category_name, True, 0)
        for item in preview.playlists_to_create.items
        if item.category_id not in counts
    ]
    table = Table(title="Category playlists (most videos first)")
    table.add_column("Category")
    table.add_column("Playlist")
    table.add_column("Videos to add", justify="right")
    for name, is_new, count in rows[:MAX_TABLE_ROWS]:
        table.add_row(cell(name), "new" if is_new else "exists", f"{count:,}")
    _more_row(table, len(rows), "categories")
    return table


def _deletions_table(items: Sequence[PlaylistRef]) -> Table:
    return _listing(
        "Old playlists to delete (the backup keeps them)",
        ("Playlist", "YouTube id"),
        [(cell(item.name), cell(item.youtube_id)) for item in items[:MAX_TABLE_ROWS]],
        len(items),
        "playlists",
    )


def _protected_table(items: Sequence[CategoryCount]) -> Table:
    return _listing(
        "Protected categories (no playlist, videos not added)",
        ("Category", "Videos"),
        [(cell(i.category_name), f"{i.video_count:,}") for i in items[:MAX_TABLE_ROWS]],
        len(items),
        "categories",
        numbers=("Videos",),
    )


def _strategies_table(strategies: Strategies) -> Table:
    rebuild, reuse = strategies.rebuild, strategies.reuse
    table = Table(title="Rebuild (what a job does) and reuse (keep old playlists)")
    table.add_column("")
    table.add_column("Rebuild", justify="right")
    table.add_column("Reuse", justify="right")
    rows = (
        ("Create playlists", rebuild.creates, reuse.creates),
        ("Update kept playlists", rebuild.updates, reuse.updates),
        ("Add videos", rebuild.adds, reuse.adds),
        ("Remove items from kept playlists", rebuild.item_deletes, reuse.item_deletes),
        ("Delete old playlists", rebuild.playlist_deletes, reuse.playlist_deletes),
    )
    for label, left, right in rows:
        table.add_row(label, f"{left:,}", f"{right:,}")
    table.add_section()
    table.add_row("Writes", f"{rebuild.writes:,}", f"{reuse.writes:,}", style="bold")
    table.add_row("Quota units", f"{rebuild.quota_cost:,}", f"{reuse.quota_cost:,}")
    table.add_row(
        "Quota periods", f"{rebuild.quota_periods_needed:,}", f"{reuse.quota_periods_needed:,}"
    )
    table.add_row("Finishes", _local(rebuild.estimated_finish), _local(reuse.estimated_finish))
    return table


def _kept_table(strategies: Strategies) -> Table:
    keeps = strategies.reuse_keeps
    table = Table(
        title=f"Reuse would keep {len(keeps):,} old playlist(s); "
        f"{strategies.reuse_out_of_plan_order:,} item(s) would sit out of plan order"
    )
    table.add_column("Category")
    table.add_column("Keeps old playlist")
    table.add_column("Adds", justify="right")
    table.add_column("Removes", justify="right")
    for keep in keeps[:MAX_TABLE_ROWS]:
        title = keep.title + ("" if keep.title == keep.category_name else " (renamed)")
        table.add_row(
            cell(keep.category_name), cell(title), f"{keep.adds:,}", f"{keep.item_deletes:,}"
        )
    _more_row(table, len(keeps), "kept playlists")
    return table


def _listing(
    title: str,
    columns: Sequence[str],
    rows: Sequence[tuple[str | Text, ...]],
    total: int,
    noun: str,
    *,
    numbers: Sequence[str] = (),
) -> Table:
    """A table of the first rows of ``total``, the rest counted; ``numbers``: the
    columns set right."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in numbers else "left")
    for row in rows:
        table.add_row(*row)
    _more_row(table, total, noun)
    return table


def _more_row(table: Table, total: int, noun: str) -> None:
    if total > MAX_TABLE_ROWS:
        table.add_row(Text(f"… {total - MAX_TABLE_ROWS:,} more {noun}", style="dim"))


def _print_warnings(preview: Preview, console: Console) -> None:
    unavailable = preview.unavailable_videos
    if unavailable.count:
        console.print(
            Text(
                f"Warning: {unavailable.count:,} video(s) are private or deleted; the sync "
                "skips them (no quota spent):",
                style="yellow",
            )
        )
        for video in unavailable.items[:5]:
            console.print(cell(f"  {video.video_id} {video.title} ({video.availability})"))
    uncategorized = preview.uncategorized_videos
    if uncategorized.count:
        console.print(
            Text(
                f"Warning: {uncategorized.count:,} video(s) are in an old playlist but in no "
                "category; they lose their playlist when the old ones are deleted (the "
                "backup keeps them):",
                style="yellow",
            )
        )
        for item in uncategorized.items[:5]:
            console.print(cell(f"  {item.video_id} {item.title} ({', '.join(item.playlists)})"))
    if preview.estimated_finish - preview.computed_at > timedelta(days=TESTING_TOKEN_DAYS):
        console.print(
            Text(
                "Note: the sync spans more than 7 days. If your Google OAuth app is in "
                '"Testing" status its refresh token expires after 7 days: publish the app '
                "first, or be ready to re-authorize when the job pauses with auth_required.",
                style="yellow",
            )
        )


def _last_writes(preview: Preview | RestorePreview) -> str:
    """When the last writes of a previewed job run."""
    if preview.quota_periods_needed <= 1 and preview.remaining_quota_today:
        return "in this period"
    return f"from about {_local(preview.estimated_finish)}"


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


# --------------------------------------------------------------------------- restore


def render_restore_preview(preview: RestorePreview, console: Console) -> None:
    """What a restore will write, what it costs, and the other order beside it."""
    undo = " and undo the sync" if preview.undo_sync else ""
    table = Table(title=f"What the restore of snapshot {preview.snapshot_id}{undo} will do")
    table.add_column("Step")
    table.add_column("Count", justify="right")
    table.add_column("Quota units", justify="right")
    steps = (
        ("Recreate old playlists (2 writes each)", preview.playlists_to_recreate),
        ("Rename kept playlists back", preview.playlists_to_rename),
        ("Add items back", preview.items_to_add),
        ("Remove items in the way (once verified)", preview.items_to_remove),
        ("Delete category playlists (once verified)", preview.playlists_to_delete),
    )
    for label, step in steps:
        table.add_row(label, f"{step.count:,}", f"{step.quota_cost:,}")
    table.add_section()
    table.add_row("Total", f"{preview.writes:,} writes", f"{preview.write_units:,}", style="bold")
    console.print(table)
    orders = Table(title="--order keep (the old order) and --order any (only what is missing)")
    orders.add_column("")
    orders.add_column("keep", justify="right")
    orders.add_column("any", justify="right")
    keep, any_order = preview.orders["keep"], preview.orders["any"]
    orders.add_row("Writes", f"{keep.writes:,}", f"{any_order.writes:,}")
    orders.add_row("Quota units", f"{keep.write_units:,}", f"{any_order.write_units:,}")
    orders.add_row(
        "Quota periods", f"{keep.quota_periods_needed:,}", f"{any_order.quota_periods_needed:,}"
    )
    orders.add_row("Finishes", _local(keep.estimated_finish), _local(any_order.estimated_finish))
    console.print(orders)
    recreate = preview.playlists_to_recreate.items
    if recreate:
        console.print(
            _listing(
                "Old playlists to recreate (new ids)",
                ("Playlist", "Items"),
                [(cell(e.title), f"{e.items:,}") for e in recreate[:MAX_TABLE_ROWS]],
                len(recreate),
                "playlists",
                numbers=("Items",),
            )
        )
    renames = preview.playlists_to_rename.items
    if renames:
        console.print(
            _listing(
                "Kept playlists given back their old selves",
                ("Now", "Back to"),
                [(cell(r.title_now), cell(r.title)) for r in renames[:MAX_TABLE_ROWS]],
                len(renames),
                "playlists",
            )
        )
    made = preview.playlists_to_delete.items
    if made:
        console.print(
            _listing(
                "Category playlists to delete (kept if one holds an item of yours)",
                ("Playlist", "YouTube id"),
                [(cell(m.title), cell(m.playlist_id)) for m in made[:MAX_TABLE_ROWS]],
                len(made),
                "playlists",
            )
        )
    if preview.unavailable_items:
        console.print(
            Text(
                f"Warning: {preview.unavailable_items:,} item(s) hold videos that are private "
                "or deleted; they cannot be put back (no quota spent).",
                style="yellow",
            )
        )
    finish = _last_writes(preview)
    console.print(
        Text(
            f"Needs {preview.quota_periods_needed:,} quota period(s) at "
            f"{preview.usable_quota_per_period:,} usable units each "
            f"({preview.remaining_quota_today:,} left in this one); the last writes run "
            f"{finish}."
        )
    )


# --------------------------------------------------------------------------- plan


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


# --------------------------------------------------------------------------- rules


def render_rules(result: RulesResult, out: Console) -> None:
    """What the rules placed, the change they make (or would make), and, with
    ``--explain``, every video by the rule that placed it and those none matched."""
    out.print(
        Text(
            f"{result.file}: {result.videos:,} videos in the library; {result.matched:,} "
            f"placed by the rules, {result.unmatched:,} matched by none."
        )
    )
    table = Table(title="Rules, in order (the first that matches places the video)")
    table.add_column("rule", justify="right", no_wrap=True)
    table.add_column("line", justify="right", no_wrap=True)
    table.add_column("category", overflow="fold")
    table.add_column("conditions", overflow="fold", ratio=1)
    table.add_column("videos", justify="right", no_wrap=True)
    for rule in result.rules:
        table.add_row(
            str(rule.rule),
            str(rule.line),
            Text(rule.category),
            Text("; ".join(rule.conditions) or "any video"),
            f"{rule.videos:,}",
        )
    out.print(table)
    if result.placed_videos is not None and result.unmatched_videos is not None:
        _explanation(result, out)
    _rules_diff(result.diff, out)
    if result.applied is not None:
        print_apply_summary(result.applied, out)
    else:
        out.print(
            Text(
                f"Dry run: nothing was changed. Apply it with 'python starter.py plan rules "
                f"{result.file}'."
            )
        )


def _explanation(result: RulesResult, out: Console) -> None:
    placed = result.placed_videos or []
    for rule in result.rules:
        out.print(
            Text(f"Rule {rule.rule} (line {rule.line}) -> {rule.category}: {rule.videos:,} videos")
        )
        for video in placed:
            if video.rule == rule.rule:
                out.print(cell(f"  {video.video_id}  {video.title}"))
    unmatched = result.unmatched_videos or []
    out.print(Text(f"Matched by no rule: {len(unmatched):,} videos"))
    for entry in unmatched:
        where = ", ".join(entry.playlists) or "no playlist"
        note = "" if entry.availability == "available" else f" [{entry.availability}]"
        out.print(cell(f"  {entry.video_id}  {entry.title}{note}  (in: {where})"))


def _rules_diff(diff: RulesDiff, out: Console) -> None:
    if diff.empty:
        out.print(Text("No change: the categories already are what the rules make."))
        return
    out.print(
        Text(
            f"Changes: {len(diff.placed):,} videos newly placed, {len(diff.moved):,} moved "
            f"to another category, {len(diff.unplaced):,} no longer in any category."
        )
    )
    changes = [
        *(("placed", c) for c in diff.placed),
        *(("moved", c) for c in diff.moved),
        *(("unplaced", c) for c in diff.unplaced),
    ]
    if changes:
        table = Table()
        table.add_column("change", no_wrap=True)
        table.add_column("video", no_wrap=True)
        table.add_column("title", overflow="fold", ratio=1)
        table.add_column("before", overflow="fold")
        table.add_column("after", overflow="fold")
        for kind, change in changes[:MAX_TABLE_ROWS]:
            table.add_row(kind, cell(change.video_id), cell(change.title), *_sides(change))
        out.print(table)
        if len(changes) > MAX_TABLE_ROWS:
            out.print(
                Text(f"... and {len(changes) - MAX_TABLE_ROWS:,} more (--json lists them all)")
            )
    if diff.categories_added:
        out.print(Text(f"New categories: {', '.join(diff.categories_added)}"))
    if diff.categories_removed:
        out.print(Text(f"Categories removed: {', '.join(diff.categories_removed)}"))
    for setting in diff.settings_changed:
        out.print(
            Text(f"{setting.category}: {setting.setting} {setting.before!r} -> {setting.after!r}")
        )


def _sides(change: VideoChange) -> tuple[Text, Text]:
    return Text(", ".join(change.before) or "-"), Text(", ".join(change.after) or "-")


def print_export_summary(summary: ExportSummary, out: Console) -> None:
    if summary.categories == 0:
        out.print(
            Text(
                f"Wrote only the header to {summary.file}: no imported playlist has videos "
                "(run python starter.py import first)."
            )
        )
        return
    protected = f"{summary.protected_categories:,}" if summary.protected_categories else "none"
    out.print(
        Text(
            f"Wrote {summary.categories:,} categories with {summary.videos:,} videos to "
            f"{summary.file} ({protected} protected)."
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


# --------------------------------------------------------------------------- backups


def snapshots_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table("snapshot", "taken", "playlists", "items", title="Backup snapshots")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    return table


# --------------------------------------------------------------------------- status


@dataclass
class StatusView:
    """What the human view shows: the ``status --json`` data plus a few extras."""

    status: JobStatus | None
    now: datetime
    # None: not read from the ledger.
    quota_used_today: int | None = None
    quota_exhausted: bool = False
    # None: not asked (the job has ended); False: Temporal could not be reached.
    temporal_reachable: bool | None = None


def _kept_text(kept: KeptPlaylist, kind: str = "sync") -> str:
    """A playlist the job kept: the videos saved to it since the import, then the ones
    not verified where they must be first (five of each named): for a sync, in their
    category playlists; for a restore, back where they were."""
    new = [v for v in kept.videos if v.new]
    unverified = [v for v in kept.videos if not v.new]
    parts = []
    if new:
        named = ", ".join(f"{v.video_id} '{v.title}'" for v in new[:5])
        more = f" and {len(new) - 5} more" if len(new) > 5 else ""
        parts.append(f"{len(new)} video(s) saved to it since the import: {named}{more}")
    if unverified:
        named = ", ".join(f"{v.video_id} ({v.category})" for v in unverified[:5])
        more = f" and {len(unverified) - 5} more" if len(unverified) > 5 else ""
        where = "back where they were" if kind == "restore" else "in their category playlists"
        parts.append(f"{len(unverified)} video(s) not verified {where}: {named}{more}")
    return f"'{kept.title}' ({kept.playlist_id}): " + "; ".join(parts)


def _next_step(held_back: list[KeptPlaylist], kind: str = "sync") -> str:
    if any(video.new for kept in held_back for video in kept.videos):
        return KEPT_NEW_WAY_OUT
    return FINISH_RESTORE if kind == "restore" else FINISH_SYNC


def status_view(view: StatusView, *, watching: float | None = None) -> RenderableType:
    """The human view of a job: stage, a bar per stage, quota, resume time, errors."""
    status = view.status
    if status is None:
        return Text(NO_JOB)
    table = Table(title=f"ytsync job {status.job_id}", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("stage", _stage_text(status, view.now))
    if status.kind == "restore":
        table.add_row("restores", f"the playlists of snapshot {status.snapshot_id}")
    else:
        table.add_row("strategy", status.strategy or "")
    table.add_row("progress", _bar(status.progress.done, status.progress.total))
    current = status.paused_at_stage if status.stage == "paused" else status.stage
    for name, result in status.stage_results.items():
        table.add_row(Text(f"  {name}"), _stage_cell(name, result, current or "", status))
    if status.audit.checks:
        table.add_row("settled checks", _audit_text(status.audit))
    for kept in status.held_back:
        table.add_row("kept", cell(_kept_text(kept, status.kind), style="yellow"))
    if status.held_back and status.stage == "completed":
        table.add_row("next step", _next_step(status.held_back, status.kind))
    table.add_row("quota used today", _quota_today(view, status))
    table.add_row("quota used by the job", f"{status.quota_used:,} units")
    if status.resume_at:
        table.add_row("resumes at", _local_time(status.resume_at, view.now))
    errors = len(status.errors)
    table.add_row(
        "errors",
        f"{errors} item(s) failed; list them with 'python starter.py report'" if errors else "0",
    )
    if status.failure_message:
        table.add_row("failure", Text(status.failure_message, style="red"))
    live = status.workflow
    if live is not None:
        asked = ", pause requested" if live.pause_requested else ""
        table.add_row("workflow", f"running (run {live.runs}{asked})")
    elif view.temporal_reachable is False:
        table.add_row(
            "workflow",
            Text("Temporal unreachable: showing the job as last saved in the database", "yellow"),
        )
    if status.pause_reason == PauseReason.AUTH:
        # The job's own words when it has them: a missing scope, a local error.  Jobs
        # paused by older workers named the commands themselves.
        said = status.pause_message
        help_text = AUTH_REQUIRED_HELP
        if said:
            help_text = said if "starter.py" in said else said + AUTH_WAY_OUT
        table.add_row("action needed", Text(help_text, style="bold red"))
    if watching is None:
        return table
    if status.stage in FINAL_STAGES:
        footer = f"The job is {status.stage}."
    else:
        footer = f"Refreshing every {watching:g} s; Ctrl-C stops watching (the job goes on)."
    return Group(table, Text(footer, style="dim"))


def _stage_text(status: JobStatus, now: datetime) -> Text:
    stage = status.stage
    asked = status.pause_requested_at
    if stage == "paused":
        text = f"paused ({status.pause_reason or 'unknown reason'}) at {status.paused_at_stage}"
        if asked and status.pause_reason != "user":
            text += "; your pause holds it after that"
        return Text(text)
    if asked and stage not in FINAL_STAGES:
        # The request is recorded, the workflow has not yet seen every batch stop.
        return Text(
            f"pausing… (asked {_ago(asked, now)}; the running writes stop at the next one)",
            style="yellow",
        )
    return Text(stage)


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _bar(done: int, total: int) -> RenderableType:
    if total == 0:
        return Text("nothing planned yet", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        ProgressBar(total=total, completed=min(done, total), width=BAR_WIDTH),
        Text(f"{done:,} / {total:,} ({100 * done // total}%)"),
    )
    return grid


def _stage_cell(
    name: str, result: dict[str, int], current: str, status: JobStatus
) -> RenderableType:
    held = result.get("held_back", 0)
    settled = result["succeeded"] + result["failed"] + result["skipped"] + held
    total = settled + result["open"]
    if total == 0:
        # The backup writes no operation rows: its snapshot id says it is done.
        if name == "backup" and status.backup_id:
            return Text("done")
        if _before(current, name):
            return Text("not started", style="dim")
        return Text("nothing to do", style="dim")
    extra = [f"{result[k]:,} {k}" for k in ("failed", "skipped") if result[k]]
    if held:
        extra.append(f"{held:,} kept")
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        ProgressBar(total=total, completed=settled, width=BAR_WIDTH),
        Text(f"{settled:,} / {total:,}" + (f" ({', '.join(extra)})" if extra else "")),
    )
    return grid


def _audit_text(audit: Audit) -> str:
    repairs = [
        f"{count:,} {label}"
        for count, label in (
            (audit.found_after_settle, "found after settling"),
            (audit.sent_again, "sent again"),
            (audit.duplicates_removed, "duplicates removed"),
        )
        if count
    ]
    return (
        f"{audit.clean} of {audit.checks} clean, {audit.read_units:,} read units, "
        f"settle {audit.settle_seconds:g} s" + (f"; {', '.join(repairs)}" if repairs else "")
    )


def _before(current: str, stage: str) -> bool:
    """Has the job not yet reached ``stage``?  Unknown stages count as reached."""
    if current in FINAL_STAGES:
        return False
    try:
        order = [str(s) for s in Stage]
        return order.index(current) < order.index(stage)
    except ValueError:
        return False


def _quota_today(view: StatusView, status: JobStatus) -> RenderableType:
    today = status.quota_today
    text = Text()
    if view.quota_used_today is not None:
        text.append(f"{view.quota_used_today:,} units used; ")
    text.append(f"{today.remaining:,} of {today.usable:,} usable left")
    if today.shared_with:
        text.append(f" (one OAuth client's quota, shared with {_names(today.shared_with)})")
    if view.quota_exhausted:
        text.append(" (YouTube said the quota is spent)", style="yellow")
    text.append(f"; resets {_local_time(today.next_reset, view.now)}")
    return text


def _names(channels: list[str]) -> str:
    return ", ".join(f"channel {name}" for name in channels)


def _local_time(moment: datetime, now: datetime) -> str:
    """A moment in the user's local time zone, with how far away it is."""
    local = moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    seconds = int((moment - now).total_seconds())
    if seconds <= 0:
        return f"{local} (due now)"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{local} (in {hours} h {minutes} min)" if hours else f"{local} (in {minutes} min)"


# --------------------------------------------------------------------------- report


def render_report(report: JobReport, console: Console) -> None:
    """The failed and skipped items of a job, one row each, or a line saying none."""
    job_id, stage = report.job_id, report.job_stage
    if not report.items:
        console.print(f"Job {job_id} ({stage}): no failed or skipped items.")
        return
    table = Table(title=f"Failed or skipped items of job {job_id} ({stage})")
    # Short fixed values never wrap; ids and reasons fold, so none is cut off.
    table.add_column("stage", no_wrap=True)
    table.add_column("entity", no_wrap=True)
    table.add_column("id", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    table.add_column("time", no_wrap=True)
    for item in report.items:
        when = item.timestamp.astimezone().strftime("%Y-%m-%d %H:%M") if item.timestamp else ""
        # Text cells: a message or id with [brackets] must not be read as rich markup.
        table.add_row(
            cell(item.stage),
            cell(item.entity_type),
            cell(item.entity_id),
            cell(item.message),
            Text(when),
        )
    console.print(table)
    console.print(
        f"{len(report.items)} item(s). Save them with 'python starter.py report --csv FILE'."
    )


# --------------------------------------------------------------------------- schedules


def render_schedule(info: ScheduleInfo, last: RunSummary | None, out: Console) -> None:
    """A schedule in a few lines: when, what, its next run and its last run's outcome."""
    state = "paused" if info.paused else "active"
    mode = (
        "runs are previews"
        if info.dry_run
        else "runs write (the first run of these rules is a preview)"
        if info.preview_first
        else "runs write"
    )
    out.print(
        Text(
            f"Schedule {info.schedule_id} ({state}): {info.spec}; rules {info.rules_source}; "
            f"{mode}."
        )
    )
    if info.running:
        out.print(Text(f"  running now: {', '.join(info.running)}"))
    upcoming = "none (paused)" if info.paused or not info.next_runs else _when(info.next_runs[0])
    out.print(Text(f"  next run: {upcoming}"))
    if last is not None:
        out.print(Text(f"  last run: {_when(last.started_at)}: {last.summary}"))
    elif info.recent_runs:
        out.print(Text(f"  last run: {_when(info.recent_runs[-1][0])}"))


def render_rules_change(change: RulesChange, source: str, out: Console) -> None:
    """What new rules place differently among the last run's videos."""
    moved = len(change.changed)
    out.print(
        Text(
            f"The rules in {source} differ from those of the last run ({change.rules_source}, "
            f"{change.workflow_id}): of the {change.videos:,} videos it read, {moved:,} "
            f"{'is' if moved == 1 else 'are'} placed differently."
        )
    )
    if not change.changed:
        return
    table = Table(title="Placed differently by the new rules")
    table.add_column("video", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1)
    table.add_column("before", overflow="fold")
    table.add_column("after", overflow="fold")
    for video in change.changed[:SHOWN_CHANGES]:
        table.add_row(
            video.video_id,
            Text(video.title),
            Text(video.before or "(no rule)"),
            Text(video.after or "(no rule)"),
        )
    out.print(table)
    if moved > SHOWN_CHANGES:
        out.print(Text(f"… and {moved - SHOWN_CHANGES:,} more (--json lists them all)."))


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def render_run_report(report: RunReport, out: Console) -> None:
    """``report --organize``: the last run, and the videos no rule matched."""
    run = report.run
    out.print(Text(f"Organize run {run.workflow_id} ({_when(run.started_at)}): {run.summary}"))
    stayed = [v for v in report.videos if v.outcome in ("kept", "failed")]
    if stayed:
        table = Table(title=f"Not moved or copied: {len(stayed):,} videos, and why")
        table.add_column("video", no_wrap=True)
        table.add_column("category", overflow="fold")
        table.add_column("why", overflow="fold", ratio=1)
        for video in stayed:
            table.add_row(
                video.video_id, video.category or "", Text(video.note or video.outcome or "")
            )
        out.print(table)
    if not report.unmatched:
        out.print(Text("No video was left unmatched."))
        return
    table = Table(title=f"Unmatched: {len(report.unmatched):,} videos stay where they are")
    table.add_column("source", no_wrap=True)
    table.add_column("video", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1)
    for video in report.unmatched:
        note = "" if video.availability == "available" else f" [{video.availability}]"
        table.add_row(cell(video.source), cell(video.video_id), cell(video.title + note))
    out.print(table)
