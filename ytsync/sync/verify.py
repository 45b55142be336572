"""Verify before delete: an old playlist goes only when YouTube, read back, shows each of
its videos safe, and holds nothing the import did not see.

The owner keeps using YouTube while a job runs, so each old playlist is first read
from YouTube itself (1 unit per 50 items).  A video saved to it since the import (more
copies of a video than the import saw count too) holds it back: no plan has it, and
deleting the playlist would drop it from the library; the job names it, and importing
again then lets the owner plan it or leave it out.  A video the owner removed from it
since is simply not there any more: it holds nothing back.  The job's backup is set to
what the read showed, so it holds exactly what the job deletes.

A video of an old playlist is safe when it sits in the playlist of every
non-protected category it was planned into, when it was planned into none (the
user's choice: the backup keeps it), or when YouTube says it is unavailable (private
to someone else, or deleted).  The database alone is not enough: it records what
ytsync believes it wrote, not what YouTube kept.  An old playlist with a video not
safe is kept, and the job names it with the videos that held it back; a later
``start`` checks again and finishes.

Under the reuse strategy the same rule guards the items of a kept playlist: an item
that does not belong there (its video planned into other categories, into none, or a
second copy) is removed only when its video is safe by the same test (for a second
copy: another copy of it stays in the playlist), or is held back and reported.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.backup import bring_up_to_date
from ytsync.db.engine import transaction
from ytsync.db.models import (
    BackupSnapshot,
    Category,
    CategoryVideo,
    HeldBack,
    JobKeptPlaylist,
    Playlist,
    PlaylistItem,
    SyncJob,
    SyncOperation,
    Video,
    utcnow,
)
from ytsync.sync import operations as ops
from ytsync.sync.budget import Budget
from ytsync.sync.reads import Gone, PagedReader
from ytsync.youtube.client import YouTube

# Videos named in a held-back playlist's error message; the rest are counted.
NAMED_IN_MESSAGE = 10
# What a playlist listing shows in place of a title the channel may not see.
HIDDEN_TITLES = ("Deleted video", "Private video")
NEW_REASON = "saved to the playlist since the import: no plan has it"
# An old playlist read longer ago than this is read again before it is deleted (when the
# delete stage starts over: after a quota reset among the deletions, say): the owner may
# have saved a video to it since.
RECHECK_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Missing:
    video_pk: int
    video: str
    category: str
    reason: str


@dataclass(frozen=True)
class NewVideo:
    """A video an old playlist holds now that the import did not see there."""

    video: str
    title: str


# An old playlist as YouTube shows it now: (video id, title) in order.
Shown = list[tuple[str, str]]


@dataclass(frozen=True)
class Removal:
    """An item of a kept playlist that does not belong there."""

    item_pk: int
    item_id: str  # its YouTube id: what playlistItems.delete takes
    position: int
    playlist_pk: int
    category_id: int  # the category that keeps the playlist
    video_pk: int
    video: str
    # A second copy of a video the playlist keeps (else: planned elsewhere, or nowhere).
    copy: bool
    # The categories whose playlists must show the video first; empty: safe as it is.
    needs: tuple[int, ...]


# Listing of a category playlist: (item id, video id) pairs, its name, why a video
# would be missing from it.
Listing = tuple[list[tuple[str, str]], str, str]


class Verifier:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        job_id: int,
        heartbeat: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._yt = youtube
        self._job_id = job_id
        # The job's clock: when each old playlist was read, and when that is stale.
        self._clock = clock
        self._reader = PagedReader(youtube, budget, heartbeat)
        # Each category playlist is read once per verification, whatever asks for it.
        self._listings: dict[int, Listing] = {}

    @property
    def units(self) -> int:
        return self._reader.units

    def plan_deletions(self) -> tuple[int, int]:
        """Write the job's delete rows: pending for the verified old playlists,
        ``held_back`` for the others.  Returns (to delete, held back)."""
        with self._sessions() as session:
            verified = ops.ops_exist(session, self._job_id, ops.DELETE)
        if verified:
            return self._recheck()  # by an earlier attempt
        with self._sessions() as session:
            candidates = ops.deletion_candidates(session)
            imported = self._imported(session, [pid for pid, _yt in candidates])
            wanted = self._planned(session, [pid for pid, _yt in candidates])
        # What each old playlist holds now (None: gone from YouTube, nothing to lose).
        shown = {pk: self._shown(youtube_id) for pk, youtube_id in candidates}
        new: dict[int, list[NewVideo]] = {}
        for playlist_pk, now in shown.items():
            if now is not None:
                new[playlist_pk] = _new_videos(imported.get(playlist_pk, Counter()), now)
                # A video removed from it since the import is not lost by deleting it.
                still = {video for video, _title in now}
                wanted[playlist_pk] = [n for n in wanted.get(playlist_pk, []) if n[1] in still]
            else:
                wanted.pop(playlist_pk, None)
        categories = {category for needs in wanted.values() for _v, _y, category in needs}
        listed = {category: self._videos_in(category) for category in sorted(categories)}
        missing_by_playlist: dict[int, list[Missing]] = {}
        for playlist_pk, needs in wanted.items():
            missing = []
            for video_pk, video, category in needs:
                present, title, why = listed[category]
                if video not in present:
                    missing.append(Missing(video_pk, video, title, why))
            missing_by_playlist[playlist_pk] = missing
        gone = self._reader.unavailable(
            {m.video for ms in missing_by_playlist.values() for m in ms}
        )
        with transaction(self._sessions) as session:
            self._update_backup(session, candidates, shown)
            new_pks = _video_pks(session, {n.video: n.title for ns in new.values() for n in ns})
            rows = []
            for playlist_pk, youtube_id in candidates:
                held = [m for m in missing_by_playlist.get(playlist_pk, []) if m.video not in gone]
                fresh = new.get(playlist_pk, [])
                row = {"op_key": f"delete:{playlist_pk}", "playlist_id": playlist_pk}
                if held or fresh:
                    message = self._hold(session, playlist_pk, youtube_id, held, fresh, new_pks)
                    row.update(status="held_back", error=message)
                rows.append(row)
            ops.insert_missing(session, self._job_id, ops.DELETE, rows)
            return self._counts(session)

    def _hold(
        self,
        session: Session,
        playlist_pk: int,
        youtube_id: str,
        held: list[Missing],
        fresh: list[NewVideo],
        pks: dict[str, int],
    ) -> str:
        """Record why an old playlist is kept; the message its row carries."""
        message = _kept_message(held, fresh)
        self._held_rows(session, playlist_pk, held)
        self._new_rows(session, playlist_pk, fresh, pks)
        title = session.get_one(Playlist, playlist_pk).title
        ops.record_error(
            session,
            self._job_id,
            "delete_playlists",
            "playlist",
            youtube_id,
            f"kept '{title}': {message}",
        )
        return message

    def _recheck(self) -> tuple[int, int]:
        """Delete rows an earlier attempt wrote: an old playlist still to delete whose
        read is older than RECHECK_AFTER is read again, and held back if the owner
        saved a video to it since."""
        with self._sessions() as session:
            stale = self._stale(session)
            imported = self._imported(session, [pk for pk, _yt in stale])
        if not stale:
            with self._sessions() as session:
                return self._counts(session)
        shown = {pk: self._shown(youtube_id) for pk, youtube_id in stale}
        new = {
            pk: _new_videos(imported.get(pk, Counter()), now)
            for pk, now in shown.items()
            if now is not None
        }
        with transaction(self._sessions) as session:
            self._update_backup(session, stale, shown)
            pks = _video_pks(session, {n.video: n.title for ns in new.values() for n in ns})
            for playlist_pk, youtube_id in stale:
                fresh = new.get(playlist_pk, [])
                op = session.scalars(
                    select(SyncOperation).where(
                        SyncOperation.job_id == self._job_id,
                        SyncOperation.kind == ops.DELETE,
                        SyncOperation.playlist_id == playlist_pk,
                    )
                ).one()
                if fresh and op.status == "pending":
                    op.error = self._hold(session, playlist_pk, youtube_id, [], fresh, pks)
                    op.status = "held_back"
            return self._counts(session)

    def _stale(self, session: Session) -> list[tuple[int, str]]:
        """The old playlists still to delete whose last read is older than RECHECK_AFTER."""
        pending = session.execute(
            select(Playlist.id, Playlist.youtube_id)
            .join(SyncOperation, SyncOperation.playlist_id == Playlist.id)
            .where(
                SyncOperation.job_id == self._job_id,
                SyncOperation.kind == ops.DELETE,
                SyncOperation.status == "pending",
            )
        ).all()
        if not pending:
            return []
        backup_id = session.get_one(SyncJob, self._job_id).backup_id
        snapshot = session.get(BackupSnapshot, backup_id) if backup_id is not None else None
        read_at = {
            entry["youtube_id"]: datetime.fromisoformat(entry["read_at"])
            for entry in (snapshot.data.get("playlists", []) if snapshot else [])
            if entry.get("read_at")
        }
        since = self._clock() - RECHECK_AFTER
        return [
            (pk, youtube_id)
            for pk, youtube_id in pending
            if (read := read_at.get(youtube_id)) is None or read < since
        ]

    def _imported(self, session: Session, playlists: list[int]) -> dict[int, Counter[str]]:
        """Per old playlist: how many copies of each video the import saw in it."""
        seen: dict[int, Counter[str]] = defaultdict(Counter)
        for playlist_pk, video in session.execute(
            select(PlaylistItem.playlist_id, Video.youtube_id)
            .join(Video, Video.id == PlaylistItem.video_id)
            .where(PlaylistItem.playlist_id.in_(playlists))
        ):
            seen[playlist_pk][video] += 1
        return seen

    def _shown(self, youtube_id: str) -> Shown | None:
        """An old playlist as YouTube shows it now; None when it is gone."""
        try:
            items = self._reader.playlist_items(youtube_id)
        except Gone:
            return None
        return [(_video_of(item), _title_of(item)) for item in items]

    def _update_backup(
        self, session: Session, candidates: list[tuple[int, str]], shown: dict[int, Shown | None]
    ) -> None:
        """The job's backup holds the old playlists as read now, titles as imported."""
        backup_id = session.get_one(SyncJob, self._job_id).backup_id
        if backup_id is None:
            return
        videos = {v for now in shown.values() if now is not None for v, _title in now}
        titles = {
            video: title
            for video, title in session.execute(
                select(Video.youtube_id, Video.title).where(Video.youtube_id.in_(videos))
            )
        }
        read = {
            youtube_id: [(video, titles.get(video, title)) for video, title in now]
            for pk, youtube_id in candidates
            if (now := shown[pk]) is not None
        }
        bring_up_to_date(session, backup_id, read, self._clock())

    def plan_removals(self) -> tuple[int, int]:
        """Under reuse: write the job's remove rows for the items of its kept playlists
        that do not belong there, pending when verified safe, ``held_back`` otherwise.
        Returns (to remove, held back)."""
        with self._sessions() as session:
            if ops.ops_exist(session, self._job_id, ops.REMOVE):
                return self._counts(session, ops.REMOVE)  # verified by an earlier attempt
            removals = self._removals(session)
        if not removals:
            return 0, 0
        needed = {c for r in removals for c in r.needs} | {r.category_id for r in removals}
        listed = {category: self._listing(category) for category in sorted(needed)}
        missing: dict[int, list[Missing]] = {}
        for removal in removals:
            missing[removal.item_pk] = self._unsafe(removal, removals, listed)
        gone = self._reader.unavailable({m.video for ms in missing.values() for m in ms})
        with transaction(self._sessions) as session:
            rows = []
            held_by_playlist: dict[int, list[Missing]] = defaultdict(list)
            for removal in removals:
                held = [m for m in missing[removal.item_pk] if m.video not in gone]
                row = {
                    "op_key": f"remove:{removal.item_pk}",
                    "playlist_id": removal.playlist_pk,
                    "category_id": removal.category_id,
                    "video_id": removal.video_pk,
                    "position": removal.position,
                    "youtube_id": removal.item_id,
                }
                if held:
                    row.update(status="held_back", error=_held_message(held))
                    held_by_playlist[removal.playlist_pk] += held
                rows.append(row)
            for playlist_pk, held in held_by_playlist.items():
                self._hold_back_items(session, playlist_pk, held)
            ops.insert_missing(session, self._job_id, ops.REMOVE, rows)
            return self._counts(session, ops.REMOVE)

    def _removals(self, session: Session) -> list[Removal]:
        """The items of the job's kept playlists that do not belong there, from the
        import: a video not planned into the keeping category, or a copy after the first.
        Only playlists the category has taken (its update done) are cleaned: one whose
        update failed is an old playlist again, verified like any other."""
        kept = session.execute(
            select(JobKeptPlaylist.category_id, JobKeptPlaylist.playlist_id)
            .join(Category, Category.id == JobKeptPlaylist.category_id)
            .join(Playlist, Playlist.id == JobKeptPlaylist.playlist_id)
            .where(
                JobKeptPlaylist.job_id == self._job_id,
                Category.youtube_playlist_id == Playlist.youtube_id,
            )
        ).all()
        if not kept:
            return []
        keeper = {playlist_pk: category_id for category_id, playlist_pk in kept}
        items = session.execute(
            select(
                PlaylistItem.id,
                PlaylistItem.youtube_item_id,
                PlaylistItem.position,
                PlaylistItem.playlist_id,
                Video.id,
                Video.youtube_id,
                Video.availability,
            )
            .join(Video, Video.id == PlaylistItem.video_id)
            .where(PlaylistItem.playlist_id.in_(keeper))
            .order_by(PlaylistItem.playlist_id, PlaylistItem.position, PlaylistItem.id)
        ).all()
        # Every category each of these videos is planned into; protected ones count for
        # what a playlist keeps (planned, whatever its availability), not for safety.
        planned: dict[int, set[int]] = defaultdict(set)
        unprotected: dict[int, set[int]] = defaultdict(set)
        for video_pk, category_id, protected in session.execute(
            select(CategoryVideo.video_id, CategoryVideo.category_id, Category.is_protected)
            .join(Category, Category.id == CategoryVideo.category_id)
            .where(CategoryVideo.video_id.in_({row[4] for row in items}))
        ):
            planned[video_pk].add(category_id)
            if not protected:
                unprotected[video_pk].add(category_id)
        removals: list[Removal] = []
        seen: set[tuple[int, int]] = set()
        for item_pk, item_id, position, playlist_pk, video_pk, video, availability in items:
            category_id = keeper[playlist_pk]
            belongs = category_id in planned[video_pk]
            copy = (playlist_pk, video_pk) in seen
            seen.add((playlist_pk, video_pk))
            if belongs and not copy:
                continue
            # Unavailable since the import: no playlist can hold it, nothing to verify.
            needs = () if copy or availability in ops.UNAVAILABLE else unprotected[video_pk]
            removals.append(
                Removal(
                    item_pk,
                    item_id,
                    position,
                    playlist_pk,
                    category_id,
                    video_pk,
                    video,
                    copy,
                    tuple(sorted(needs)),
                )
            )
        return removals

    def _unsafe(
        self, removal: Removal, removals: list[Removal], listed: dict[int, Listing]
    ) -> list[Missing]:
        """Why removing this item could lose its video (empty: it cannot)."""
        if removal.copy:
            # Safe while YouTube shows another copy in the playlist, one not removed.
            leaving = {
                r.item_id
                for r in removals
                if r.playlist_pk == removal.playlist_pk and r.video_pk == removal.video_pk
            }
            shown, name, _why = listed[removal.category_id]
            if any(video == removal.video and item not in leaving for item, video in shown):
                return []
            why = "YouTube shows no other copy of it in the playlist"
            return [Missing(removal.video_pk, removal.video, name, why)]
        missing = []
        for category in removal.needs:
            shown, name, why = listed[category]
            if not any(video == removal.video for _item, video in shown):
                missing.append(Missing(removal.video_pk, removal.video, name, why))
        return missing

    def _hold_back_items(self, session: Session, playlist_pk: int, held: list[Missing]) -> None:
        self._held_rows(session, playlist_pk, held)
        playlist = session.get_one(Playlist, playlist_pk)
        ops.record_error(
            session,
            self._job_id,
            "delete_playlists",
            "playlist",
            playlist.youtube_id,
            f"left items in the kept playlist '{playlist.title}': {_held_message(held)}",
        )

    def _counts(self, session: Session, kind: str = ops.DELETE) -> tuple[int, int]:
        statuses = list(
            session.scalars(
                select(SyncOperation.status).where(
                    SyncOperation.job_id == self._job_id, SyncOperation.kind == kind
                )
            )
        )
        held = statuses.count("held_back")
        return len(statuses) - held, held

    def _planned(
        self, session: Session, playlists: list[int]
    ) -> dict[int, list[tuple[int, str, int]]]:
        """Per old playlist: (video pk, video id, category) for each of its available
        videos and each non-protected category it was planned into."""
        rows = session.execute(
            select(PlaylistItem.playlist_id, Video.id, Video.youtube_id, CategoryVideo.category_id)
            .join(Video, Video.id == PlaylistItem.video_id)
            .join(CategoryVideo, CategoryVideo.video_id == Video.id)
            .join(Category, Category.id == CategoryVideo.category_id)
            .where(
                PlaylistItem.playlist_id.in_(playlists),
                Category.is_protected.is_(False),
                Video.availability.not_in(ops.UNAVAILABLE),
            )
        )
        wanted: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
        for playlist_pk, video_pk, video, category in rows:
            wanted[playlist_pk].append((video_pk, video, category))
        return wanted

    def _videos_in(self, category_id: int) -> tuple[set[str], str, str]:
        """What YouTube shows in a category's playlist: (video ids, category name, why a
        video would be missing)."""
        shown, name, why = self._listing(category_id)
        return {video for _item, video in shown}, name, why

    def _listing(self, category_id: int) -> Listing:
        if category_id not in self._listings:
            self._listings[category_id] = self._read_listing(category_id)
        return self._listings[category_id]

    def _read_listing(self, category_id: int) -> Listing:
        with self._sessions() as session:
            category = session.get_one(Category, category_id)
            name, playlist_id = category.name, category.youtube_playlist_id
            failure = session.scalar(
                select(SyncOperation.error).where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind == ops.CREATE,
                    SyncOperation.category_id == category_id,
                    SyncOperation.status == "failed",
                )
            )
        if playlist_id is None:
            why = f"its category's playlist was not created ({failure or 'no playlist'})"
            return [], name, why
        try:
            items = self._reader.playlist_items(playlist_id)
        except Gone:
            return [], name, f"its category's playlist {playlist_id} is gone from YouTube"
        shown = [(str(item["id"]), str(item["contentDetails"]["videoId"])) for item in items]
        return shown, name, "YouTube does not show it in its category's playlist"

    def _new_rows(
        self, session: Session, playlist_pk: int, new: list[NewVideo], pks: dict[str, int]
    ) -> None:
        """The videos saved to ``playlist_pk`` since the import, that held it back."""
        session.add_all(
            HeldBack(
                job_id=self._job_id,
                playlist_id=playlist_pk,
                video_id=pks[n.video],
                category="",
                reason=NEW_REASON,
                new_in_playlist=True,
            )
            for n in new
        )

    def _held_rows(self, session: Session, playlist_pk: int, held: list[Missing]) -> None:
        """The videos that held ``playlist_pk`` (or some of its items) back."""
        session.add_all(
            HeldBack(
                job_id=self._job_id,
                playlist_id=playlist_pk,
                video_id=m.video_pk,
                category=m.category,
                reason=m.reason,
            )
            for m in held
        )


def _held_message(held: list[Missing]) -> str:
    named = ", ".join(f"{m.video} ({m.category})" for m in held[:NAMED_IN_MESSAGE])
    more = f" and {len(held) - NAMED_IN_MESSAGE} more" if len(held) > NAMED_IN_MESSAGE else ""
    return f"{len(held)} video(s) not verified in their category playlists: {named}{more}"


def _new_message(new: list[NewVideo]) -> str:
    named = ", ".join(f"{n.video} ('{n.title}')" for n in new[:NAMED_IN_MESSAGE])
    more = f" and {len(new) - NAMED_IN_MESSAGE} more" if len(new) > NAMED_IN_MESSAGE else ""
    return f"{len(new)} video(s) saved to it since the import, in no plan: {named}{more}"


def _kept_message(held: list[Missing], new: list[NewVideo]) -> str:
    parts = [_new_message(new)] if new else []
    if held:
        parts.append(_held_message(held))
    return "; ".join(parts)


def _video_of(item: dict[str, Any]) -> str:
    return str(item["contentDetails"]["videoId"])


def _title_of(item: dict[str, Any]) -> str:
    title = str(item.get("snippet", {}).get("title", ""))
    return "" if title in HIDDEN_TITLES else title


def _new_videos(imported: Counter[str], now: Shown) -> list[NewVideo]:
    """The videos ``now`` holds more copies of than the import saw, in playlist order."""
    extra = Counter(video for video, _title in now) - imported
    new = []
    for video, title in now:
        if extra[video] > 0:
            new.append(NewVideo(video, title))
            extra[video] = 0  # named once, however many copies
    return new


def _video_pks(session: Session, videos: dict[str, str]) -> dict[str, int]:
    """Database ids of these videos (id -> title), adding those the import never saw."""
    if not videos:
        return {}

    def known() -> dict[str, int]:
        query = select(Video.youtube_id, Video.id).where(Video.youtube_id.in_(videos))
        return {video: pk for video, pk in session.execute(query)}

    pks = known()
    unseen = [{"youtube_id": v, "title": t} for v, t in videos.items() if v not in pks]
    if unseen:
        session.execute(insert(Video), unseen)
        pks = known()
    return pks
