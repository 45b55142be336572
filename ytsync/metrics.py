"""ytsync's own metrics: what they are, and the figures they take from a channel's rows.

The domain knows no metrics library: it speaks to a ``Metrics`` (the worker adapts the
Temporal runtime's meter, so they share the SDK's Prometheus endpoint).  Two kinds:

- counters of what this worker process sent to YouTube (``ytsync_quota_units_total``,
  ``ytsync_writes_sent_total``), added as each request goes: per process, so a
  dashboard sums them over workers and takes their rate;
- gauges read from the channel's database: the figures ``status`` shows for the
  channel's latest job (quota used, writes confirmed and sent again, duplicates
  removed, audits and their rounds, held-back playlists), its jobs by stage, and the
  seconds to the next quota reset.  Every worker of a channel shows the same values: a
  dashboard takes their ``max``.

Every gauge carries the label ``channel``; ``ytsync_jobs`` also ``stage``, the quota
counters also ``kind`` (write, read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ytsync.config import Settings
from ytsync.db.models import HeldBack, SyncJob
from ytsync.quota import WRITE_COST
from ytsync.status import audit_summary, latest_job
from ytsync.wire import Stage


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    description: str
    unit: str = ""


QUOTA_UNITS = Metric(
    "ytsync_quota_units_total",
    Kind.COUNTER,
    "Quota units of the YouTube requests this worker sent, by kind (write, read)",
    "units",
)
WRITES_SENT = Metric(
    "ytsync_writes_sent_total", Kind.COUNTER, "YouTube writes this worker sent", "writes"
)
JOB_QUOTA_USED = Metric(
    "ytsync_job_quota_used", Kind.GAUGE, "Quota units the channel's latest job spent", "units"
)
WRITES_CONFIRMED = Metric(
    "ytsync_writes_confirmed",
    Kind.GAUGE,
    "Writes of the channel's latest job that YouTube confirmed (status: succeeded)",
    "writes",
)
WRITES_SENT_AGAIN = Metric(
    "ytsync_writes_sent_again",
    Kind.GAUGE,
    "Writes of the latest job found missing once settled and sent again",
    "writes",
)
DUPLICATES_REMOVED = Metric(
    "ytsync_duplicates_removed",
    Kind.GAUGE,
    "Copies the latest job's unknown-outcome writes made, deleted by its audits",
    "items",
)
AUDITS = Metric("ytsync_audits", Kind.GAUGE, "Settled checks (audits) of the latest job")
AUDITS_CLEAN = Metric(
    "ytsync_audits_clean", Kind.GAUGE, "Audits of the latest job that found nothing to repair"
)
AUDIT_ROUNDS = Metric("ytsync_audit_rounds", Kind.GAUGE, "Rounds the latest job's audits read")
PLAYLISTS_HELD_BACK = Metric(
    "ytsync_playlists_held_back",
    Kind.GAUGE,
    "Old playlists the latest job kept because YouTube did not show them safe",
    "playlists",
)
JOBS = Metric("ytsync_jobs", Kind.GAUGE, "The channel's jobs, by stage", "jobs")
QUOTA_RESET_SECONDS = Metric(
    "ytsync_quota_reset_seconds", Kind.GAUGE, "Seconds to the next quota reset", "seconds"
)

ALL = (
    QUOTA_UNITS,
    WRITES_SENT,
    JOB_QUOTA_USED,
    WRITES_CONFIRMED,
    WRITES_SENT_AGAIN,
    DUPLICATES_REMOVED,
    AUDITS,
    AUDITS_CLEAN,
    AUDIT_ROUNDS,
    PLAYLISTS_HELD_BACK,
    JOBS,
    QUOTA_RESET_SECONDS,
)

Labels = Mapping[str, str]


class Metrics(Protocol):
    """Where the figures go (the worker's adapter of the Temporal runtime's meter)."""

    def add(self, metric: Metric, value: int, labels: Labels) -> None: ...

    def set(self, metric: Metric, value: float, labels: Labels) -> None: ...


class NoMetrics:
    """Metrics off: the figures go nowhere."""

    def add(self, metric: Metric, value: int, labels: Labels) -> None:
        pass

    def set(self, metric: Metric, value: float, labels: Labels) -> None:
        pass


NO_METRICS = NoMetrics()


def count_request(metrics: Metrics, channel: str, method: str, units: int) -> None:
    """A YouTube request this process is about to send (the client's ``on_units``)."""
    write = units >= WRITE_COST
    metrics.add(QUOTA_UNITS, units, {"channel": channel, "kind": "write" if write else "read"})
    if write:
        metrics.add(WRITES_SENT, 1, {"channel": channel})


def publish_job(
    metrics: Metrics, channel: str, session: Session, job: SyncJob, settings: Settings
) -> None:
    """The figures ``status`` shows for ``job``, as of its last progress refresh."""
    labels = {"channel": channel}
    audit = audit_summary(session, job, settings)
    held = session.scalar(
        select(func.count(func.distinct(HeldBack.playlist_id))).where(HeldBack.job_id == job.id)
    )
    confirmed = sum(
        int(result.get("succeeded", 0))
        for stage, result in job.stage_results.items()
        if stage != Stage.BACKUP
    )
    metrics.set(JOB_QUOTA_USED, job.quota_used, labels)
    metrics.set(WRITES_CONFIRMED, confirmed, labels)
    metrics.set(WRITES_SENT_AGAIN, audit.sent_again, labels)
    metrics.set(DUPLICATES_REMOVED, audit.duplicates_removed, labels)
    metrics.set(AUDITS, audit.checks, labels)
    metrics.set(AUDITS_CLEAN, audit.clean, labels)
    metrics.set(AUDIT_ROUNDS, audit.rounds, labels)
    metrics.set(PLAYLISTS_HELD_BACK, int(held or 0), labels)


def publish_channel(
    metrics: Metrics, channel: str, session: Session, settings: Settings, now: datetime
) -> None:
    """Everything the gauges show of one channel: its jobs by stage, the seconds to the
    next quota reset, and its latest job's figures."""
    rows = session.execute(select(SyncJob.stage, func.count()).group_by(SyncJob.stage))
    counts = {str(stage): int(count) for stage, count in rows}
    for stage in Stage:
        metrics.set(JOBS, int(counts.get(stage, 0)), {"channel": channel, "stage": str(stage)})
    reset = settings.quota_clock.next_reset(now)
    metrics.set(QUOTA_RESET_SECONDS, max(0.0, (reset - now).total_seconds()), {"channel": channel})
    job = latest_job(session)
    if job is not None:
        publish_job(metrics, channel, session, job, settings)
