"""``schedule create | list | pause | unpause | trigger | delete``: keep the library
sorted by the rules, on a Temporal Schedule (see ytsync.cli.schedulectl)."""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ytsync.cli.context import Context
from ytsync.errors import UserError

if TYPE_CHECKING:
    from temporalio.client import Client

    from ytsync.cli.schedulectl import ScheduleInfo
    from ytsync.organize.runs import RunSummary

_EVERY = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.IGNORECASE)
MIN_EVERY = timedelta(minutes=1)
MAX_EVERY = timedelta(days=366)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedule = commands.add_parser(
        "schedule",
        help="keep the library sorted by rules, on a Temporal Schedule",
        description="One schedule per channel; each run reads what is new in the rules' "
        "sources (an inbox, the uploads) and places it by the rules.",
    )
    actions = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create the channel's schedule")
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", type=_every, metavar="INTERVAL", help="1d, 12h, 30m, 1h30m")
    when.add_argument("--cron", metavar="EXPR", help='a cron expression, e.g. "0 3 * * *"')
    create.add_argument(
        "--rules",
        type=Path,
        default=Path("rules.toml"),
        metavar="FILE",
        help="the rules file with a [sources] table (default rules.toml)",
    )
    mode = create.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="every run is a preview: it writes nothing"
    )
    mode.add_argument(
        "--yes",
        action="store_true",
        help="every run writes, the first too (by default the first run of the rules is "
        "a preview, and the later ones write)",
    )
    _json_flag(create)
    create.set_defaults(handler=run_create)
    listing = actions.add_parser("list", help="the organize schedules, next runs, last runs")
    _json_flag(listing)
    listing.set_defaults(handler=run_list)
    for name, text in (
        ("pause", "stop starting runs (a run going on goes on)"),
        ("unpause", "start runs again"),
        ("trigger", "start a run now (skipped while one goes on)"),
        ("delete", "delete the schedule (a run going on goes on)"),
    ):
        parser = actions.add_parser(name, help=text)
        _json_flag(parser)
        parser.set_defaults(handler=run_action, action=name)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


@dataclass(frozen=True)
class Interval:
    text: str
    every: timedelta


def _every(text: str) -> Interval:
    match = _EVERY.fullmatch(text.strip())
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"not an interval like 1d, 12h, 30m or 1h30m: {text!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    every = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not MIN_EVERY <= every <= MAX_EVERY:
        raise argparse.ArgumentTypeError("the interval must be between 1m and 366d")
    return Interval(text.strip(), every)


def _connected(ctx: Context, call: Callable[[Client], Awaitable[ScheduleInfo]]) -> ScheduleInfo:
    from ytsync.temporal import connect

    async def go() -> ScheduleInfo:
        return await call(await connect(ctx.settings))

    return asyncio.run(go())


def run_create(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli import schedulectl
    from ytsync.cli.schedulectl import schedule_id
    from ytsync.cli.views import render_rules_change, render_schedule
    from ytsync.db.engine import transaction
    from ytsync.organize.change import rules_change
    from ytsync.organize.sources import record_inbox
    from ytsync.rules.file import parse_rules, read_rules_text

    text = read_rules_text(args.rules)
    rules = parse_rules(text, str(args.rules))
    rules.problems.raise_if_any()
    if not rules.sources.any:
        raise UserError(
            f"rules file {args.rules} names no source for a schedule: add a [sources] table "
            'with inbox = "PLAYLIST" or uploads = true'
        )
    with transaction(ctx.sessions) as session:
        # Shown before the new rules take effect: what they place differently.
        change = rules_change(session, rules, text, schedule_id(ctx.settings))
        if rules.sources.inbox is not None:
            # A sync never deletes the inbox a schedule reads (ytsync.organize.sources).
            record_inbox(session, rules.sources.inbox)
    interval: Interval | None = args.every
    spec_text = f"every {interval.text}" if interval is not None else f"cron {args.cron}"
    info = _connected(
        ctx,
        lambda client: schedulectl.create(
            client,
            ctx.settings,
            rules=text,
            rules_source=str(args.rules),
            every=interval.every if interval is not None else None,
            cron=args.cron,
            spec_text=spec_text,
            dry_run=args.dry_run,
            preview_first=not (args.dry_run or args.yes),
        ),
    )
    if args.json:
        ctx.print_json({**info.as_dict(), "rules_change": change.model_dump() if change else None})
        return 0
    if change is not None:
        render_rules_change(change, str(args.rules), ctx.out)
    ctx.out.print(f"Created schedule {info.schedule_id}: {info.spec}.", markup=False)
    render_schedule(info, None, ctx.out)
    ctx.out.print(_what_runs_do(info), markup=False)
    return 0


def _what_runs_do(info: ScheduleInfo) -> str:
    listed = "'python starter.py report --organize' lists what the last run decided"
    if info.dry_run:
        return (
            f"Each run is a preview: it reads what is new and records what it would do ({listed})."
        )
    if info.preview_first:
        return (
            "The first run of these rules is a preview: it records what it would do "
            f"({listed}; 'python starter.py schedule trigger' runs it now). The runs after "
            "it move and copy; 'python starter.py schedule pause' stops them."
        )
    return f"Each run moves and copies what the rules place ({listed})."


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli import schedulectl
    from ytsync.cli.views import render_schedule
    from ytsync.temporal import connect

    async def go() -> list[ScheduleInfo]:
        return await schedulectl.list_all(await connect(ctx.settings), ctx.settings)

    found = asyncio.run(go())
    last = _last_run(ctx)
    if args.json:
        ctx.print_json(
            [
                {
                    **info.as_dict(),
                    "last_run": None
                    if last is None or info.channel != ctx.settings.channel
                    else last.model_dump(mode="json"),
                }
                for info in found
            ]
        )
        return 0
    if not found:
        ctx.out.print(
            "No organize schedule. Create one with 'python starter.py schedule create "
            "--every 1d --rules FILE'.",
            markup=False,
        )
    for info in found:
        render_schedule(info, last if info.channel == ctx.settings.channel else None, ctx.out)
    return 0


def _last_run(ctx: Context) -> RunSummary | None:
    from ytsync.cli.schedulectl import schedule_id
    from ytsync.organize.runs import last_run

    with ctx.sessions() as session:
        return last_run(session, schedule_id(ctx.settings))


def run_action(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli import schedulectl
    from ytsync.cli.views import render_schedule

    calls = {
        "pause": schedulectl.pause,
        "unpause": schedulectl.unpause,
        "trigger": schedulectl.trigger,
        "delete": schedulectl.delete,
    }
    call = calls[args.action]
    info = _connected(ctx, lambda client: call(client, ctx.settings))
    if args.json:
        ctx.print_json({"action": args.action, **info.as_dict()})
        return 0
    said = {
        "pause": f"Paused {info.schedule_id}: no run starts until 'schedule unpause'.",
        "unpause": f"Unpaused {info.schedule_id}.",
        "trigger": f"Triggered a run of {info.schedule_id} (skipped if one is going on).",
        "delete": f"Deleted {info.schedule_id} (a run going on goes on).",
    }
    ctx.out.print(said[args.action], markup=False)
    if args.action != "delete":
        render_schedule(info, _last_run(ctx), ctx.out)
    return 0
