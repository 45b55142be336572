"""RestoreWorkflow: bring back the old playlists of a backup snapshot, with their items
in their old order, under the same quota handling and write protocol as a sync."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.base import JobWorkflow
    from ytsync.wire import RESTORE_STAGES, Activity, BatchInput, JobProgress, Stage, SyncInput

# A restore takes the sync's protocol: its writes with unknown outcomes wait for settled
# checks (the channel's playlists for its recreations, each playlist it puts back for
# its appends), and it removes an item or deletes a category playlist (a full undo) only
# once every video there is verified back where it was.  Histories from before keep
# replaying the old steps.
RESTORE_SETTLE_AUDIT_VERIFY = "restore-settle-audit-verify"


@workflow.defn
class RestoreWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, job: SyncInput) -> JobProgress:
        return await self._run_job(job, RESTORE_STAGES, self._run_stage)

    async def _run_stage(self, stage: Stage) -> bool:
        await self._set_stage(stage)
        self._settle_first = workflow.patched(RESTORE_SETTLE_AUDIT_VERIFY)
        if stage == Stage.RESTORE_PLAYLISTS:
            await self._call_job(Activity.PLAN_RESTORE)
            if not self._settle_first:
                return await self._batches(stage, Activity.RESTORE_PLAYLISTS)
            return await self._create_settled(stage, Activity.RESTORE_PLAYLISTS)
        if not self._settle_first:
            finished = await self._lanes(
                stage, Activity.LIST_RESTORE_LANES, Activity.RESTORE_ITEMS, self._lane_batch
            )
            if finished:
                await self._call_job(Activity.FINISH_RESTORE)
            return finished
        if not await self._add_audited(
            stage, Activity.LIST_UNSENT_LANES, Activity.RESTORE_ITEMS, self._lane_batch
        ):
            return False
        await self._until_done(stage, Activity.VERIFY_DELETIONS)
        if not await self._lanes(
            stage, Activity.LIST_RESTORE_LANES, Activity.RESTORE_REMOVALS, self._lane_batch
        ):
            return False
        if not await self._batches(stage, Activity.DELETE_MADE_PLAYLISTS):
            return False
        await self._call_job(Activity.FINISH_RESTORE)
        return True

    def _lane_batch(self, lane: int) -> BatchInput:
        return self._batch_input(playlist_id=lane)
