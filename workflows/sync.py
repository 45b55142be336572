"""SyncWorkflow: one durable job, backup -> create_playlists -> add_videos ->
delete_playlists -> completed, over as many quota days as it takes."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.base import JobWorkflow
    from ytsync.wire import SYNC_STAGES, Activity, JobProgress, Stage, SyncInput

# Settle, then judge: writes with unknown outcomes wait for a settled check, each
# category playlist ends with an audit, and old playlists are deleted only once verified
# on YouTube.  Histories from before keep replaying the old steps.
SETTLE_AUDIT_VERIFY = "settle-audit-verify"


@workflow.defn
class SyncWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, job: SyncInput) -> JobProgress:
        return await self._run_job(job, SYNC_STAGES, self._run_stage)

    async def _run_stage(self, stage: Stage) -> bool:
        """Work through one stage; False when the run should continue as new first."""
        await self._set_stage(stage)
        if stage == Stage.BACKUP:
            await self._call_job(Activity.BACKUP)
            return True
        self._settle_first = workflow.patched(SETTLE_AUDIT_VERIFY)
        if stage == Stage.CREATE_PLAYLISTS:
            await self._call_job(Activity.PLAN_CREATIONS)
            if not self._settle_first:
                return await self._batches(stage, Activity.CREATE_PLAYLISTS)
            return await self._create_settled(stage, Activity.CREATE_PLAYLISTS)
        if stage == Stage.ADD_VIDEOS:
            await self._until_done(stage, Activity.PLAN_ADDITIONS)
            if not self._settle_first:
                return await self._lanes(
                    stage, Activity.LIST_LANES, Activity.ADD_VIDEOS, self._lane_batch
                )
            return await self._add_audited(
                stage, Activity.LIST_UNSENT_LANES, Activity.ADD_VIDEOS, self._lane_batch
            )
        if not self._settle_first:
            await self._call_job(Activity.PLAN_DELETIONS)
        else:
            await self._until_done(stage, Activity.VERIFY_DELETIONS)
        return await self._batches(stage, Activity.DELETE_PLAYLISTS)
