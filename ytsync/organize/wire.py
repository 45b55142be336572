"""What an organize run's workflow, its activities and the CLI say to each other.

Kept apart from ``ytsync.wire`` (the sync's vocabulary, which the write stages share);
the same rules hold: plain, secret-free dataclasses that land in history, so fields
are only ever added with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# At run time, not only for type checking: the data converter reads the field types.
from ytsync.wire import ActivityType, BatchResult, SyncInput

ORGANIZE_WORKFLOW = "OrganizeWorkflow"
ORGANIZE_READ = "organize_read"
ORGANIZE_FAILED = "organize_failed"
# One schedule per channel: "ytsync-organize" or "ytsync-organize-<channel>".
SCHEDULE_PREFIX = "ytsync-organize"


class Waiting(StrEnum):
    """Why a run's read waits before it reads anything."""

    # A sync or restore of the channel is running: the two never work together.
    JOB_RUNNING = "job_running"
    QUOTA = "quota_exhausted"


@dataclass
class OrganizeInput:
    """A run's input: the schedule's action holds it, the same for every run."""

    # The rules file's text and where it came from (a path on the machine that made
    # the schedule: shown, never opened by the worker).
    rules: str
    rules_source: str
    dry_run: bool = True
    schedule_id: str | None = None
    # The channel (database + sign-in), by name; None: the worker's own.
    channel: str | None = None
    # Runs write (dry_run False), but the first run of these rules is a preview: the
    # schedule's default, so that what the rules do is seen before it is done.
    preview_first: bool = False
    # The write stages' job: before it exists, the options its batches run with (None:
    # the defaults; tests shorten the heartbeat); once made, its id and the stage a run
    # continued as new goes on from.
    job: SyncInput | None = None


@dataclass
class ReadInput:
    workflow_id: str
    rules: str
    rules_source: str
    dry_run: bool = True
    schedule_id: str | None = None
    channel: str | None = None
    preview_first: bool = False
    # The run's first execution: a schedule names its runs after the second they start
    # in, so two runs triggered within one second share a workflow id.
    execution: str = ""


@dataclass
class ReadResult:
    """What the read side found; ``waiting`` set: nothing was read, try at ``resume_at``."""

    run_id: int = 0
    waiting: Waiting | None = None
    resume_at: datetime | None = None
    # Videos by action (ytsync.db.models.OrganizeItem).
    counts: dict[str, int] = field(default_factory=dict)
    read_units: int = 0
    # The run is a preview: its input says so, or it is the first run of its rules.
    dry_run: bool = True


@dataclass
class PlanInput:
    """The write stages' start: the run's job and its additions."""

    workflow_id: str
    run_id: int
    channel: str | None = None


@dataclass
class Finished:
    """A run that wrote, or had nothing to write: what it decided and what it did."""

    run_id: int
    counts: dict[str, int] = field(default_factory=dict)
    read_units: int = 0
    # Videos by what the writes did (ytsync.db.models.OrganizeItem.outcome).
    results: dict[str, int] = field(default_factory=dict)
    summary: str = ""


@dataclass
class WritePlan:
    """The job that writes (``job_id``), or why there is none: ``waiting`` (a sync or
    restore started meanwhile: read again once it has ended), or ``finished`` (nothing
    to write)."""

    job_id: int = 0
    waiting: Waiting | None = None
    resume_at: datetime | None = None
    finished: Finished | None = None


# The write stages' own activities; the additions and their audits are the sync's.
ORGANIZE_PLAN = ActivityType("organize_plan_writes", WritePlan)
# remaining: the inbox items verified in their category and to remove; or a stop.
VERIFY_INBOX = ActivityType("organize_verify_inbox", BatchResult)
REMOVE_FROM_INBOX = ActivityType("organize_remove_from_inbox", BatchResult)
FINISH = ActivityType("organize_finish", Finished)


@dataclass
class FailedInput:
    workflow_id: str
    message: str
    channel: str | None = None


@dataclass
class OrganizeResult:
    run_id: int
    dry_run: bool
    counts: dict[str, int]
    read_units: int
    summary: str
    results: dict[str, int] = field(default_factory=dict)
    job_id: int = 0


# How each action reads in a run's summary, in this order.
SUMMARY_WORDS = (
    ("move", "to move"),
    ("remove", "to take out of the inbox"),
    ("copy", "to copy"),
    ("present", "already there"),
    ("unmatched", "unmatched"),
    ("protected", "in protected categories"),
    ("no_playlist", "waiting for their category's playlist"),
)


# How the writes' outcomes read in a run's summary, and the decisions with nothing to
# write, in this order.
RESULT_WORDS = (
    ("moved", "moved"),
    ("copied", "copied"),
    ("taken_out", "taken out of the inbox"),
    ("kept", "left in the inbox until YouTube shows them in their category"),
    ("failed", "failed"),
)
UNWRITTEN_WORDS = tuple(w for w in SUMMARY_WORDS if w[0] in ("present", "unmatched", "protected"))
UNWRITTEN_WORDS += (("no_playlist", "left for their category's playlist"),)


def summary_text(counts: dict[str, int], dry_run: bool) -> str:
    """One line for the Web UI and the CLI: "organize (preview): 12 to move, 3 unmatched"."""
    parts = [f"{counts[key]:,} {words}" for key, words in SUMMARY_WORDS if counts.get(key)]
    head = "organize (preview)" if dry_run else "organize"
    return f"{head}: {', '.join(parts) or 'nothing new'}"


def written_text(results: dict[str, int], counts: dict[str, int]) -> str:
    """A run that wrote: "organize: 12 moved, 2 copied, 3 unmatched"."""
    parts = [f"{results[key]:,} {words}" for key, words in RESULT_WORDS if results.get(key)]
    parts += [f"{counts[key]:,} {words}" for key, words in UNWRITTEN_WORDS if counts.get(key)]
    return f"organize: {', '.join(parts) or 'nothing new'}"
