"""The demo's last step: keep the library organized.  New videos arrive in an inbox after
the sync; a Temporal Schedule of organize runs (``schedule create``) sorts them by rules,
triggered once at once instead of waiting a day.  Then a check against the emulator."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from ytsync.cli import schedulectl
from ytsync.cli.worker import build_worker
from ytsync.config import Settings
from ytsync.db.models import Category
from ytsync.organize.wire import OrganizeResult
from ytsync_emulator import EmulatorState

# Videos that arrive for each of two categories, and one no rule places.
ARRIVALS = 2
RUN_TIMEOUT_SECONDS = 60.0


@dataclass
class OrganizeOutcome:
    schedule_id: str = ""
    workflow_id: str = ""
    summary: str = ""
    placed: int = 0
    problems: list[str] = field(default_factory=list)


def demo_rules(categories: list[str]) -> str:
    """Rules that place the arriving videos of each category by their titles."""
    lines = ['[sources]\ninbox = "Inbox"\n']
    for name in categories:
        pattern = f"new {name.lower()} video"
        lines.append(f"[[rule]]\ncategory = {json.dumps(name)}\ntitle = {json.dumps(pattern)}\n")
    return "\n".join(lines)


async def keep_organized(
    out: Console,
    workspace: Path,
    state: EmulatorState,
    settings: Settings,
    sessions: sessionmaker[Session],
    client: Client,
) -> OrganizeOutcome:
    outcome = OrganizeOutcome()
    with sessions() as session:
        playlists = {
            str(name): str(playlist)
            for name, playlist in session.execute(
                select(Category.name, Category.youtube_playlist_id)
                .where(Category.is_protected.is_(False), Category.youtube_playlist_id.is_not(None))
                .order_by(Category.name)
                .limit(2)
            )
        }
    if not playlists:
        outcome.problems.append("no category playlist to organize into")
        return outcome
    arrived: dict[str, str] = {}
    for name in playlists:
        for number in range(1, ARRIVALS + 1):
            made = state.add_video(title=f"New {name} video {number}", duration="PT6M")
            arrived[made.id] = name
    stray = state.add_video(title="A video no rule places", duration="PT3M")
    inbox = state.add_playlist("Inbox", video_ids=[*arrived, stray.id])
    rules = workspace / "rules.toml"
    text = demo_rules(list(playlists))
    rules.write_text(text, encoding="utf-8")
    out.print(
        Text(
            f"The owner saved {len(arrived) + 1} new videos to 'Inbox'. Rules ({rules.name}):",
        )
    )
    out.print(Text(text.strip(), style="dim"))
    async with build_worker(client, settings):
        info = await schedulectl.create(
            client,
            settings,
            rules=text,
            rules_source=str(rules),
            every=timedelta(days=1),
            cron=None,
            spec_text="every 1d",
            dry_run=False,
        )
        outcome.schedule_id = info.schedule_id
        out.print(Text(f"Created schedule {info.schedule_id} (every 1d); triggered one run now."))
        began = asyncio.get_running_loop().time()
        await schedulectl.trigger(client, settings)
        outcome.workflow_id = await _triggered_run(client, settings)
        handle = client.get_workflow_handle(outcome.workflow_id, result_type=OrganizeResult)
        result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT_SECONDS)
    outcome.summary = result.summary
    outcome.placed = len(arrived)
    took = asyncio.get_running_loop().time() - began
    out.print(Text(f"Run {outcome.workflow_id} ({took:.0f} s): {result.summary}"))
    for video, name in arrived.items():
        count = state.playlist_items(playlists[name]).count(video)
        if count != 1:
            outcome.problems.append(f"{video} is {count} times in '{name}'")
    left = state.playlist_items(inbox.id)
    if left != [stray.id]:
        outcome.problems.append(f"the Inbox holds {left}, not only the video no rule places")
    return outcome


async def _triggered_run(client: Client, settings: Settings) -> str:
    """The workflow id of the schedule's first run, once it has started."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RUN_TIMEOUT_SECONDS
    while True:
        info = await schedulectl.describe(client, settings)
        if info is not None and info.recent_runs:
            return info.recent_runs[-1][1]
        if loop.time() > deadline:
            raise TimeoutError("the triggered organize run did not start")
        await asyncio.sleep(0.2)


def print_outcome(out: Console, outcome: OrganizeOutcome) -> None:
    if outcome.problems:
        out.print(Text("Organize check: FAILED", style="bold red"))
        for problem in outcome.problems:
            out.print(Text(f"  - {problem}"))
        return
    out.print(
        Text(
            f"Organize check: OK: the {outcome.placed} videos the rules place are in their "
            "category playlists once each and out of the Inbox; the one no rule places "
            "stays there.",
            style="bold green",
        )
    )
