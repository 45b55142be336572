"""The CLI's side of organize schedules: one Temporal Schedule per channel, which starts
an ``OrganizeWorkflow`` (called by name, so no workflow code loads here) with overlap
policy SKIP, so that two runs of a channel never overlap."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from ytsync.config import Settings
from ytsync.errors import UserError
from ytsync.organize.wire import ORGANIZE_WORKFLOW, SCHEDULE_PREFIX, OrganizeInput

# The schedule's memo: what the command line shows about it (Temporal turns a cron
# expression into calendars, and the rules are in the action's input).
MEMO_SPEC, MEMO_RULES, MEMO_PREVIEW, MEMO_CHANNEL = "spec", "rules", "preview", "channel"
MEMO_PREVIEW_FIRST = "preview_first"


class NoSchedule(UserError):
    """The channel has no organize schedule."""


@dataclass
class ScheduleInfo:
    schedule_id: str
    channel: str
    spec: str
    rules_source: str
    dry_run: bool
    paused: bool
    note: str
    # Runs write, but the first run of its rules is a preview.
    preview_first: bool = False
    next_runs: list[datetime] = field(default_factory=list)
    # (when it was scheduled, the run's workflow id), oldest first.
    recent_runs: list[tuple[datetime, str]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "channel": self.channel,
            "spec": self.spec,
            "rules_source": self.rules_source,
            "dry_run": self.dry_run,
            "preview_first": self.preview_first,
            "paused": self.paused,
            "note": self.note,
            "next_runs": [moment.isoformat() for moment in self.next_runs],
            "recent_runs": [
                {"scheduled_at": moment.isoformat(), "workflow_id": workflow_id}
                for moment, workflow_id in self.recent_runs
            ],
            "running": self.running,
        }


def schedule_id(settings: Settings) -> str:
    return f"{SCHEDULE_PREFIX}-{settings.channel}"


async def create(
    client: Client,
    settings: Settings,
    *,
    rules: str,
    rules_source: str,
    every: timedelta | None,
    cron: str | None,
    spec_text: str,
    dry_run: bool,
    preview_first: bool = False,
) -> ScheduleInfo:
    """``dry_run``: every run is a preview; else runs write, the first of these rules
    too unless ``preview_first``."""
    sid = schedule_id(settings)
    spec = (
        ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
        if every is not None
        else ScheduleSpec(cron_expressions=[cron or ""])
    )
    preview = " (preview)" if dry_run else ""
    mode = (
        "every run a preview"
        if dry_run
        else "the first run of these rules a preview, then runs write"
        if preview_first
        else "runs write"
    )
    action = ScheduleActionStartWorkflow(
        ORGANIZE_WORKFLOW,
        OrganizeInput(
            rules=rules,
            rules_source=rules_source,
            dry_run=dry_run,
            schedule_id=sid,
            channel=settings.channel,
            preview_first=preview_first,
        ),
        # Temporal adds each run's start time to it.
        id=sid,
        task_queue=settings.task_queue,
        static_summary=f"ytsync organize{preview}, channel {settings.channel}: {rules_source}",
        static_details=f"Rules from {rules_source}, {spec_text}; {mode}.",
    )
    try:
        await client.create_schedule(
            sid,
            Schedule(
                action=action,
                spec=spec,
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                state=ScheduleState(note=f"created by ytsync: {spec_text}"),
            ),
            memo={
                MEMO_SPEC: spec_text,
                MEMO_RULES: rules_source,
                MEMO_PREVIEW: dry_run,
                MEMO_PREVIEW_FIRST: preview_first,
                MEMO_CHANNEL: settings.channel,
            },
        )
    except ScheduleAlreadyRunningError:
        raise UserError(
            f"channel {settings.channel} has an organize schedule already ({sid}); delete it "
            "first ('python starter.py schedule delete')"
        ) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise UserError(f"Temporal refused the schedule: {exc.message}") from None
        raise
    found = await describe(client, settings)
    assert found is not None  # just made
    return found


def _handle(client: Client, settings: Settings) -> ScheduleHandle:
    return client.get_schedule_handle(schedule_id(settings))


async def describe(client: Client, settings: Settings) -> ScheduleInfo | None:
    """The channel's schedule, or None when it has none."""
    try:
        described = await _handle(client, settings).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await described.memo()
    state = described.schedule.state
    info = described.info
    return ScheduleInfo(
        schedule_id=described.id,
        channel=str(memo.get(MEMO_CHANNEL, settings.channel)),
        spec=str(memo.get(MEMO_SPEC, "")),
        rules_source=str(memo.get(MEMO_RULES, "")),
        dry_run=bool(memo.get(MEMO_PREVIEW, True)),
        preview_first=bool(memo.get(MEMO_PREVIEW_FIRST, False)),
        paused=state.paused,
        note=state.note or "",
        next_runs=list(info.next_action_times),
        recent_runs=[
            (result.scheduled_at, getattr(result.action, "workflow_id", ""))
            for result in info.recent_actions
        ],
        running=[getattr(action, "workflow_id", "") for action in info.running_actions],
    )


async def existing(client: Client, settings: Settings) -> ScheduleInfo:
    found = await describe(client, settings)
    if found is None:
        raise NoSchedule(
            f"channel {settings.channel} has no organize schedule; create one with "
            "'python starter.py schedule create --every 1d --rules FILE'"
        )
    return found


async def list_all(client: Client, settings: Settings) -> list[ScheduleInfo]:
    """Every organize schedule of the namespace (each channel's)."""
    found: list[ScheduleInfo] = []
    async for entry in await client.list_schedules():
        if not entry.id.startswith(SCHEDULE_PREFIX + "-"):
            continue
        channel = entry.id[len(SCHEDULE_PREFIX) + 1 :]
        info = await describe(client, settings.model_copy(update={"channel": channel}))
        if info is not None:
            found.append(info)
    return found


async def pause(client: Client, settings: Settings) -> ScheduleInfo:
    await existing(client, settings)
    await _handle(client, settings).pause(note="paused from ytsync's command line")
    return await existing(client, settings)


async def unpause(client: Client, settings: Settings) -> ScheduleInfo:
    await existing(client, settings)
    await _handle(client, settings).unpause(note="unpaused from ytsync's command line")
    return await existing(client, settings)


async def trigger(client: Client, settings: Settings) -> ScheduleInfo:
    """Start a run now, under the schedule's own overlap policy (skipped while a run
    goes on)."""
    await existing(client, settings)
    await _handle(client, settings).trigger()
    return await existing(client, settings)


async def delete(client: Client, settings: Settings) -> ScheduleInfo:
    """Delete the schedule; a run going on goes on."""
    info = await existing(client, settings)
    await _handle(client, settings).delete()
    return info
