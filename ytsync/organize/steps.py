"""An organize run's job, step by step, as its activities run it: the sync's job steps
(ytsync.sync.batches), and the steps only an organize run has.  No Temporal here."""

from __future__ import annotations

from ytsync.db.engine import transaction
from ytsync.organize.wire import Finished
from ytsync.organize.write import InboxCheck, finish_run
from ytsync.sync import operations as ops
from ytsync.sync.batches import ChannelJob
from ytsync.sync.writer import StopBatch
from ytsync.wire import BatchInput, BatchResult


class OrganizeJob(ChannelJob):
    def verify_inbox(self) -> BatchResult:
        """Write the inbox removals, each verified in its category first, or held back
        (see ytsync.organize.write); remaining: those to send."""
        with self._sessions() as session:
            self._refuse_while_adding(session)
        budget = self._budget()
        try:
            check = InboxCheck(
                sessions=self._sessions,
                youtube=self._client(),
                budget=budget,
                job_id=self._job_id,
                heartbeat=self._attempt.heartbeat,
            )
            to_remove = check.plan_removals()
        except StopBatch as stop:
            return self._stopped(stop, 0, -1)
        finally:
            budget.release()
        self._refresh()
        return BatchResult(0, to_remove)

    def remove_from_inbox(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ops.INBOX_REMOVE)

    def finish(self) -> Finished:
        with transaction(self._sessions) as session:
            return finish_run(session, self._job_id)
