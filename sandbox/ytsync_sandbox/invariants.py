"""What must hold on YouTube (the emulator) after any sync, whatever went wrong on the way.

One set of checks for the tests, the demo and the benchmarks: ``library_problems`` (a
finished library against the plan: what differs, for the demo's report),
``assert_library_as_planned`` (the same, failing a test) and ``check_fault_run`` (every
invariant of a sync that ran through faults).

The quota check counts what the emulator charged, from the emulator's own cost table,
never from ``ytsync.quota``: the check must not share a mistake with the product.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.models import (
    Category,
    CategoryVideo,
    Playlist,
    PlaylistItem,
    SyncError,
    SyncJob,
    SyncOperation,
    Video,
)
from ytsync.sync.operations import OPEN
from ytsync_emulator.model import Video as EmulatorVideo
from ytsync_emulator.quota import COSTS
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox.sandbox import Installation


def expected_playlists(inst: Installation) -> dict[str, list[str]]:
    """Category name -> the available videos its playlist must hold, in plan order."""
    with inst.sessions() as session:
        rows = session.execute(
            select(Category.name, Video.youtube_id, Video.availability)
            .join(CategoryVideo, CategoryVideo.category_id == Category.id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .where(Category.is_protected.is_(False))
            .order_by(Category.name, CategoryVideo.position)
        ).all()
    expected: dict[str, list[str]] = defaultdict(list)
    for name, video_id, availability in rows:
        if availability == "available":
            expected[name].append(video_id)
    return dict(expected)


def system_list_sizes(state: EmulatorState) -> dict[str, int]:
    """Playlist id -> size of each system list (uploads, Liked, Watch later): taken before
    a job, for ``library_problems`` to find them unchanged after it."""
    with state.lock:
        return {p.id: len(p.items) for p in state.playlists.values() if p.special}


def library_problems(
    state: EmulatorState,
    sessions: sessionmaker[Session],
    system_lists: dict[str, int] | None = None,
) -> tuple[int, list[str]]:
    """Compare the emulator with the plan: (checks made, what differs).

    Every non-protected category has exactly one playlist holding exactly its available
    videos, each once; protected categories have none; no old playlist survives; the
    system lists (uploads, Liked, Watch later) are still there and, when ``system_lists``
    (``system_list_sizes`` before the job) is given, hold as many items as before.
    """
    with sessions() as session:
        categories = session.execute(select(Category.name, Category.is_protected)).all()
        rows = session.execute(
            select(Category.name, Video.youtube_id)
            .join(CategoryVideo, CategoryVideo.category_id == Category.id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .where(Category.is_protected.is_(False), Video.availability == "available")
        ).all()
        old = set(session.scalars(select(Playlist.youtube_id)))
    expected: dict[str, set[str]] = {name: set() for name, protected in categories if not protected}
    for name, video_id in rows:
        expected[name].add(video_id)
    by_title = state.playlists_by_title()
    problems: list[str] = []
    checked = 0
    for name, videos in sorted(expected.items()):
        checked += 1
        ids = by_title.get(name, [])
        if len(ids) != 1:
            problems.append(f"category {name!r} has {len(ids)} playlists instead of 1")
            continue
        items = state.playlist_items(ids[0])
        doubled = sorted(v for v, n in Counter(items).items() if n > 1)
        missing = sorted(videos - set(items))
        extra = sorted(set(items) - videos)
        for what, found in (("twice", doubled), ("missing", missing), ("unexpected", extra)):
            checked += 1
            if found:
                shown = ", ".join(found[:5]) + (" …" if len(found) > 5 else "")
                problems.append(f"{name!r}: {len(found)} video(s) {what}: {shown}")
    for name, protected in categories:
        if protected:
            checked += 1
            if name in by_title:
                problems.append(f"protected category {name!r} got a playlist")
    with state.lock:
        playlists = set(state.playlists)
    survivors = sorted(old & playlists)
    checked += 1
    if survivors:
        problems.append(f"{len(survivors)} old playlist(s) still on YouTube: {survivors[:5]}")
    for special in ("WL", "LL", state.uploads_id):
        checked += 1
        if special not in playlists:
            problems.append(f"system list {special} was deleted")
    now = system_list_sizes(state)
    for playlist_id, size in (system_lists or {}).items():
        checked += 1
        if now.get(playlist_id) != size:
            problems.append(f"system list {playlist_id} changed: {size} -> {now.get(playlist_id)}")
    return checked, problems


def assert_library_as_planned(
    inst: Installation, system_lists: dict[str, int] | None = None
) -> int:
    """Check every invariant of ``library_problems``; returns how many were checked."""
    checked, problems = library_problems(inst.state, inst.sessions, system_lists)
    assert not problems, "the library differs from the plan: " + "; ".join(problems)
    return checked


# ------------------------------------------------------------------ after a fault run


@dataclass(frozen=True)
class RunFacts:
    """What a fault run's checks need besides the emulator and the database."""

    job_id: int
    workflow_stage: str
    # Special lists (uploads, Liked, Watch later) as they were before the job.
    system_lists: dict[str, list[str]]
    # Units burnt from outside the job (another app on the same project), per period.
    burnt: dict[datetime, int]
    lanes: int


class Checks:
    """Counts every invariant it checks; the first one that fails raises."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, holds: bool, message: str) -> None:
        self.count += 1
        if not holds:
            raise AssertionError(message)


def unavailable_reason(video: EmulatorVideo | None, channel_id: str) -> tuple[str, ...] | None:
    """Words an error about this video must contain; None when it can be added to a
    playlist of ``channel_id``.

    YouTube's rule (and the emulator's, and the importer's): a deleted video never, a
    private one only by the channel that uploaded it.  The channel's own private uploads
    stay addable, and the job must add them like any other planned video.
    """
    if video is None or video.deleted:
        return ("deleted", "videoNotFound")
    if video.privacy == "private" and video.owner_channel_id != channel_id:
        return ("private", "failedPrecondition")
    return None


def check_fault_run(inst: Installation, facts: RunFacts) -> int:
    """Every invariant of a sync that ran through faults; returns how many were checked.

    YouTube's end state, judged against the plan and the emulator's request log, and the
    job's own record in the database.
    """
    check = Checks()
    state = inst.state
    log = state.requests()
    with inst.sessions() as session:
        job = session.get_one(SyncJob, facts.job_id)
        job_stage, failure = job.stage, job.failure_message
        open_ops = session.scalar(
            select(func.count())
            .select_from(SyncOperation)
            .where(SyncOperation.job_id == job.id, SyncOperation.status.in_(OPEN))
        )
        categories = {
            cid: (name, protected, playlist)
            for cid, name, protected, playlist in session.execute(
                select(
                    Category.id, Category.name, Category.is_protected, Category.youtube_playlist_id
                )
            )
        }
        planned: dict[int, list[str]] = defaultdict(list)
        imported: dict[str, str] = {}  # video -> availability at the import
        for cid, video_id, availability in session.execute(
            select(CategoryVideo.category_id, Video.youtube_id, Video.availability)
            .join(Video, Video.id == CategoryVideo.video_id)
            .order_by(CategoryVideo.category_id, CategoryVideo.position)
        ):
            planned[cid].append(video_id)
            imported[video_id] = availability
        old_ids = set(session.scalars(select(Playlist.youtube_id)))
        # What the import saw in each old playlist.
        imported_in: dict[str, set[str]] = defaultdict(set)
        for old_id, video_id in session.execute(
            select(Playlist.youtube_id, Video.youtube_id)
            .join(PlaylistItem, PlaylistItem.playlist_id == Playlist.id)
            .join(Video, Video.id == PlaylistItem.video_id)
        ):
            imported_in[old_id].add(video_id)
        errors = [
            (stage, entity, message)
            for stage, entity, message in session.execute(
                select(SyncError.stage, SyncError.entity_id, SyncError.message).where(
                    SyncError.job_id == job.id
                )
            )
        ]
    with state.lock:
        videos = {vid: state.videos.get(vid) for ids in planned.values() for vid in ids}
        channel_id = state.channel_id
        owners = set(state.user_items)
        # What each old playlist held when the job deleted it, owner's late saves included.
        deleted_old = {
            pid: [(vid, state.videos.get(vid)) for vid in record.video_ids]
            for pid, record in state.deleted_playlists.items()
            if pid in old_ids
        }
    # Unavailable when the import said so, or YouTube does now (made private meanwhile).
    reasons: dict[str, tuple[str, ...] | None] = {
        vid: (imported[vid],) if imported[vid] != "available" else None for vid in videos
    }
    for vid, video in videos.items():
        reasons[vid] = reasons[vid] or unavailable_reason(video, channel_id)

    # The job finished, by the workflow's word and by the database's.
    check(
        facts.workflow_stage == "completed",
        f"the workflow ended {facts.workflow_stage!r}, not completed",
    )
    check(job_stage == "completed", f"job is {job_stage!r} ({failure})")
    check(not open_ops, f"{open_ops} operations are still pending or in flight")

    by_title = state.playlists_by_title()
    created = Counter(r.resource_id for r in log if r.method == "playlists.insert" and r.applied)
    created_titles = Counter(
        state.playlists[pid].title for pid in created if pid in state.playlists
    )
    protected_ids = {cid for cid, (_name, protected, _pl) in categories.items() if protected}
    in_protected = {vid for cid in protected_ids for vid in planned[cid]}
    elsewhere = {vid for cid in categories if cid not in protected_ids for vid in planned[cid]}
    protected_only = in_protected - elsewhere
    for cid, (name, protected, playlist_id) in categories.items():
        if protected:
            # Protected: no playlist, no item written for it, nothing in the database.
            check(name not in by_title, f"protected category {name!r} got a playlist")
            check(playlist_id is None, f"protected category {name!r} has playlist {playlist_id}")
            continue
        ids = by_title.get(name, [])
        check(len(ids) == 1, f"category {name!r} has {len(ids)} playlists: {ids}")
        check(
            created_titles[name] <= 1,
            f"category {name!r}: {created_titles[name]} playlists were created",
        )
        check(ids == [playlist_id], f"category {name!r}: database says {playlist_id}, not {ids}")
        with state.lock:
            held = [(item.id, item.video_id) for item in state.playlists[ids[0]].items]
        # Items the owner put there are theirs: never ytsync's duplicates or extras.
        items = [video for item_id, video in held if item_id not in owners]
        duplicates = sorted(v for v, n in Counter(items).items() if n > 1)
        check(not duplicates, f"{name!r} holds duplicates {duplicates[:5]}")
        wanted = [vid for vid in planned[cid] if reasons[vid] is None]
        missing = sorted(set(wanted) - {video for _item, video in held})
        check(not missing, f"{name!r} misses {len(missing)} planned videos: {missing[:5]}")
        extra = sorted(set(items) - set(wanted))
        check(not extra, f"{name!r} holds {len(extra)} videos not planned: {extra[:5]}")

    # Every planned video that cannot be added is reported once per category, with why.
    add_errors: dict[str, list[str]] = defaultdict(list)
    for stage, entity, message in errors:
        if stage == "add_videos":
            add_errors[entity].append(message)
    for cid, (name, protected, _pl) in categories.items():
        if protected:
            continue
        for vid in planned[cid]:
            words = reasons[vid]
            if words is None:
                continue
            found = add_errors.get(vid, [])
            check(bool(found), f"unavailable video {vid} of {name!r} is not reported")
            check(
                all(any(w in m for w in words) for m in found),
                f"video {vid}: the report {found} does not say {' or '.join(words)}",
            )
    reported_twice = {
        vid: n
        for vid, n in Counter(e for s, e, _m in errors if s == "add_videos").items()
        if n > sum(vid in planned[cid] for cid in categories if cid not in protected_ids)
    }
    check(not reported_twice, f"videos reported more than once: {reported_twice}")

    # Writes: never into a system list or for a protected-only video, never a position.
    inserts = [r for r in log if r.method == "playlistItems.insert"]
    check(
        not [r for r in inserts if r.video_id in protected_only],
        "videos of protected categories only were written",
    )
    check(not [r for r in inserts if r.sent_position], "an insert sent snippet.position")
    for special, before in facts.system_lists.items():
        check(special in state.playlists, f"system list {special} is gone")
        check(
            state.playlist_items(special) == before,
            f"system list {special} changed",
        )

    # No available video that was in an old playlist when the job deleted it ends in no
    # playlist (by the emulator's record of the moment, so videos the owner saved there
    # during the job count), unless the plan left it out: the import saw it there and
    # no category of the plan that gets a playlist has it.
    with state.lock:
        anywhere = {
            item.video_id
            for playlist in state.playlists.values()
            if not playlist.special
            for item in playlist.items
        }
    lost = sorted(
        {
            vid
            for pid, held in deleted_old.items()
            for vid, video in held
            if unavailable_reason(video, channel_id) is None
            and reasons.get(vid) is None
            and vid not in anywhere
            and not (vid in imported_in[pid] and vid not in elsewhere)
        }
    )
    check(not lost, f"{len(lost)} videos ended in no playlist: {lost[:5]}")
    # What the owner saved or added by hand during the job is never removed by ytsync,
    # neither by an item delete nor with its playlist.
    taken = state.user_items_removed()
    check(not taken, f"{len(taken)} of the owner's own items were removed: {taken[:5]}")

    # Old playlists: all gone but those the owner saved videos to during the job (held
    # back, each named), and none deleted before every addition was settled.
    with state.lock:
        survivors = sorted(old_ids & set(state.playlists))
        saved_to = {
            pid for pid in survivors if any(i.id in owners for i in state.playlists[pid].items)
        }
    unexplained = [pid for pid in survivors if pid not in saved_to]
    check(not unexplained, f"old playlists still on YouTube: {unexplained[:5]}")
    named = {entity for stage, entity, _message in errors if stage == "delete_playlists"}
    unnamed = sorted(saved_to - named)
    check(not unnamed, f"old playlists held back for the owner's saves, unnamed: {unnamed[:5]}")
    # A refused request logs only its parameters: a delete names its playlist in "id".
    deleted = [
        (r, str(r.playlist_id or r.resource_id)) for r in log if r.method == "playlists.delete"
    ]
    # The job may delete a second playlist it made itself for one category (its check
    # after a lost answer), never one it neither imported nor made.
    strangers = sorted({pid for _r, pid in deleted} - old_ids - set(created))
    check(not strangers, f"playlists the job did not import were deleted: {strangers[:5]}")
    deletes = [r for r, pid in deleted if pid in old_ids]
    if deletes and inserts:
        last_add, first_delete = max(r.seq for r in inserts), min(r.seq for r in deletes)
        check(
            last_add < first_delete,
            f"an old playlist was deleted (request {first_delete}) before the last "
            f"addition (request {last_add})",
        )

    # Quota: no period where the job spent more than the usable budget.  The worker
    # charges its ledger just before each call, so one call per lane charged in the
    # last moment of a period may reach YouTube in the next: only that much at a
    # period's very start is let through.  Refused requests cost nothing.
    settings = inst.settings
    clock = settings.quota_clock
    # From the two settings, not the product's own sum: the check must not share a bug.
    usable = settings.daily_quota - settings.quota_reserve
    spent: Counter[datetime] = Counter()
    early: Counter[datetime] = Counter()
    for r in log:
        period = clock.period_start(r.time)
        spent[period] += r.units
        if (r.time - period).total_seconds() < 2.0:
            early[period] += r.units
    slack = facts.lanes * (COSTS["playlistItems.insert"] + COSTS["playlistItems.list"])
    for period, units in sorted(spent.items()):
        allowed = usable + min(early[period], slack)
        check(
            units <= allowed,
            f"the period from {period:%H:%M:%S} spent {units} units (plus "
            f"{facts.burnt.get(period, 0)} burnt from outside); usable "
            f"{usable}",
        )
    return check.count
