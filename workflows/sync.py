"""SyncWorkflow: one durable job, backup -> create_playlists -> add_videos ->
delete_playlists -> completed, over as many quota days as it takes."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from workflows.base import JobWorkflow
    from workflows.messages import BatchResult, JobProgress, SyncInput

STAGES = ("backup", "create_playlists", "add_videos", "delete_playlists")


@workflow.defn
class SyncWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, job: SyncInput) -> JobProgress:
        return await self._run_job(job, STAGES, self._run_stage)

    async def _run_stage(self, stage: str) -> bool:
        """Work through one stage; False when the run should continue as new first."""
        await self._set_stage(stage)
        if stage == "backup":
            await self._call_job(SyncActivities.backup)
            return True
        if stage == "create_playlists":
            await self._call_job(SyncActivities.plan_creations)
            return await self._batches(stage, SyncActivities.create_playlists)
        if stage == "add_videos":
            while True:
                planned: BatchResult = await self._call_job(SyncActivities.plan_additions)
                if planned.stop is None:
                    break
                await self._wait_out(stage, planned)
            return await self._lanes(
                stage,
                SyncActivities.list_lanes,
                SyncActivities.add_videos,
                lambda lane: self._batch_input(category_id=lane),
            )
        await self._call_job(SyncActivities.plan_deletions)
        return await self._batches(stage, SyncActivities.delete_playlists)
