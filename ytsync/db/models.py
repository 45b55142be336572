"""The schema: one channel's library, its plan, and the sync jobs that carry it out.

Identical on SQLite and PostgreSQL: only portable types (JSON, timezone-aware
DateTime stored as UTC), and every change goes through an Alembic migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite too (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(primary_key=True)
    youtube_id: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    # available | private | deleted | unknown
    availability: Mapped[str] = mapped_column(String(16), default="unknown")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # What rules match on, from videos.list; None when YouTube did not show the video
    # (deleted, someone else's private) or it was imported before ytsync read them.
    channel_id: Mapped[str | None] = mapped_column(String(64), default=None)
    channel_title: Mapped[str | None] = mapped_column(Text, default=None)
    # None also for a live or upcoming broadcast, which YouTube gives as P0D.
    duration_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)


class Playlist(Base):
    """A playlist the user had before the sync: the sync deletes these at the end."""

    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    youtube_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # private | unlisted | public; "" when imported before ytsync read it.
    privacy: Mapped[str] = mapped_column(String(16), default="", server_default="")
    item_count: Mapped[int] = mapped_column(default=0)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_from_youtube_at: Mapped[datetime | None] = mapped_column(default=None)
    # The id it had before a restore recreated it under a new one: what the backup
    # snapshots taken before call it (None: never recreated).
    replaced_youtube_id: Mapped[str | None] = mapped_column(String(64), default=None)

    items: Mapped[list[PlaylistItem]] = relationship(
        back_populates="playlist", cascade="all, delete-orphan", order_by="PlaylistItem.position"
    )


class PlaylistItem(Base):
    __tablename__ = "playlist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"))
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"))
    youtube_item_id: Mapped[str] = mapped_column(String(128), unique=True)
    position: Mapped[int] = mapped_column(default=0)

    playlist: Mapped[Playlist] = relationship(back_populates="items")
    video: Mapped[Video] = relationship()

    __table_args__ = (Index("ix_playlist_items_playlist", "playlist_id", "position"),)


class Category(Base):
    __tablename__ = "categories"
    # Never reuse a deleted category's id: operation keys of old jobs name it.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    # A playlist title: YouTube allows 150 characters.
    name: Mapped[str] = mapped_column(String(150), unique=True)
    is_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    youtube_playlist_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The plan's privacy and description columns, set on the category's playlist
    # whether it is new or kept (the reuse strategy).  description None: none given.
    privacy: Mapped[str] = mapped_column(String(16), default="private", server_default="private")
    description: Mapped[str | None] = mapped_column(Text, default=None)


class CategoryVideo(Base):
    __tablename__ = "category_videos"

    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), primary_key=True)
    # Order of the plan file, so the new playlist keeps the user's order.
    position: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_category_videos_video", "video_id"),)


class SyncJob(Base):
    __tablename__ = "sync_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(128), unique=True)
    # sync | restore
    kind: Mapped[str] = mapped_column(String(16), default="sync", server_default="sync")
    # What a restore job brings back.
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("backup_snapshots.id"), default=None)
    # pending | backup | create_playlists | add_videos | delete_playlists | paused
    # | completed | failed
    stage: Mapped[str] = mapped_column(String(32), default="pending")
    # rebuild | reuse (see ytsync.reuse): chosen at start, fixed for the job's life.
    strategy: Mapped[str] = mapped_column(String(16), default="rebuild", server_default="rebuild")
    paused_at_stage: Mapped[str | None] = mapped_column(String(32), default=None)
    pause_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    resume_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the user asked for a pause (set by `pause` once the workflow accepted the
    # signal, cleared by `resume`): `status` shows it at once, and every batch reads it
    # in its commits, so writes stop within seconds even before the workflow answers.
    pause_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    quota_used: Mapped[int] = mapped_column(BigInteger, default=0)
    stage_results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    preview: Mapped[dict[str, Any]] = mapped_column(default=dict)
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("backup_snapshots.id"), default=None)
    failure_message: Mapped[str | None] = mapped_column(Text, default=None)
    # The settle delay the job's checks use now: longer than the setting once a check
    # found YouTube's lists later than it (None: the setting).
    settle_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    # Why a job paused for the user waits (a scope missing, a local error), while it does.
    pause_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class SyncOperation(Base):
    """One YouTube write of a job, and where it stands in the idempotency protocol."""

    __tablename__ = "sync_operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    # create_playlist | add_video | delete_playlist
    kind: Mapped[str] = mapped_column(String(32))
    # "add:<category>:<video>", "create:<category>", "delete:<playlist>": NULL-free, so
    # the unique constraint really holds on both databases.
    op_key: Mapped[str] = mapped_column(String(64))
    # A re-plan may remove a category that a finished job wrote for; its op_key keeps the id.
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), default=None
    )
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id"), default=None)
    playlist_id: Mapped[int | None] = mapped_column(ForeignKey("playlists.id"), default=None)
    position: Mapped[int] = mapped_column(default=0)
    # pending | in_flight | completed | failed | skipped | held_back (an old playlist
    # kept because YouTube did not show all its videos safe in their new playlists)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    youtube_id: Mapped[str | None] = mapped_column(String(128), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the write was last sent, on the job's clock (see ytsync.sync.clock): no read
    # may judge it before the settle delay.
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # When a settled check saw the write on YouTube (its item by id, or listed).
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Earlier sends whose answer never came and that a check then judged not applied
    # (ISO moments): a copy YouTube added close to one of them may still be ytsync's.
    lost_sends: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("job_id", "op_key"),
        Index("ix_sync_operations_lane", "job_id", "kind", "status", "category_id"),
    )


class SyncError(Base):
    __tablename__ = "sync_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    # A video id, or a playlist's title (up to 150 characters).
    entity_id: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class BackupSnapshot(Base):
    __tablename__ = "backup_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    playlist_count: Mapped[int] = mapped_column(default=0)
    item_count: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LaneLease(Base):
    """Which attempt of a batch may write into a lane (a playlist) of a job.

    Temporal starts a new attempt when an old one stops heartbeating, but the old one
    may only be stalled and write again later: both would look up the same in_flight
    rows and send them twice.  The attempt holding the lease is the only one that
    sends; a new one takes it over only once the old one stopped renewing it.
    """

    __tablename__ = "lane_leases"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # The target playlist's category or old playlist id; 0 for kinds with one lane.
    lane: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(64))
    renewed_at: Mapped[datetime] = mapped_column()
    released: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("job_id", "kind", "lane"),)


class QuotaLedger(Base):
    """Units this database's jobs spent, per quota period (UTC start of the period)."""

    __tablename__ = "quota_ledger"

    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    units_used: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set when YouTube said quotaExceeded: the period is spent, whatever we counted.
    exhausted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LaneCheck(Base):
    """A settled read of one target of a job's writes, and what it repaired.

    ``kind`` "add_video": the audit of a category playlist (``lane`` is the category);
    "create_playlist": the check of the channel's playlists for the job's markers
    (``lane`` 0).  ``status`` is "due" until a check finds nothing left to repair."""

    __tablename__ = "lane_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    lane: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="due")
    rounds: Mapped[int] = mapped_column(default=0)
    # Quota units the checks read.
    reads: Mapped[int] = mapped_column(default=0)
    # Writes whose answer was lost, found applied once settled.
    found: Mapped[int] = mapped_column(default=0)
    # Writes found missing once settled, sent again.
    resent: Mapped[int] = mapped_column(default=0)
    # Copies ytsync's own unknown-outcome writes made, deleted (checks from before
    # migration 0010; since then the deletions are operation rows).
    duplicates_removed: Mapped[int] = mapped_column(default=0)
    # Writes of ytsync's a check did not see yet (YouTube's lists lagged): each made the
    # lane due again.
    late: Mapped[int] = mapped_column(default=0, server_default="0")
    checked_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (UniqueConstraint("job_id", "kind", "lane"),)


class JobKeptPlaylist(Base):
    """Under the reuse strategy: the old playlist a job keeps as a category's playlist.

    Decided once, when the job starts (ytsync.strategies.record_kept), so every later
    step of the job, retried or continued as new, works from the same choice."""

    __tablename__ = "kept_playlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"))

    __table_args__ = (
        UniqueConstraint("job_id", "category_id"),
        UniqueConstraint("job_id", "playlist_id"),
    )


class HeldBack(Base):
    """A video that kept a playlist from being deleted, or an item from being removed:
    YouTube, read back, did not show it where it must be first.  A sync's: an old
    playlist whose video its category playlist lacks, or which holds a video saved there
    since the import (``new_in_playlist``); a restore's: a kept playlist's item, or a
    category playlist (a full undo), whose video is not back in its old playlist, or
    which holds an item the owner added."""

    __tablename__ = "held_back"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    # The playlist kept: an old one, or else (a category playlist) by its YouTube id.
    playlist_id: Mapped[int | None] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), default=None
    )
    youtube_playlist_id: Mapped[str | None] = mapped_column(String(64), default=None)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    # The video: one of the library's, or else (one the owner added) by its YouTube id.
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id"), default=None)
    youtube_video_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Where it is missing (a category's name, or an old playlist's title); "" for a
    # video new in the playlist, which no category of the plan has.
    category: Mapped[str] = mapped_column(String(150))
    reason: Mapped[str] = mapped_column(Text)
    new_in_playlist: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_held_back_job", "job_id", "playlist_id"),)


class OrganizeRun(Base):
    """One run of an organize schedule (ytsync.organize): what its read side found and
    decided.  ``outcome``: reading | waiting | planned | failed."""

    __tablename__ = "organize_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A schedule's runs are workflows named after the schedule and their start time.
    workflow_id: Mapped[str] = mapped_column(String(255), unique=True)
    schedule_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # A preview: its decisions are shown, nothing is written.
    dry_run: Mapped[bool] = mapped_column(Boolean, default=True)
    rules_source: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(16), default="reading")
    message: Mapped[str | None] = mapped_column(Text, default=None)
    read_units: Mapped[int] = mapped_column(default=0)
    # Items by action (see OrganizeItem).
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # A run that writes owns a job (kind "organize") for its writes: their operation
    # rows, leases, checks, errors and quota.  None: a preview, or nothing to write.
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_jobs.id", ondelete="SET NULL"), default=None
    )
    # What the writes did, by outcome (see OrganizeItem.outcome).
    results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The rules' text, hashed: a schedule's first run with these rules is a preview.
    rules_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    # The inbox the run read, by its YouTube id: a sync never deletes it.
    inbox_playlist_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The workflow's first execution (its run id): two runs of a schedule started within
    # one second share a workflow id, and the later one renames the earlier's rows.
    execution_id: Mapped[str | None] = mapped_column(String(64), default=None)


class OrganizeItem(Base):
    """A new video of a source and what the rules decided for it.

    ``action``: move (add to the category, then remove ``source_item_id`` from the
    inbox once verified there), remove (already in its category: only the removal),
    copy (add; the uploads lose nothing), present (an upload already in its category),
    unmatched (no rule: it stays), protected (its category has no playlist),
    no_playlist (its category has no playlist on YouTube yet)."""

    __tablename__ = "organize_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("organize_runs.id", ondelete="CASCADE"))
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"))
    # inbox | uploads
    source: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), default=None
    )
    # The category's name as the rules gave it (it may not exist as a category yet).
    category: Mapped[str | None] = mapped_column(String(150), default=None)
    rule: Mapped[int | None] = mapped_column(default=None)
    # The inbox's playlist item, which a move removes once the video is verified.
    source_item_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # What the writes did with it (None: nothing to write, or a preview): moved,
    # copied, taken_out (out of the inbox, its category had it), added (in its
    # category, left in the inbox: not verified there), left (in the inbox: its
    # category does not show it), failed; ``note`` says why.
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_organize_items_run", "run_id", "action"),)


class OrganizeSeen(Base):
    """A video of a source that a run has read: incremental reads stop at what they have
    seen (the uploads list is newest first).  ``handled``: a run wrote what its rules
    decided (never set by a preview), so later runs leave it alone."""

    __tablename__ = "organize_seen"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled: Mapped[bool] = mapped_column(Boolean, default=False)


class OrganizeSource(Base):
    """An inbox a rules file names (a playlist's title or id, as written), recorded by
    ``plan rules`` and ``schedule create``: a sync never deletes a source, even before
    a run has read it."""

    __tablename__ = "organize_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox: Mapped[str] = mapped_column(String(150), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """A message to the job's owner, recorded in the transaction of the event it tells
    of and sent afterwards by the worker (ytsync.notify): one row per job and event, so
    a retried or replayed step never records it twice."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    # What happened, e.g. "completed", "auth_required:1", "refused:7".
    event: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # pending -> sending (claimed by one worker) -> sent | failed (gave up, logged).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("job_id", "event"),
        Index("ix_notifications_status", "status"),
    )
