"""OrganizeWorkflow: one run of an organize schedule.

Its read side reads what is new in the rules' sources and records where the rules put
it (the ``organize_read`` activity); it waits, on durable timers, while a sync or
restore of the channel runs or the quota is spent.  The write stages (add to the
category, then take out of the inbox once verified there) are not here yet: they are to
use the sync's write protocol, so every run is a preview for now.

Deterministic code only; the schedule starts it with overlap policy SKIP, so two runs
of a channel never overlap.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.visibility import SearchAttributes
    from ytsync.organize.wire import (
        ORGANIZE_FAILED,
        ORGANIZE_READ,
        ORGANIZE_WORKFLOW,
        FailedInput,
        OrganizeInput,
        OrganizeResult,
        ReadInput,
        ReadResult,
        summary_text,
    )
    from ytsync.wire import Activity

# Reads are safe to send again; a run that keeps failing ends, and the schedule's next
# run tries anew.
READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=6,
)
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
MIN_SLEEP = timedelta(seconds=1)
READING, WAITING, COMPLETED, FAILED = "organize_read", "paused", "completed", "failed"


@workflow.defn(name=ORGANIZE_WORKFLOW)
class OrganizeWorkflow:
    def __init__(self) -> None:
        self._search: SearchAttributes | None = None

    @workflow.run
    async def run(self, job: OrganizeInput) -> OrganizeResult:
        self._search = SearchAttributes(await self._usable_search_attributes())
        read = ReadInput(
            workflow_id=workflow.info().workflow_id,
            rules=job.rules,
            rules_source=job.rules_source,
            dry_run=job.dry_run,
            schedule_id=job.schedule_id,
            channel=job.channel,
        )
        while True:
            self._show(READING, job, f"Reading the sources of {job.rules_source}…")
            result = await self._read(read)
            if result.waiting is None or result.resume_at is None:
                break
            self._show(
                WAITING,
                job,
                f"Waiting ({result.waiting}) until {result.resume_at.isoformat()}",
                result,
            )
            await workflow.sleep(max(result.resume_at - workflow.now(), MIN_SLEEP))
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(job)
        summary = summary_text(result.counts, job.dry_run)
        self._show(COMPLETED, job, summary)
        return OrganizeResult(
            run_id=result.run_id,
            dry_run=job.dry_run,
            counts=result.counts,
            read_units=result.read_units,
            summary=summary,
        )

    async def _read(self, read: ReadInput) -> ReadResult:
        try:
            result: ReadResult = await workflow.execute_activity(
                ORGANIZE_READ,
                read,
                result_type=ReadResult,
                start_to_close_timeout=timedelta(minutes=15),
                retry_policy=READ_RETRY,
            )
        except ActivityError as err:
            message = str(err.cause or err)
            # An unknown channel has no database to record it in.
            with contextlib.suppress(ActivityError):
                await workflow.execute_activity(
                    ORGANIZE_FAILED,
                    FailedInput(read.workflow_id, message, read.channel),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=CHECK_RETRY,
                )
            if self._search is not None:
                self._search.publish(
                    stage=FAILED, channel=read.channel, done=0, total=0, resume_at=None
                )
            raise ApplicationError(f"organize failed: {message}", non_retryable=True) from err
        return result

    def _show(
        self, stage: str, job: OrganizeInput, details: str, result: ReadResult | None = None
    ) -> None:
        workflow.set_current_details(details)
        if self._search is not None:
            self._search.publish(
                stage=stage,
                channel=job.channel,
                done=0,
                total=0,
                resume_at=result.resume_at if result else None,
            )

    async def _usable_search_attributes(self) -> list[str]:
        check = Activity.USABLE_SEARCH_ATTRIBUTES
        try:
            found: list[str] = await workflow.execute_activity(
                check.name,
                result_type=check.result,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CHECK_RETRY,
            )
        except ActivityError:
            return []
        return found
