"""Settle, then judge: the settled checks that decide what ytsync's writes did.

YouTube's lists show a write late, by an amount nobody promises, and the owner keeps
using the channel while a job runs.  So a check works from what ytsync knows for sure,
and never takes a listing's silence for proof too early:

* A write YouTube answered carries the id of what it made: that id, not a count of
  attempts, makes an item ytsync's.  It is never sent again because a listing lacks it;
  a look-up by id (50 ids a call, 1 unit) confirms it.
* A write whose answer was lost (a 5xx, a 409 or a cut connection after sending, a crash
  mid-write) stays ``in_flight``.  Once settled, the listing judges it: found, it is
  done; missing, it is sent again only once the listing has caught up past it (a write
  of ytsync's sent later shows in it, or it is older than twice the longest lag seen);
  until then it waits for the next round.
* A copy is ytsync's when its id came back from an insert, or when YouTube says it was
  added while a send of ytsync's whose answer never came was on its way (a playlist:
  when it carries the job's marker).  Only such copies beyond the one kept are deleted.
  Everything else in a playlist is the owner's: never removed, never a duplicate.
* A check is one commit: its verdicts, the rows it sends again, the copies it will
  delete (rows like any write, sent by the next batch), the lane's state and the settle
  delay in use are written together, so a retried check sees all the failed one decided.
* A lane is clean when every write of ytsync's in it is seen and none is open;
  otherwise it is due again after another settle, longer each round it had to wait.  A
  check that saw ytsync's writes missing from a listing makes the job's settle twice
  that lag (at most an hour): a lag longer than the settle costs reads, not duplicates.

The lanes: each category playlist (``add_video`` rows), and the channel's playlists for
the creations (``create_playlist`` rows, found through the marker in their description);
a restore's the same way: each restored or kept playlist (``restore_item`` rows), and
the channel's playlists for its recreations (``restore_playlist`` rows).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import (
    Category,
    JobKeptPlaylist,
    LaneCheck,
    PlaylistItem,
    SyncJob,
    SyncOperation,
    Video,
)
from ytsync.sync import operations as ops
from ytsync.sync.budget import Budget
from ytsync.sync.lease import Lease
from ytsync.sync.reads import Gone, PagedReader
from ytsync.sync.undo import restore_targets, text_row
from ytsync.youtube.client import YouTube

# The whole channel: the lane of the creation check.
CHANNEL = 0
MARKER = re.compile(r"ytsync:job=(\d+):category=(\d+)")
# A restore's recreated playlist (ytsync.sync.writer.restore_marker).
RESTORE_MARKER = re.compile(r"ytsync:restore=(\d+):playlist=(\d+)")
# The settle never grows beyond this, nor does a lane's wait between rounds.
MAX_SETTLE = timedelta(hours=1)
# YouTube's "added" moment of a copy against the job's clock, when no answered write of
# the lane shows the two clocks' offset.
UNKNOWN_OFFSET = timedelta(minutes=1)
# Rounding between YouTube's whole-second moments and the job's clock.
SLACK = timedelta(seconds=2)


@dataclass(frozen=True)
class Check:
    """A kind of write a settled check judges, and how its lanes are laid out."""

    kind: str
    # The check's deletions of ytsync's extra copies.
    repair: str
    # What each write is for (a category, an old playlist): its lane when ``by_lane``.
    ref: InstrumentedAttribute[int | None]
    # One lane per target playlist (items); else one lane, the channel (playlists).
    by_lane: bool
    # A created playlist's marker, naming the job and what the playlist is for.
    marker: re.Pattern[str] = MARKER

    @property
    def kinds(self) -> tuple[str, str]:
        return (self.kind, self.repair)


CHECKS = {
    check.kind: check
    for check in (
        Check(ops.ADD, ops.DEDUPE, SyncOperation.category_id, True),
        Check(ops.CREATE, ops.DROP, SyncOperation.category_id, False),
        Check(ops.RESTORE_ITEM, ops.RESTORE_DEDUPE, SyncOperation.playlist_id, True),
        Check(ops.RESTORE, ops.RESTORE_DROP, SyncOperation.playlist_id, False, RESTORE_MARKER),
    )
}


@dataclass(frozen=True)
class Copy:
    """What a listing shows: an item (or, for the creation check, a playlist)."""

    id: str
    # The video it holds (a playlist: the category its marker names).
    key: str
    # When YouTube says it was added, on YouTube's clock (None: not said).
    added: datetime | None = None
    # A playlist's item count (0 for items).
    items: int = 0


@dataclass(frozen=True)
class Write:
    """One of ytsync's writes into a lane, as the database knows it."""

    op_id: int
    status: str  # completed | in_flight
    key: str
    # The id YouTube's answer carried, or the copy a check found; None: the key is
    # there in a copy not known to be ytsync's (or, from before, "already there").
    item_id: str | None
    # When the last send ended, on the job's clock.
    sent_at: datetime | None
    confirmed: bool
    # Sends whose answer never came (the last one too while in_flight): a copy added
    # while one of them was on its way may be ytsync's.
    unanswered: tuple[datetime, ...]
    # The row's video (items) or category (playlists), for the rows a check makes.
    ref: int | None = None


@dataclass
class Verdicts:
    confirmed: list[int] = field(default_factory=list)
    # Writes whose answer was lost, found: (op id, the copy taken for it).
    found: list[tuple[int, str | None]] = field(default_factory=list)
    resend: list[int] = field(default_factory=list)
    # Answered writes whose copy is no longer on YouTube once the listing caught up:
    # someone removed it (the owner, on youtube.com).  Never sent again.
    gone: list[int] = field(default_factory=list)
    # Copies of ytsync's beyond the one kept: (op id, copy id).
    extra: list[tuple[int, str]] = field(default_factory=list)
    # Writes the listing does not show yet and that cannot be judged yet.
    waiting: int = 0
    # The oldest write of ytsync's the listing did not show yet (seconds): its lag.
    late_by: float = 0.0

    @property
    def settled(self) -> bool:
        return not (self.resend or self.extra or self.waiting)


@dataclass(frozen=True)
class Evidence:
    """How far a listing has caught up, from ytsync's own answered writes in it."""

    now: datetime
    # The latest end of an answered send the listing shows.
    shown_up_to: datetime | None
    # How old a write must be before its absence from the listing is believed.
    wait_for: timedelta

    def caught_up(self, moment: datetime) -> bool:
        """Would the listing show what was applied by ``moment``?"""
        if self.shown_up_to is not None and self.shown_up_to > moment:
            return True
        return self.now - moment >= self.wait_for


def judge(
    writes: Sequence[Write],
    listed: Sequence[Copy],
    by_id: set[str],
    now: datetime,
    settle: timedelta,
    ours: Callable[[Write, Copy], bool],
    *,
    counted: bool = True,
) -> Verdicts:
    """The verdicts of one settled check of a lane.

    ``listed`` is the lane's listing; ``by_id`` the ids a look-up by id found among the
    answered writes the listing lacked; ``ours`` says whether a copy is one that an
    unanswered send of the write made.  ``counted``: a write makes at most one copy per
    unanswered send (items); a marked playlist is ytsync's whatever the count."""
    listed_ids = {copy.id for copy in listed}
    claimed = {w.item_id for w in writes if w.item_id}
    copies: dict[str, list[Copy]] = defaultdict(list)
    for copy in listed:
        copies[copy.key].append(copy)
    verdicts = Verdicts()
    answered = [
        (w.item_id, w.sent_at, w.confirmed)
        for w in writes
        if w.status == "completed" and w.item_id is not None and w.sent_at is not None
    ]
    shown_up_to = max((at for item, at, _ in answered if item in listed_ids), default=None)
    for item, at, confirmed in answered:
        if confirmed:
            continue  # seen before: its absence now says nothing of the lag
        # Missing from the listing, and nothing sent later shows in it: the listing
        # lags at least that much.  (Something sent later shows: it is gone, below.)
        if item not in listed_ids and (shown_up_to is None or shown_up_to <= at):
            verdicts.late_by = max(verdicts.late_by, (now - at).total_seconds())
    evidence = Evidence(now, shown_up_to, max(settle, timedelta(seconds=2 * verdicts.late_by)))
    for w in writes:
        there = copies.get(w.key, [])
        mine = [c for c in there if c.id not in claimed and ours(w, c)]
        limit = len(w.unanswered) if counted else len(mine)
        if w.status == "in_flight":
            if mine:
                verdicts.found.append((w.op_id, mine[0].id))
                verdicts.extra += [(w.op_id, c.id) for c in mine[1:limit]]
            elif there:
                verdicts.found.append((w.op_id, None))
            elif w.sent_at is not None and evidence.caught_up(w.sent_at):
                verdicts.resend.append(w.op_id)
            else:
                verdicts.waiting += 1
            continue
        if w.item_id is not None and w.item_id not in listed_ids | by_id:
            # Not seen (and no copy judged beside it).  Seen by an earlier check, or
            # judged gone: whatever happened to it since is the owner's doing.
            if not w.confirmed:
                assert w.sent_at is not None
                shown_later = evidence.shown_up_to is not None and evidence.shown_up_to > w.sent_at
                if shown_later or now - w.sent_at >= MAX_SETTLE:
                    verdicts.gone.append(w.op_id)
                else:
                    verdicts.waiting += 1
            continue
        if not w.confirmed:
            verdicts.confirmed.append(w.op_id)
        if w.item_id is None and len(mine) == len(there):
            # No copy but ytsync's left: one of them stays.
            mine, limit = mine[1:], limit - 1
        verdicts.extra += [(w.op_id, c.id) for c in mine[: max(0, limit)]]
    return verdicts


def sent_while(
    sends: Iterable[tuple[datetime, datetime]], window: timedelta
) -> Callable[[Write, Copy], bool]:
    """``ours`` for item lanes: a copy is a write's when YouTube added it while one of
    the write's unanswered sends was on its way (at most ``window`` before the send
    ended), its clock's offset from the job's taken from the lane's answered writes
    (``sends``: (when the send ended, when YouTube says it added the copy))."""
    found = [added - ended for ended, added in sends]
    low = min(found, default=-UNKNOWN_OFFSET)
    high = max(found, default=UNKNOWN_OFFSET)

    def ours(write: Write, copy: Copy) -> bool:
        if copy.added is None:
            return False
        return any(
            ended - window + low - SLACK <= copy.added <= ended + high + SLACK
            for ended in write.unanswered
        )

    return ours


def due_checks(
    session: Session, job_id: int, kind: str, settle: timedelta
) -> tuple[list[int], datetime | None]:
    """Make sure each lane the job sent a write of ``kind`` to has its check row; the
    lanes whose check is due first, and when they will have settled.

    The lanes: for additions, each category playlist (a restore's: each restored or
    kept playlist); for creations, the channel.  A lane is due a settle after its last
    send, and after its last check (longer each round that check had to wait); lanes due
    at about the same time go together."""
    settle = settle_in_use(session, job_id, settle)
    spec = CHECKS[kind]
    sent_rows: list[ColumnElement[bool]] = [
        SyncOperation.job_id == job_id,
        SyncOperation.kind.in_(spec.kinds),
        SyncOperation.sent_at.is_not(None),
        spec.ref.is_not(None),
    ]
    last_sent = func.max(SyncOperation.sent_at)
    sent: dict[int, datetime]
    if spec.by_lane:
        query = select(spec.ref, last_sent).where(*sent_rows)
        sent = {
            int(lane or 0): at
            for lane, at in session.execute(query.group_by(spec.ref))
            if at is not None
        }
    else:
        at = session.scalar(select(last_sent).where(*sent_rows))
        sent = {} if at is None else {CHANNEL: at}
    have = {
        check.lane: check
        for check in session.scalars(
            select(LaneCheck).where(LaneCheck.job_id == job_id, LaneCheck.kind == kind)
        )
    }
    for lane in sent:
        if lane not in have:
            have[lane] = LaneCheck(
                job_id=job_id,
                kind=kind,
                lane=lane,
                status="due",
                rounds=0,
                reads=0,
                found=0,
                resent=0,
                duplicates_removed=0,
                late=0,
            )
            session.add(have[lane])
    session.flush()
    due: dict[int, datetime | None] = {}
    for lane, check in have.items():
        if check.status != "due":
            continue
        moments = []
        if lane in sent:
            moments.append(sent[lane] + settle)
        if check.checked_at is not None:
            moments.append(check.checked_at + min(MAX_SETTLE, settle * 2 ** (check.late or 0)))
        due[lane] = max(moments) if moments else None
    if not due:
        return [], None
    known = [moment for moment in due.values() if moment is not None]
    if not known:
        return sorted(due), None
    first = min(known)
    lanes = sorted(lane for lane, at in due.items() if at is None or at <= first + settle)
    return lanes, max(at for lane, at in due.items() if lane in lanes and at is not None)


def settle_in_use(session: Session, job_id: int, setting: timedelta) -> timedelta:
    """The job's settle: the setting, or longer once a check found lists later."""
    adapted = session.scalar(select(SyncJob.settle_seconds).where(SyncJob.id == job_id))
    return max(setting, timedelta(seconds=adapted or 0))


class Auditor:
    """One settled check of a lane: reads it, judges, and records it all in one commit."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        lease: Lease,
        job_id: int,
        clock: Callable[[], datetime],
        settle: timedelta,
        send_window: timedelta,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._yt = youtube
        self._lease = lease
        self._job_id = job_id
        self._clock = clock
        # The setting; the job's own may be longer (settle_in_use).
        self._settle = settle
        # How long a send may be on its way: a copy added that long before a send
        # whose answer was lost ended may still be that send's.
        self._window = send_window
        self._reader = PagedReader(youtube, budget, heartbeat)

    # a target playlist ----------------------------------------------------------------

    def audit_lane(self, lane: int, kind: str = ops.ADD) -> Verdicts:
        """The check of one playlist the job appends to: a category's (``add_video``),
        or an old playlist a restore puts back (``restore_item``)."""
        spec = CHECKS[kind]
        with self._sessions() as session:
            playlist_id = self._target(session, kind, lane)
            writes = [
                Write(
                    op_id,
                    status,
                    video,
                    item_id,
                    sent_at,
                    confirmed is not None,
                    _unanswered(status, sent_at, lost),
                    video_pk,
                )
                for op_id, status, item_id, sent_at, confirmed, lost, video, video_pk in (
                    session.execute(
                        select(
                            SyncOperation.id,
                            SyncOperation.status,
                            SyncOperation.youtube_id,
                            SyncOperation.sent_at,
                            SyncOperation.confirmed_at,
                            SyncOperation.lost_sends,
                            Video.youtube_id,
                            Video.id,
                        )
                        .join(Video, Video.id == SyncOperation.video_id)
                        .where(
                            SyncOperation.job_id == self._job_id,
                            SyncOperation.kind == kind,
                            spec.ref == lane,
                            SyncOperation.status.in_(("completed", "in_flight")),
                        )
                    )
                )
            ]
            settle = settle_in_use(session, self._job_id, self._settle)
            older = self._there_before(session, kind, lane)
        if playlist_id is None:
            return self._record(kind, lane, Verdicts(), writes)
        try:
            items = self._reader.playlist_items(playlist_id)
        except Gone as gone:
            self._lost_playlist(kind, lane, playlist_id, str(gone))
            return self._record(kind, lane, Verdicts(), [])
        listed = [
            Copy(str(i["id"]), str(i["contentDetails"]["videoId"]), _moment(i))
            for i in items
            if str(i["id"]) not in older
        ]
        shown = {copy.id: copy for copy in listed}
        missing = [
            w.item_id
            for w in writes
            if w.status == "completed" and w.item_id and w.item_id not in shown
        ]
        by_id = {str(i["id"]) for i in self._reader.by_ids(missing, self._yt.playlist_items_by_id)}
        answered = [
            (w.sent_at, added)
            for w in writes
            if w.item_id in shown
            and w.sent_at is not None
            and not w.unanswered
            and (added := shown[w.item_id].added) is not None
        ]
        ours = sent_while(answered, self._window)
        verdicts = judge(writes, listed, by_id, self._clock(), settle, ours)
        return self._record(kind, lane, verdicts, writes)

    def _target(self, session: Session, kind: str, lane: int) -> str | None:
        if kind == ops.ADD:
            return session.scalar(select(Category.youtube_playlist_id).where(Category.id == lane))
        return restore_targets(session, self._job_id, [lane]).get(lane)

    def _there_before(self, session: Session, kind: str, lane: int) -> set[str]:
        """Items a restore finds in a kept playlist that were there before it began (the
        old ones, and those the sync appended): never one of its own appends, whatever
        video they hold."""
        if kind != ops.RESTORE_ITEM:
            return set()
        keepers = select(JobKeptPlaylist.category_id).where(JobKeptPlaylist.playlist_id == lane)
        old = select(PlaylistItem.youtube_item_id).where(PlaylistItem.playlist_id == lane)
        appended = select(SyncOperation.youtube_id).where(
            SyncOperation.kind == ops.ADD,
            SyncOperation.category_id.in_(keepers),
            SyncOperation.youtube_id.is_not(None),
        )
        return {str(i) for i in session.scalars(old)} | {str(i) for i in session.scalars(appended)}

    def _lost_playlist(self, kind: str, lane: int, playlist_id: str, why: str) -> None:
        """The target playlist is gone: what waited on it cannot be judged or sent."""
        spec = CHECKS[kind]
        message = f"the playlist {playlist_id} is gone from YouTube ({why})"
        with transaction(self._sessions) as session:
            for op in session.scalars(
                select(SyncOperation).where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind.in_(spec.kinds),
                    spec.ref == lane,
                    SyncOperation.status.in_(ops.OPEN),
                )
            ):
                op.status, op.error = "failed", message
            stage = ops.STAGE_OF_KIND[kind]
            ops.record_error(session, self._job_id, stage, "playlist", playlist_id, message)

    # the channel's playlists ---------------------------------------------------------

    def check_creations(self, kind: str = ops.CREATE) -> Verdicts:
        """The check of the playlists the job made: a sync's category playlists
        (``create_playlist``), or a restore's recreated ones (``restore_playlist``)."""
        spec = CHECKS[kind]
        with self._sessions() as session:
            writes = [
                Write(
                    op_id,
                    status,
                    str(ref or 0),
                    item_id,
                    sent_at,
                    confirmed is not None,
                    _unanswered(status, sent_at, lost),
                    ref,
                )
                for op_id, status, ref, item_id, sent_at, confirmed, lost in (
                    session.execute(
                        select(
                            SyncOperation.id,
                            SyncOperation.status,
                            spec.ref,
                            SyncOperation.youtube_id,
                            SyncOperation.sent_at,
                            SyncOperation.confirmed_at,
                            SyncOperation.lost_sends,
                        ).where(
                            SyncOperation.job_id == self._job_id,
                            SyncOperation.kind == kind,
                            SyncOperation.status.in_(("completed", "in_flight")),
                        )
                    )
                )
            ]
            settle = settle_in_use(session, self._job_id, self._settle)
        listed = []
        for playlist in self._reader.all_pages(self._yt.my_playlists):
            match = spec.marker.search(playlist.get("snippet", {}).get("description", ""))
            if match and int(match.group(1)) == self._job_id:
                listed.append(
                    Copy(
                        str(playlist["id"]),
                        match.group(2),
                        _moment(playlist),
                        int(playlist.get("contentDetails", {}).get("itemCount", 0)),
                    )
                )
        shown = {copy.id for copy in listed}
        missing = [w.item_id for w in writes if w.item_id and w.item_id not in shown]
        by_id = {str(p["id"]) for p in self._reader.by_ids(missing, self._yt.playlists_by_id)}
        verdicts = judge(
            writes, listed, by_id, self._clock(), settle, lambda _w, _c: True, counted=False
        )
        return self._record(kind, CHANNEL, verdicts, writes)

    # plumbing ------------------------------------------------------------------------

    def _record(self, kind: str, lane: int, verdicts: Verdicts, writes: list[Write]) -> Verdicts:
        """The check in one commit: verdicts, repairs to send, the lane, the settle."""
        now = self._clock()
        spec = CHECKS[kind]
        by_op = {w.op_id: w for w in writes}
        with transaction(self._sessions) as session:
            # LeaseLost rolls the check back: a newer attempt judges the lane now.
            self._lease.renew_in(session)
            for w in writes:
                if w.status == "in_flight" and w.sent_at is None:
                    # Left by a release that stamped no send time: sent by now at least.
                    session.get_one(SyncOperation, w.op_id).sent_at = now
            for op_id in verdicts.confirmed:
                session.get_one(SyncOperation, op_id).confirmed_at = now
            for op_id, copy in verdicts.found:
                op = session.get_one(SyncOperation, op_id)
                op.status, op.youtube_id, op.confirmed_at = "completed", copy, now
                op.lost_sends = _remember(op)
                if copy is not None:
                    # In the same commit as the row: what the playlist was made for
                    # never loses it.
                    self._made(session, op, copy)
            for op_id in verdicts.resend:
                op = session.get_one(SyncOperation, op_id)
                op.status, op.lost_sends = "pending", _remember(op)
            for op_id in verdicts.gone:
                op = session.get_one(SyncOperation, op_id)
                op.confirmed_at = now
                op.error = "removed from the playlist on YouTube after ytsync added it"
                video = session.get(Video, op.video_id) if op.video_id is not None else None
                ops.record_error(
                    session,
                    self._job_id,
                    ops.STAGE_OF_KIND[kind],
                    "video" if video else "playlist",
                    video.youtube_id if video else str(op.youtube_id),
                    f"{op.error}; not added again",
                )
            rows = []
            for op_id, copy in verdicts.extra:
                ref = by_op[op_id].ref
                row: dict[str, Any] = {"op_key": f"copy:{copy}", "youtube_id": copy}
                if spec.by_lane:
                    row.update({spec.ref.key: lane, "video_id": ref})
                else:
                    row.update({spec.ref.key: ref})
                rows.append(row)
            ops.insert_missing(session, self._job_id, spec.repair, rows)
            session.flush()
            open_rows = sum(
                ops.count_open(session, self._job_id, k, lane or None) for k in spec.kinds
            )
            check = session.scalars(
                select(LaneCheck).where(
                    LaneCheck.job_id == self._job_id, LaneCheck.kind == kind, LaneCheck.lane == lane
                )
            ).one()
            check.rounds += 1
            check.reads += self._reader.units
            check.found += len(verdicts.found)
            check.resent += len(verdicts.resend)
            check.late = check.late + 1 if verdicts.waiting else 0
            check.status = "clean" if verdicts.settled and not open_rows else "due"
            check.checked_at = now
            if verdicts.late_by:
                job = session.get_one(SyncJob, self._job_id)
                longer = timedelta(seconds=2 * verdicts.late_by)
                job.settle_seconds = min(
                    MAX_SETTLE, max(settle_in_use(session, self._job_id, self._settle), longer)
                ).total_seconds()
        return verdicts

    def _made(self, session: Session, op: SyncOperation, playlist_id: str) -> None:
        """A creation found: its category takes the playlist, or (a restore's) the
        playlist's description goes back without the marker."""
        if op.kind == ops.CREATE and op.category_id is not None:
            session.get_one(Category, op.category_id).youtube_playlist_id = playlist_id
        elif op.kind == ops.RESTORE and op.playlist_id is not None:
            ops.insert_missing(
                session, self._job_id, ops.RESTORE_UPDATE, [text_row(op.playlist_id, playlist_id)]
            )


def _unanswered(
    status: str, sent_at: datetime | None, lost: list[str] | None
) -> tuple[datetime, ...]:
    earlier = tuple(datetime.fromisoformat(moment) for moment in lost or [])
    return earlier + ((sent_at,) if status == "in_flight" and sent_at is not None else ())


def _remember(op: SyncOperation) -> list[str] | None:
    """The row's last send, whose answer never came, joins its unanswered sends."""
    if op.sent_at is None:
        return op.lost_sends
    return [*(op.lost_sends or []), op.sent_at.isoformat()]


def _moment(resource: dict[str, Any]) -> datetime | None:
    """When YouTube says a playlist or item was made (``snippet.publishedAt``)."""
    text = resource.get("snippet", {}).get("publishedAt")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
