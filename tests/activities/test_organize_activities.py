"""The organize workflow calls its activities by the names ytsync.organize.wire
declares: the worker registers each under that name, answering the type the workflow
decodes."""

from __future__ import annotations

from temporalio.activity import _Definition

from activities.organize import OrganizeActivities
from ytsync.channels import Channels
from ytsync.config import Settings
from ytsync.organize.wire import (
    FINISH,
    ORGANIZE_FAILED,
    ORGANIZE_PLAN,
    ORGANIZE_READ,
    REMOVE_FROM_INBOX,
    VERIFY_INBOX,
    ReadResult,
)


def test_the_worker_registers_the_organize_activities() -> None:
    settings = Settings()
    runs = OrganizeActivities(Channels({settings.channel: settings}, settings.channel)).all()
    registered = {
        str(defn.name): defn.ret_type for defn in map(_Definition.must_from_callable, runs)
    }
    declared = {
        kind.name: kind.result for kind in (ORGANIZE_PLAN, VERIFY_INBOX, REMOVE_FROM_INBOX, FINISH)
    }
    assert registered == {ORGANIZE_READ: ReadResult, ORGANIZE_FAILED: type(None), **declared}
