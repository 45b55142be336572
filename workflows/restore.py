"""RestoreWorkflow: bring back the old playlists of a backup snapshot, with their items
in their old order, under the same quota handling and write protocol as a sync."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.base import JobWorkflow
    from ytsync.wire import RESTORE_STAGES, Activity, JobProgress, Stage, SyncInput


@workflow.defn
class RestoreWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, job: SyncInput) -> JobProgress:
        return await self._run_job(job, RESTORE_STAGES, self._run_stage)

    async def _run_stage(self, stage: Stage) -> bool:
        await self._set_stage(stage)
        if stage == Stage.RESTORE_PLAYLISTS:
            await self._call_job(Activity.PLAN_RESTORE)
            return await self._batches(stage, Activity.RESTORE_PLAYLISTS)
        finished = await self._lanes(
            stage,
            Activity.LIST_RESTORE_LANES,
            Activity.RESTORE_ITEMS,
            lambda lane: self._batch_input(playlist_id=lane),
        )
        if finished:
            await self._call_job(Activity.FINISH_RESTORE)
        return finished
