"""OrganizeWorkflow: one run of an organize schedule.

It reads what is new in the rules' sources and records where the rules put it (the
``organize_read`` activity), waiting on durable timers while a sync or restore of the
channel runs or the quota is spent.  A preview ends there.  A run that writes then
makes its job (``organize_plan_writes``) and carries it out as a sync carries out its
own, on the same machinery (workflows.base): add_videos (the sync's appends and
settled audits of each category playlist), then remove_from_inbox (each inbox item
verified in its category first, then removed); pause and resume, quota sleeps,
continue-as-new.

Deterministic code only; the schedule starts it with overlap policy SKIP, so two runs
of a channel never overlap.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.base import JobWorkflow
    from workflows.visibility import SearchAttributes
    from ytsync.organize.wire import (
        FINISH,
        ORGANIZE_FAILED,
        ORGANIZE_PLAN,
        ORGANIZE_READ,
        ORGANIZE_WORKFLOW,
        REMOVE_FROM_INBOX,
        VERIFY_INBOX,
        FailedInput,
        Finished,
        OrganizeInput,
        OrganizeResult,
        PlanInput,
        ReadInput,
        ReadResult,
        WritePlan,
        summary_text,
    )
    from ytsync.wire import ORGANIZE_STAGES, Activity, Stage, SyncInput

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
class OrganizeWorkflow(JobWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self._organize = OrganizeInput(rules="", rules_source="")
        self._finished: Finished | None = None

    @workflow.run
    async def run(self, job: OrganizeInput) -> OrganizeResult:
        self._organize = job
        if job.job is not None and job.job.job_id:
            return await self._write(job.job)  # continued as new in the middle of its writes
        self._search = SearchAttributes(await self._usable_search_attributes())
        read = ReadInput(
            workflow_id=workflow.info().workflow_id,
            rules=job.rules,
            rules_source=job.rules_source,
            dry_run=job.dry_run,
            schedule_id=job.schedule_id,
            channel=job.channel,
            preview_first=job.preview_first,
            execution=workflow.info().first_execution_run_id,
        )
        while True:
            result = await self._read_sources(read, job)
            if result.dry_run:
                summary = summary_text(result.counts, True)
                self._tell(COMPLETED, job, summary)
                return OrganizeResult(
                    run_id=result.run_id,
                    dry_run=True,
                    counts=result.counts,
                    read_units=result.read_units,
                    summary=summary,
                )
            plan = await self._plan(result)
            if plan.waiting is None or plan.resume_at is None:
                break
            # A sync or restore started since the read: read again once it has ended.
            self._tell(WAITING, job, f"Waiting ({plan.waiting}) until {plan.resume_at}")
            await workflow.sleep(max(plan.resume_at - workflow.now(), MIN_SLEEP))
        if plan.finished is not None:
            return self._done(plan.finished, 0)
        options = job.job or SyncInput(job_id=0)
        return await self._write(
            replace(options, job_id=plan.job_id, stage=Stage.ADD_VIDEOS, channel=job.channel)
        )

    # reading -----------------------------------------------------------------------

    async def _read_sources(self, read: ReadInput, job: OrganizeInput) -> ReadResult:
        """The read side, waiting on durable timers while it cannot read."""
        while True:
            self._tell(READING, job, f"Reading the sources of {job.rules_source}…")
            result = await self._read(read)
            if result.waiting is None or result.resume_at is None:
                return result
            self._tell(
                WAITING,
                job,
                f"Waiting ({result.waiting}) until {result.resume_at.isoformat()}",
                result,
            )
            await workflow.sleep(max(result.resume_at - workflow.now(), MIN_SLEEP))
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(job)

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
            raise await self._failed(err) from err
        return result

    async def _plan(self, result: ReadResult) -> WritePlan:
        try:
            plan: WritePlan = await workflow.execute_activity(
                ORGANIZE_PLAN.name,
                PlanInput(workflow.info().workflow_id, result.run_id, self._organize.channel),
                result_type=ORGANIZE_PLAN.result,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=READ_RETRY,
            )
        except ActivityError as err:
            raise await self._failed(err) from err
        return plan

    async def _failed(self, err: ActivityError) -> ApplicationError:
        """Record the run as failed, where status looks; the error that ends it."""
        message = str(err.cause or err)
        # An unknown channel has no database to record it in.
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity(
                ORGANIZE_FAILED,
                FailedInput(workflow.info().workflow_id, message, self._organize.channel),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CHECK_RETRY,
            )
        if self._search is not None:
            self._search.publish(
                stage=FAILED, channel=self._organize.channel, done=0, total=0, resume_at=None
            )
        return ApplicationError(f"organize failed: {message}", non_retryable=True)

    def _tell(
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

    # writing -----------------------------------------------------------------------

    async def _write(self, job: SyncInput) -> OrganizeResult:
        """The run's job, stage by stage, with a sync's pauses, quota sleeps and
        continue-as-new; then what it did."""
        try:
            await self._run_job(job, ORGANIZE_STAGES, self._run_stage)
        except ApplicationError as err:
            with contextlib.suppress(ActivityError):
                await workflow.execute_activity(
                    ORGANIZE_FAILED,
                    FailedInput(workflow.info().workflow_id, err.message, self._organize.channel),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=CHECK_RETRY,
                )
            raise
        assert self._finished is not None  # the last stage's last step
        return self._done(self._finished, job.job_id)

    async def _run_stage(self, stage: Stage) -> bool:
        """Work through one stage; False when the run should continue as new first."""
        await self._set_stage(stage)
        # Settle, then judge, from the first organize run on.
        self._settle_first = True
        if stage == Stage.ADD_VIDEOS:
            return await self._add_audited(
                stage, Activity.LIST_UNSENT_LANES, Activity.ADD_VIDEOS, self._lane_batch
            )
        await self._until_done(stage, VERIFY_INBOX)
        if not await self._batches(stage, REMOVE_FROM_INBOX):
            return False
        self._finished = await self._call_job(FINISH)
        return True

    def _continued(self, job: SyncInput) -> object:
        return replace(self._organize, job=job)

    def _done(self, finished: Finished, job_id: int) -> OrganizeResult:
        self._tell(COMPLETED, self._organize, finished.summary)
        return OrganizeResult(
            run_id=finished.run_id,
            dry_run=False,
            counts=finished.counts,
            read_units=finished.read_units,
            summary=finished.summary,
            results=finished.results,
            job_id=job_id,
        )
