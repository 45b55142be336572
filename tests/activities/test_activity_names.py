"""The workflows call activities by the names ytsync.wire declares: the worker must
register each under that name, or a job would wait for ever for an activity no worker
runs (recorded histories replay only the names their runs used)."""

from __future__ import annotations

from temporalio.activity import _Definition

from activities.sync import SyncActivities
from activities.visibility import SearchAttributeCheck
from ytsync.channels import Channels
from ytsync.config import Settings
from ytsync.wire import Activity, ActivityType


def test_the_worker_registers_every_activity_the_workflows_call() -> None:
    """Under its name, answering the type the workflows decode its result to."""
    settings = Settings()
    worker_runs = SyncActivities(Channels({settings.channel: settings}, settings.channel)).all()
    registered = {
        str(defn.name): defn.ret_type
        for defn in map(
            _Definition.must_from_callable,
            [*worker_runs, SearchAttributeCheck.usable_search_attributes],
        )
    }
    declared = {
        kind.name: kind.result for kind in vars(Activity).values() if isinstance(kind, ActivityType)
    }
    assert registered == declared
