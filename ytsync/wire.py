"""The wire vocabulary: what the workflows, the activities and the CLI say to each other.

Stage and pause-reason names, the workflows' own names (so the CLI can start, query and
update a job without importing workflow code), and the small, plain, secret-free
dataclasses that cross the workflow boundary.

The dataclasses land in workflow history for the life of a job, so fields are only ever
added with defaults, never renamed or removed: old histories must keep decoding.  The
enums are ``StrEnum``: on the wire and in the database they are their plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar


class Stage(StrEnum):
    """Where a job is: its ``sync_jobs.stage``, and the workflow's."""

    PENDING = "pending"
    BACKUP = "backup"
    CREATE_PLAYLISTS = "create_playlists"
    ADD_VIDEOS = "add_videos"
    DELETE_PLAYLISTS = "delete_playlists"
    RESTORE_PLAYLISTS = "restore_playlists"
    RESTORE_ITEMS = "restore_items"
    # An organize run's second stage: the inbox items of the videos its first stage
    # (add_videos) put into their categories, removed once verified there.
    REMOVE_FROM_INBOX = "remove_from_inbox"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


SYNC_STAGES = (Stage.BACKUP, Stage.CREATE_PLAYLISTS, Stage.ADD_VIDEOS, Stage.DELETE_PLAYLISTS)
RESTORE_STAGES = (Stage.RESTORE_PLAYLISTS, Stage.RESTORE_ITEMS)
ORGANIZE_STAGES = (Stage.ADD_VIDEOS, Stage.REMOVE_FROM_INBOX)
FINAL_STAGES = (Stage.COMPLETED, Stage.FAILED)
ACTIVE_STAGES = tuple(s for s in Stage if s not in FINAL_STAGES)


class PauseReason(StrEnum):
    """Why a job waits, and why a batch stopped before its work ran out."""

    # The user asked for a pause: the batch stopped at its next chunk boundary.
    USER = "user"
    QUOTA = "quota_exhausted"
    RATE = "rate_limited"
    AUTH = "auth_required"


# The names the worker registers; the CLI calls them by name.
SYNC_WORKFLOW = "SyncWorkflow"
RESTORE_WORKFLOW = "RestoreWorkflow"
STATE_QUERY = "state"
PAUSE_UPDATE = "pause_update"
RESUME_UPDATE = "resume_update"


@dataclass
class SyncInput:
    job_id: int
    # Where a continued run picks up; a fresh job starts at the beginning.
    stage: Stage = Stage.BACKUP
    user_paused: bool = False
    # Shorter in tests that kill workers, so a lost batch is retried quickly.
    heartbeat_timeout_seconds: float = 60.0
    lanes: int = 4
    # Writes per activity.  Each activity costs the worker and the server about as much
    # CPU as 15 writes, so 200 (not 50) took the bench from 720 to 1,000 writes/s.  A
    # pause does not wait for the batch: it stops at the next chunk (see Writer).
    batch_size: int = 200
    # Continue as new well before Temporal's own suggestion, to keep every run's
    # history small enough to load fast in the Web UI and on a worker.
    max_history_events: int = 2_000
    runs: int = 1
    # The channel (database + sign-in) the job belongs to: a name the worker resolves
    # from its own configuration, never a secret. None: the worker's own channel (and
    # every job started before there were channels).
    channel: str | None = None


@dataclass
class JobProgress:
    stage: Stage
    done: int
    total: int
    quota_used: int
    errors: int
    # From the job row (rebuild | reuse), for the live details.
    strategy: str = "rebuild"


@dataclass
class BatchInput:
    job_id: int
    max_writes: int
    # The lane: a category's playlist (sync), or an old playlist being restored.
    category_id: int | None = None
    playlist_id: int | None = None
    channel: str | None = None
    # Settle, then judge: the batch sends only rows never sent, and leaves those whose
    # outcome is unknown to the lane's settled check.  False in histories from before.
    settle: bool = False


@dataclass
class CheckPlan:
    """The lanes whose settled check is due, and when their last write will have
    settled (None: nothing was written, no wait)."""

    lanes: list[int] = field(default_factory=list)
    settle_until: datetime | None = None


@dataclass
class BatchResult:
    done: int = 0
    remaining: int = 0
    stop: PauseReason | None = None
    resume_at: datetime | None = None
    message: str = ""
    progress: JobProgress | None = None


@dataclass
class StageUpdate:
    job_id: int
    stage: Stage
    paused_at_stage: Stage | None = None
    pause_reason: PauseReason | None = None
    resume_at: datetime | None = None
    message: str | None = None
    channel: str | None = None


@dataclass
class WorkflowState:
    """What the ``state`` query answers; the CLI merges it into ``status``."""

    job_id: int
    stage: Stage
    paused: bool = False
    pause_reason: PauseReason | None = None
    paused_at_stage: Stage | None = None
    resume_at: datetime | None = None
    progress: dict[str, int] = field(default_factory=dict)
    runs: int = 1


R = TypeVar("R")


@dataclass(frozen=True)
class ActivityType(Generic[R]):
    """An activity as a workflow calls it, by name, so the workflows need no activity
    code: the type name every history records (never renamed, or running jobs stop
    replaying) and the type its answer decodes to."""

    name: str
    result: type[R]


class Activity:
    """Every activity the workflows call; the worker registers each under this name."""

    SET_STAGE = ActivityType("set_stage", JobProgress)
    # The job's snapshot id.
    BACKUP = ActivityType("backup", int)
    # The open create and update rows.
    PLAN_CREATIONS = ActivityType("plan_creations", int)
    CREATE_PLAYLISTS = ActivityType("create_playlists", BatchResult)
    PLAN_CREATION_CHECK = ActivityType("plan_creation_check", CheckPlan)
    CHECK_CREATIONS = ActivityType("check_creations", BatchResult)
    # remaining: the open add rows; or a stop, to wait out and ask again.
    PLAN_ADDITIONS = ActivityType("plan_additions", BatchResult)
    LIST_LANES = ActivityType("list_lanes", list[int])
    LIST_UNSENT_LANES = ActivityType("list_unsent_lanes", list[int])
    ADD_VIDEOS = ActivityType("add_videos", BatchResult)
    PLAN_AUDITS = ActivityType("plan_audits", CheckPlan)
    AUDIT_LANE = ActivityType("audit_lane", BatchResult)
    # The open delete rows.
    PLAN_DELETIONS = ActivityType("plan_deletions", int)
    # remaining: the open delete and remove rows; or a stop, to wait out and ask again.
    VERIFY_DELETIONS = ActivityType("verify_deletions", BatchResult)
    DELETE_PLAYLISTS = ActivityType("delete_playlists", BatchResult)
    # The open restore rows.
    PLAN_RESTORE = ActivityType("plan_restore", int)
    RESTORE_PLAYLISTS = ActivityType("restore_playlists", BatchResult)
    LIST_RESTORE_LANES = ActivityType("list_restore_lanes", list[int])
    RESTORE_ITEMS = ActivityType("restore_items", BatchResult)
    # Once the restore's items are checked and its removals verified (verify_deletions):
    # the items in the way of kept playlists' old order, and a full undo's deletions.
    RESTORE_REMOVALS = ActivityType("restore_removals", BatchResult)
    DELETE_MADE_PLAYLISTS = ActivityType("delete_made_playlists", BatchResult)
    # How many old playlists came back.
    FINISH_RESTORE = ActivityType("finish_restore", int)
    # The names of ytsync's search attributes the namespace has.
    USABLE_SEARCH_ATTRIBUTES = ActivityType("usable_search_attributes", list[str])
