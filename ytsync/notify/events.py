"""What a job tells its owner, and when: each event's message, recorded in the outbox by
the step that meets it, in that step's transaction.

- ``auth_required:N``: the job paused for a new sign-in (the N-th time: a sign-in that
  fails again after a resume is news again);
- ``token_expiry:DATE``: the sign-in expires within ``TOKEN_WARNING_DAYS`` (known when
  Google said so at sign-in, see ytsync.youtube.tokens);
- ``refused:CATEGORY``: YouTube refused a category's playlist;
- ``held_back``: old playlists kept because YouTube did not show them safe;
- ``failed`` and ``completed``, the latter with the report's figures;
- ``digest:PERIOD`` (opt-in, ``YTSYNC_NOTIFY_DIGEST``): where the job stands, once a
  quota period (a day on YouTube), when it starts working in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ytsync.db.models import Category, HeldBack, Playlist, SyncJob, SyncOperation
from ytsync.notify.outbox import Message, record, recorded
from ytsync.wire import RESTORE_STAGES, SYNC_STAGES, PauseReason, Stage

TOKEN_WARNING_DAYS = 7
# A message names at most this many playlists or categories; the rest are counted.
LISTED = 10
SIGN_IN_AGAIN = "Sign in again (ytsync auth --client-secrets FILE), then run: ytsync resume"
# What each stage's "succeeded" counts, for the completion message.
DONE = {
    Stage.CREATE_PLAYLISTS: "Category playlists made or updated",
    Stage.ADD_VIDEOS: "Videos added",
    Stage.DELETE_PLAYLISTS: "Old playlists (or items) deleted",
    Stage.RESTORE_PLAYLISTS: "Playlists restored",
    Stage.RESTORE_ITEMS: "Items restored",
}


def waits_for_sign_in(job: SyncJob) -> bool:
    return job.stage == Stage.PAUSED and job.pause_reason == PauseReason.AUTH


def after_stage(session: Session, job: SyncJob, channel: str, *, waited_before: bool) -> bool:
    """The events a stage change brings (``job`` as just updated, its progress
    refreshed; ``waited_before``: it waited for a sign-in already).  True when a
    message was recorded."""
    added = False
    if waits_for_sign_in(job) and not waited_before:
        count = len(recorded(session, job.id, "auth_required:")) + 1
        added |= record(session, job.id, _auth(job, channel, count))
    if job.stage == Stage.FAILED:
        added |= record(session, job.id, _failed(job, channel))
    added |= catch_up(session, job, channel)
    # An organize run completes every day: not news (its failures and sign-ins are).
    if job.stage == Stage.COMPLETED and job.kind != "organize":
        added |= record(session, job.id, _completed(session, job, channel))
    return added


def catch_up(session: Session, job: SyncJob, channel: str) -> bool:
    """Messages for what the job's rows show and no message told yet: refused
    categories and held-back playlists.  Run after the steps that record them, and at
    every stage change (a worker killed between the two commits loses nothing)."""
    added = False
    for category_id, name, error in session.execute(
        select(Category.id, Category.name, SyncOperation.error)
        .join(Category, Category.id == SyncOperation.category_id)
        .where(
            SyncOperation.job_id == job.id,
            SyncOperation.kind.in_(("create_playlist", "update_playlist")),
            SyncOperation.status == "failed",
        )
        .order_by(SyncOperation.id)
    ):
        added |= record(session, job.id, _refused(job, channel, category_id, name, error))
    held = _held_back(session, job.id)
    if held:
        added |= record(session, job.id, _held_message(job, channel, held))
    return added


def token_expiry(
    session: Session, job: SyncJob, channel: str, expires: datetime | None, now: datetime
) -> bool:
    """The sign-in dies within TOKEN_WARNING_DAYS while the job still runs."""
    if expires is None or job.stage in (Stage.COMPLETED, Stage.FAILED):
        return False
    if expires - now > timedelta(days=TOKEN_WARNING_DAYS):
        return False
    when = f"{expires.astimezone().strftime('%Y-%m-%d %H:%M %Z')}"
    past = expires <= now
    message = Message(
        event=f"token_expiry:{expires.isoformat(timespec='minutes')}",
        title=f"ytsync: the sign-in of channel {channel} {'expired' if past else 'expires'} {when}",
        body=(
            f"Job {job.id} on channel {channel} is at {job.stage}. Google "
            f"{'ended' if past else 'ends'} its sign-in {when}: the job will pause until "
            "you sign in again. An OAuth app whose consent screen is in Testing gets "
            "sign-ins that last 7 days; publish it (In production) and sign in again "
            "(ytsync auth --client-secrets FILE)."
        ),
    )
    return record(session, job.id, message)


def digest(session: Session, job: SyncJob, channel: str, period: datetime, reset: datetime) -> bool:
    """Where the job stands, once for the quota period starting at ``period``: told
    when it starts working in it (after a reset, that is each morning of a long job)."""
    if job.kind == "organize" or job.stage not in (*SYNC_STAGES, *RESTORE_STAGES):
        return False
    done, total = job.progress_done, job.progress_total
    share = f" ({done / total:.0%})" if total else ""
    lines = [
        f"Stage: {job.stage}",
        f"Done: {done:,} of {total:,} steps{share}",
        f"Quota used so far: {job.quota_used:,} units",
        f"This quota day ends {reset.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    ]
    held = _held_back(session, job.id)
    if held:
        lines.append(f"Old playlists kept (held back) so far: {len(held):,}")
    return record(
        session,
        job.id,
        Message(
            event=f"digest:{period.astimezone(UTC).isoformat(timespec='seconds')}",
            title=f"ytsync: job {job.id} on channel {channel}: {done:,} of {total:,} done{share}",
            body="\n".join(lines) + "\nWhere it stands now: ytsync status",
        ),
    )


def _auth(job: SyncJob, channel: str, count: int) -> Message:
    return Message(
        event=f"auth_required:{count}",
        title=f"ytsync: job {job.id} on channel {channel} needs you to sign in again",
        body=(
            f"Job {job.id} paused at {job.paused_at_stage}: "
            f"{job.pause_message or 'the sign-in no longer works'}.\n{SIGN_IN_AGAIN}"
        ),
    )


def _failed(job: SyncJob, channel: str) -> Message:
    return Message(
        event="failed",
        title=f"ytsync: job {job.id} on channel {channel} failed",
        body=f"{job.failure_message or 'no reason recorded'}\nSee: ytsync status",
    )


def _refused(job: SyncJob, channel: str, category_id: int, name: str, error: str | None) -> Message:
    return Message(
        event=f"refused:{category_id}",
        title=f"ytsync: YouTube refused the playlist of category {name!r} (job {job.id})",
        body=(
            f"Job {job.id} on channel {channel}: YouTube refused to make the playlist of "
            f"category {name!r}: {error or 'no reason given'}. The other categories go on, "
            "and the old playlists of its videos are kept. Fix the cause, then run "
            "ytsync start again."
        ),
    )


def _held_back(session: Session, job_id: int) -> list[tuple[str, int, int]]:
    """(title, videos not shown safe, videos saved to it since the import) per held-back
    playlist, in the order found."""
    new = func.sum(case((HeldBack.new_in_playlist, 1), else_=0))
    rows = session.execute(
        select(Playlist.title, func.count(), new, func.min(HeldBack.id))
        .join(Playlist, Playlist.id == HeldBack.playlist_id)
        .where(HeldBack.job_id == job_id)
        .group_by(Playlist.id, Playlist.title)
        .order_by(func.min(HeldBack.id))
    )
    return [
        (str(title), int(count) - int(saved or 0), int(saved or 0))
        for title, count, saved, _first in rows
    ]


def _held_message(job: SyncJob, channel: str, held: list[tuple[str, int, int]]) -> Message:
    lines = []
    for title, unsafe, saved in held:
        parts = [f"{_count(unsafe, 'video')} not shown safe"] if unsafe else []
        if saved:
            parts.append(f"{_count(saved, 'video')} saved to it since the import")
        lines.append(f"- {title!r}: {', '.join(parts)}")
    if len(lines) > LISTED:
        lines = [*lines[:LISTED], f"- and {len(lines) - LISTED} more"]
    way_out = "Once they are in place, run ytsync start again."
    if any(saved for _title, _unsafe, saved in held):
        way_out = (
            "Videos saved since the import are in no plan: run ytsync import, put them in "
            "a category (ytsync plan apply) or leave them out, then ytsync start again."
        )
    return Message(
        event="held_back",
        title=f"ytsync: job {job.id} kept {_count(len(held), 'old playlist')}",
        body=(
            f"Job {job.id} on channel {channel} did not delete "
            f"{_count(len(held), 'old playlist')}: YouTube, read back, did not show each "
            "of their videos in its category's playlist, or showed videos saved to them "
            "during the job.\n"
            + "\n".join(lines)
            + f"\nSee which videos and why: ytsync status. {way_out}"
        ),
    )


def _completed(session: Session, job: SyncJob, channel: str) -> Message:
    results = job.stage_results
    lines = []
    for stage, label in DONE.items():
        result = results.get(stage)
        if result is None:
            continue
        line = f"{label}: {int(result.get('succeeded', 0)):,}"
        extra = [
            f"{int(result[key]):,} {key.replace('_', ' ')}"
            for key in ("failed", "skipped", "held_back")
            if int(result.get(key, 0))
        ]
        lines.append(line + (f" ({', '.join(extra)})" if extra else ""))
    held = _held_back(session, job.id)
    if held:
        lines.append(f"Old playlists kept (held back): {len(held):,}")
    lines.append(f"Quota used: {job.quota_used:,} units")
    if job.completed_at is not None and job.created_at is not None:
        lines.append(f"Took: {_duration(job.completed_at - job.created_at)}")
    kind = "restore job" if job.kind == "restore" else "job"
    return Message(
        event="completed",
        title=f"ytsync: {kind} {job.id} on channel {channel} completed",
        body="\n".join(lines) + "\nEvery failed or skipped item and why: ytsync report",
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    days, rest = divmod(seconds // 60, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{_count(days, 'day')} {_count(hours, 'hour')}"
    if hours:
        return f"{_count(hours, 'hour')} {_count(minutes, 'minute')}"
    return _count(minutes, "minute")
