"""What an organize run's workflow, its activities and the CLI say to each other.

Kept apart from ``ytsync.wire`` while the sync's write protocol (and that module) is
being rewritten; the same rules hold: plain, secret-free dataclasses that land in
history, so fields are only ever added with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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


@dataclass
class ReadInput:
    workflow_id: str
    rules: str
    rules_source: str
    dry_run: bool = True
    schedule_id: str | None = None
    channel: str | None = None


@dataclass
class ReadResult:
    """What the read side found; ``waiting`` set: nothing was read, try at ``resume_at``."""

    run_id: int = 0
    waiting: Waiting | None = None
    resume_at: datetime | None = None
    # Videos by action (ytsync.db.models.OrganizeItem).
    counts: dict[str, int] = field(default_factory=dict)
    read_units: int = 0


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


def summary_text(counts: dict[str, int], dry_run: bool) -> str:
    """One line for the Web UI and the CLI: "organize (preview): 12 to move, 3 unmatched"."""
    parts = [f"{counts[key]:,} {words}" for key, words in SUMMARY_WORDS if counts.get(key)]
    head = "organize (preview)" if dry_run else "organize"
    return f"{head}: {', '.join(parts) or 'nothing new'}"
