"""The organize workflow calls its activities by the names ytsync.organize.wire
declares: the worker registers each under that name, answering the type the workflow
decodes."""

from __future__ import annotations

from temporalio.activity import _Definition

from activities.organize import OrganizeActivities
from ytsync.channels import Channels
from ytsync.config import Settings
from ytsync.organize.wire import ORGANIZE_FAILED, ORGANIZE_READ, ReadResult


def test_the_worker_registers_the_organize_activities() -> None:
    settings = Settings()
    runs = OrganizeActivities(Channels({settings.channel: settings}, settings.channel)).all()
    registered = {
        str(defn.name): defn.ret_type for defn in map(_Definition.must_from_callable, runs)
    }
    assert registered == {ORGANIZE_READ: ReadResult, ORGANIZE_FAILED: type(None)}
