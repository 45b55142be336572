"""The machinery every ytsync job workflow shares.

Deterministic code only: every fact about the clock, the quota or YouTube comes from
an activity's result (so it is in history) or from ``workflow.now()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from workflows.visibility import SearchAttributes
    from ytsync.wire import (
        FINAL_STAGES,
        Activity,
        ActivityType,
        BatchInput,
        BatchResult,
        JobProgress,
        PauseReason,
        Stage,
        StageUpdate,
        SyncInput,
        WorkflowState,
    )

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    # No attempt limit: a job outlives outages; what cannot be fixed is non-retryable.
    maximum_attempts=0,
)
MIN_SLEEP = timedelta(seconds=1)
# A lane keeps its slot until its playlist is done, instead of going to the back of the
# queue after each batch: round robin left the largest playlists for last, one lane
# busy and the others idle.  Histories from before keep replaying round robin.
STICKY_LANES = "sticky-lanes"
# A pause cancels the running batches, which stop at their next write, instead of
# waiting for them to end (200 writes, or 90 s and more for a stalled lane).
PAUSE_CANCELS_BATCHES = "pause-cancels-batches"
WAIT_FOR_BATCH = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
# The job sets search attributes (stage, channel, progress, resume time) for the Web
# UI's workflow list, where the namespace has them.  Histories from before set none.
SEARCH_ATTRIBUTES = "search-attributes"
# A job continues as new after each long wait (a quota reset, a sign-in, the user's
# pause) and once its run is a day old, so each running job takes up a new release's
# fixes within a day: a patch reaches a run only where its code first runs live, never
# where the run replays.  One marker per (waits, days) of a run: a run that a new
# release replays, whose first wait came before it knew the rule, still continues at
# its next one.
CONTINUE_FOR_UPGRADES = "continue-for-upgrades"
RUN_AGE = timedelta(days=1)
# Asking whether the namespace has them must not hold a job up: after a few failed
# attempts (a worker of an older version, a server that cannot say) it runs without.
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)

R = TypeVar("R")


class JobWorkflow:
    """What every ytsync job workflow shares: pause and resume, quota sleeps, live
    details, batches and lanes of writes, continue-as-new."""

    def __init__(self) -> None:
        self._job_id = 0
        self._stage = Stage.PENDING
        self._user_paused = False
        self._wake = False
        self._pause_reason: PauseReason | None = None
        self._paused_at: Stage | None = None
        self._resume_at: datetime | None = None
        self._progress = JobProgress(Stage.PENDING, 0, 0, 0, 0)
        self._runs = 1
        self._input = SyncInput(job_id=0)
        self._cancel_on_pause = False
        self._sticky = False
        # Settle, then judge (see ytsync.sync.audit); False while replaying histories
        # from before it.
        self._settle_first = False
        # A dict, for its order: cancellations must be issued in the same order on replay.
        self._batches_running: dict[asyncio.Task[BatchResult], None] = {}
        # Batches that were running when a pause was asked for (and, with the patch,
        # cancelled): they stop because of it, whatever they answer.
        self._pausing: set[asyncio.Task[BatchResult]] = set()
        self._search: SearchAttributes | None = None
        # Long waits this run came out of (quota resets, sign-ins, the user's pauses).
        self._waits = 0

    # messages ----------------------------------------------------------------------

    @workflow.signal
    def pause(self) -> None:
        self._pause_batches()

    @workflow.signal
    def resume(self) -> None:
        self._user_paused = False
        # Also wakes a quota or sign-in wait: the user says "try now".
        self._wake = True

    # Updates, for the CLI: the job says whether it takes the request, and answers with
    # its state.  The signals above stay for older CLIs and for running histories.

    @workflow.update
    def pause_update(self) -> WorkflowState:
        self._pause_batches()
        return self.state()

    @pause_update.validator
    def _check_pause(self) -> None:
        if self._stage in FINAL_STAGES:
            raise ApplicationError(
                f"job {self._job_id} is {self._stage}: nothing to pause", type="NotPausable"
            )
        if self._user_paused:
            where = "pausing" if self._pause_reason is None else "paused"
            raise ApplicationError(
                f"job {self._job_id} is already {where} at your request", type="NotPausable"
            )

    @workflow.update
    def resume_update(self) -> WorkflowState:
        self.resume()
        return self.state()

    @resume_update.validator
    def _check_resume(self) -> None:
        # Waiting for the quota or a sign-in counts as paused: resume means "try now".
        if not self._user_paused and self._pause_reason is None:
            stage = self._stage if self._stage in FINAL_STAGES else f"running ({self._stage})"
            raise ApplicationError(
                f"job {self._job_id} is {stage}, not paused: nothing to resume",
                type="NotPaused",
            )

    @workflow.query
    def state(self) -> WorkflowState:
        return WorkflowState(
            job_id=self._job_id,
            stage=Stage.PAUSED if self._pause_reason else self._stage,
            paused=self._user_paused,
            pause_reason=self._pause_reason,
            paused_at_stage=self._paused_at,
            resume_at=self._resume_at,
            progress={"done": self._progress.done, "total": self._progress.total},
            runs=self._runs,
        )

    # the job -----------------------------------------------------------------------

    async def _run_job(
        self,
        job: SyncInput,
        stages: tuple[Stage, ...],
        run_stage: Callable[[Stage], Awaitable[bool]],
    ) -> JobProgress:
        """Run the stages from ``job.stage`` on; continue as new when a stage asks to."""
        # A pause signalled before the first activation has already set the flag.
        self._user_paused = self._user_paused or job.user_paused
        self._job_id, self._runs = job.job_id, job.runs
        self._input = job
        # Asked once per run: a workflow that asked before its job began has them.
        if self._search is None and workflow.patched(SEARCH_ATTRIBUTES):
            self._search = SearchAttributes(await self._usable_search_attributes())
        try:
            for stage in stages[stages.index(job.stage) :]:
                if not await run_stage(stage):
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(
                        self._continued(
                            replace(
                                job, stage=stage, user_paused=self._user_paused, runs=job.runs + 1
                            )
                        )
                    )
            await self._set_stage(Stage.COMPLETED)
            return self._progress
        except ActivityError as err:
            message = str(err.cause or err)
            # Recording the failure may fail the same way (an unknown channel has no
            # database to record it in): the workflow fails with the message anyway.
            with contextlib.suppress(ActivityError):
                await self._set_stage(Stage.FAILED, message=message)
            raise ApplicationError(f"job failed: {message}", non_retryable=True) from err

    def _continued(self, job: SyncInput) -> object:
        """What the next run starts from: the job as it stands (a workflow whose input
        is not a SyncInput wraps it in its own)."""
        return job

    async def _usable_search_attributes(self) -> list[str]:
        try:
            check = Activity.USABLE_SEARCH_ATTRIBUTES
            found: list[str] = await workflow.execute_activity(
                check.name,
                result_type=check.result,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CHECK_RETRY,
            )
        except ActivityError:
            return []
        return found

    # work --------------------------------------------------------------------------

    async def _batches(self, stage: Stage, batch_activity: ActivityType[BatchResult]) -> bool:
        self._cancel_on_pause = workflow.patched(PAUSE_CANCELS_BATCHES)
        while True:
            await self._gate(stage)
            task = self._start_batch(batch_activity, self._batch_input())
            await workflow.wait([task])
            result = self._batch_result(task)
            if result is None:
                pass  # stopped for a pause: the gate holds the job until resume
            elif result.stop:
                await self._wait_out(stage, result)
            elif result.remaining == 0:
                return True
            if self._history_is_long():
                return False

    async def _lanes(
        self,
        stage: Stage,
        list_activity: ActivityType[list[int]],
        batch_activity: ActivityType[BatchResult],
        make_batch: Callable[[int], BatchInput],
    ) -> bool:
        """Several playlists in parallel, never two writes at once into one playlist."""
        self._sticky = workflow.patched(STICKY_LANES)
        self._cancel_on_pause = workflow.patched(PAUSE_CANCELS_BATCHES)
        while True:
            await self._gate(stage)
            lanes = await self._call_job(list_activity)
            if not lanes:
                return True
            stop = await self._lane_pass(lanes, batch_activity, make_batch)
            if stop is not None:
                await self._wait_out(stage, stop)
            if self._history_is_long():
                return False

    async def _lane_pass(
        self,
        lanes: list[int],
        batch_activity: ActivityType[BatchResult],
        make_batch: Callable[[int], BatchInput],
    ) -> BatchResult | None:
        """One pass over ``lanes``, each until its batches say it is done; the stop that
        ended the pass early, if one did."""
        queue = deque(lanes)
        running: dict[asyncio.Task[BatchResult], int] = {}
        stop: BatchResult | None = None
        while queue or running:
            while (
                queue
                and len(running) < self._input.lanes
                and stop is None
                and not self._user_paused
                and not self._history_is_long()
            ):
                lane = queue.popleft()
                running[self._start_batch(batch_activity, make_batch(lane))] = lane
            if not running:
                break
            finished, _ = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                lane = running.pop(task)
                result = self._batch_result(task)
                if result is None:
                    queue.appendleft(lane)  # stopped for a pause, not done
                elif result.stop:
                    if stop is None or result.stop == PauseReason.AUTH:
                        stop = result
                elif result.remaining > 0:
                    if self._sticky:
                        queue.appendleft(lane)
                    else:
                        queue.append(lane)
        return stop

    async def _create_settled(
        self, stage: Stage, batch_activity: ActivityType[BatchResult]
    ) -> bool:
        """Create the playlists (a sync's, or a restore's), then check the channel's
        playlists once settled, until a check finds nothing to repair."""
        while True:
            if not await self._batches(stage, batch_activity):
                return False
            plan = await self._call_job(Activity.PLAN_CREATION_CHECK)
            if not plan.lanes:
                return True
            await self._settle(stage, plan.settle_until)
            if not await self._batches(stage, Activity.CHECK_CREATIONS):
                return False

    async def _add_audited(
        self,
        stage: Stage,
        list_activity: ActivityType[list[int]],
        batch_activity: ActivityType[BatchResult],
        make_batch: Callable[[int], BatchInput],
    ) -> bool:
        """Append to the playlists (a sync's category playlists, or those a restore puts
        back), then audit each once settled, until every audit finds nothing to repair."""
        while True:
            if not await self._lanes(stage, list_activity, batch_activity, make_batch):
                return False
            plan = await self._call_job(Activity.PLAN_AUDITS)
            if not plan.lanes:
                return True
            await self._settle(stage, plan.settle_until)
            stop = await self._lane_pass(plan.lanes, Activity.AUDIT_LANE, make_batch)
            if stop is not None:
                await self._wait_out(stage, stop)
            if self._history_is_long():
                return False

    async def _until_done(self, stage: Stage, plan_activity: ActivityType[BatchResult]) -> None:
        """A planning step that reads YouTube: wait out a quota or sign-in stop, again."""
        while True:
            planned = await self._call_job(plan_activity)
            if planned.stop is None:
                return
            await self._wait_out(stage, planned)

    def _lane_batch(self, lane: int) -> BatchInput:
        return self._batch_input(category_id=lane)

    async def _settle(self, stage: Stage, until: datetime | None) -> None:
        """Wait on a durable timer until the last write has settled (YouTube's lists
        show writes late); a pause meanwhile takes effect at once."""
        if until is None:
            return
        while (left := until - workflow.now()) > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._user_paused, timeout=left)
            await self._gate(stage)

    # batches -----------------------------------------------------------------------

    def _start_batch(
        self, batch_activity: ActivityType[BatchResult], batch: BatchInput
    ) -> asyncio.Task[BatchResult]:
        task = asyncio.create_task(self._call(batch_activity, batch, long=True))
        self._batches_running[task] = None
        task.add_done_callback(lambda done: self._batches_running.pop(done, None))
        return task

    def _batch_result(self, task: asyncio.Task[BatchResult]) -> BatchResult | None:
        """A finished batch's result, or None when it stopped for a pause: it answered
        PauseReason.USER, or a pause cancelled it and it ended without a result (cancelled
        before it began, or its worker died: a cancelled activity is not retried)."""
        paused_meanwhile = task in self._pausing
        self._pausing.discard(task)
        try:
            result = task.result()
        except (ActivityError, asyncio.CancelledError):
            if paused_meanwhile and self._cancel_on_pause:
                return None
            raise
        self._note(result)
        if result.stop != PauseReason.USER:
            return result
        if not paused_meanwhile:
            # The job row says the user asked for a pause, and no pause signal reached
            # this run before: take the pause all the same, or batches would only start
            # and stop until `resume` clears the row.
            self._pause_batches()
        return None

    def _pause_batches(self) -> None:
        """The user asked for a pause: the running batches stop at their next write, and
        the lanes wait for each to end before the gate shows the job paused."""
        self._user_paused = True
        for task in self._batches_running:
            if task in self._pausing:
                continue
            self._pausing.add(task)
            if self._cancel_on_pause:
                task.cancel()

    # pauses ------------------------------------------------------------------------

    async def _gate(self, stage: Stage) -> None:
        """A user's pause takes effect between batches and holds until resume."""
        if not self._user_paused:
            return
        await self._set_stage(Stage.PAUSED, paused_at_stage=stage, pause_reason=PauseReason.USER)
        await workflow.wait_condition(lambda: not self._user_paused)
        self._waits += 1
        await self._set_stage(stage)

    async def _wait_out(self, stage: Stage, result: BatchResult) -> None:
        """Sleep on a durable timer until the quota resets, or wait for a new sign-in."""
        if result.stop == PauseReason.AUTH:
            reason, resume_at = PauseReason.AUTH, None
        else:
            reason, resume_at = PauseReason.QUOTA, result.resume_at
        await self._set_stage(
            Stage.PAUSED,
            paused_at_stage=stage,
            pause_reason=reason,
            resume_at=resume_at,
            message=result.message,
        )
        self._wake = False
        if resume_at is None:
            await workflow.wait_condition(lambda: self._wake)
        else:
            delay = max(resume_at - workflow.now(), MIN_SLEEP)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._wake, timeout=delay)
        self._waits += 1
        await self._set_stage(stage)

    # plumbing ----------------------------------------------------------------------

    async def _set_stage(
        self,
        stage: Stage,
        *,
        paused_at_stage: Stage | None = None,
        pause_reason: PauseReason | None = None,
        resume_at: datetime | None = None,
        message: str | None = None,
    ) -> None:
        update = StageUpdate(
            self._job_id,
            stage,
            paused_at_stage,
            pause_reason,
            resume_at,
            message,
            channel=self._input.channel,
        )
        self._progress = await self._call(Activity.SET_STAGE, update)
        # Only now, so the state query never runs ahead of what the database says.
        if stage != Stage.PAUSED:
            self._stage = stage
        self._pause_reason, self._paused_at, self._resume_at = (
            pause_reason,
            paused_at_stage,
            resume_at,
        )
        self._show()

    def _note(self, result: BatchResult) -> None:
        if result.progress is not None:
            self._progress = result.progress
            self._show()

    def _show(self) -> None:
        """Live text on the workflow's page in the Temporal Web UI."""
        p = self._progress
        percent = f"{100 * p.done // p.total}%" if p.total else "-"
        lines = [
            f"## ytsync job {self._job_id}",
            f"**Stage:** {self._stage}",
            f"**Strategy:** {p.strategy}",
            f"**Progress:** {p.done} / {p.total} operations ({percent})",
            f"**Quota used by this job:** {p.quota_used} units",
            f"**Item errors:** {p.errors}",
        ]
        if self._pause_reason:
            lines.append(f"**Paused:** {self._pause_reason} (at {self._paused_at})")
        if self._resume_at:
            lines.append(f"**Resumes at:** {self._resume_at.isoformat()} UTC")
        workflow.set_current_details("\n\n".join(lines))
        if self._search is not None:
            self._search.publish(
                stage=Stage.PAUSED if self._pause_reason else self._stage,
                channel=self._input.channel,
                done=p.done,
                total=p.total,
                resume_at=self._resume_at,
            )

    def _history_is_long(self) -> bool:
        """Time to continue as new: the history is long, or the run waited long or is
        old (see CONTINUE_FOR_UPGRADES)."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.max_history_events
            or self._due_for_new_code()
        )

    def _due_for_new_code(self) -> bool:
        days = (workflow.now() - workflow.info().start_time) // RUN_AGE
        if not self._waits and not days:
            return False
        return workflow.patched(f"{CONTINUE_FOR_UPGRADES}-{self._waits}-{days}")

    def _batch_input(
        self, *, category_id: int | None = None, playlist_id: int | None = None
    ) -> BatchInput:
        return BatchInput(
            self._job_id,
            self._input.batch_size,
            category_id=category_id,
            playlist_id=playlist_id,
            channel=self._input.channel,
            settle=self._settle_first,
        )

    async def _call_job(self, activity: ActivityType[R]) -> R:
        """An activity that takes the job id, and the job's channel."""
        return await self._call(activity, self._job_id, self._input.channel)

    async def _call(self, activity: ActivityType[R], *args: object, long: bool = False) -> R:
        timeout = self._input.heartbeat_timeout_seconds
        result: R = await workflow.execute_activity(
            activity.name,
            args=args,
            result_type=activity.result,
            start_to_close_timeout=timedelta(minutes=30 if long else 5),
            heartbeat_timeout=timedelta(seconds=timeout) if long else None,
            retry_policy=RETRY,
            # A batch cancelled by a pause ends in its own time: nothing may write once
            # the job shows paused.
            cancellation_type=WAIT_FOR_BATCH if long else ActivityCancellationType.TRY_CANCEL,
        )
        return result
