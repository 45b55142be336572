"""Verify before delete: an old playlist goes only when YouTube, read back, shows each of
its videos safe.

A video of an old playlist is safe when it sits in the playlist of every
non-protected category it was planned into, when it was planned into none (the
user's choice: the backup keeps it), or when YouTube says it is unavailable (private
to someone else, or deleted).  The database alone is not enough: it records what
ytsync believes it wrote, not what YouTube kept.  An old playlist with a video not
safe is kept, and the job names it with the videos that held it back; a later
``start`` checks again and finishes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import (
    Category,
    CategoryVideo,
    HeldBack,
    Playlist,
    PlaylistItem,
    SyncOperation,
    Video,
)
from ytsync.sync import operations as ops
from ytsync.sync.budget import Budget
from ytsync.sync.reads import Gone, PagedReader
from ytsync.youtube.client import PAGE_SIZE, YouTube

# Videos named in a held-back playlist's error message; the rest are counted.
NAMED_IN_MESSAGE = 10


@dataclass(frozen=True)
class Missing:
    video_pk: int
    video: str
    category: str
    reason: str


class Verifier:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        job_id: int,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._yt = youtube
        self._job_id = job_id
        self._reader = PagedReader(youtube, budget, heartbeat)

    @property
    def units(self) -> int:
        return self._reader.units

    def plan_deletions(self) -> tuple[int, int]:
        """Write the job's delete rows: pending for the verified old playlists,
        ``held_back`` for the others.  Returns (to delete, held back)."""
        with self._sessions() as session:
            if ops.ops_exist(session, self._job_id, ops.DELETE):
                return self._counts(session)  # verified by an earlier attempt
            candidates = ops.deletion_candidates(session)
            wanted = self._planned(session, [pid for pid, _yt in candidates])
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
        gone = self._unavailable({m.video for ms in missing_by_playlist.values() for m in ms})
        with transaction(self._sessions) as session:
            rows = []
            for playlist_pk, youtube_id in candidates:
                held = [m for m in missing_by_playlist.get(playlist_pk, []) if m.video not in gone]
                row = {"op_key": f"delete:{playlist_pk}", "playlist_id": playlist_pk}
                if held:
                    row.update(status="held_back", error=_held_message(held))
                    self._hold_back(session, playlist_pk, youtube_id, held)
                rows.append(row)
            ops.insert_missing(session, self._job_id, ops.DELETE, rows)
            return self._counts(session)

    def _counts(self, session: Session) -> tuple[int, int]:
        statuses = list(
            session.scalars(
                select(SyncOperation.status).where(
                    SyncOperation.job_id == self._job_id, SyncOperation.kind == ops.DELETE
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
            return set(), name, why
        try:
            items = self._reader.playlist_items(playlist_id)
        except Gone:
            return set(), name, f"its category's playlist {playlist_id} is gone from YouTube"
        present = {str(item["contentDetails"]["videoId"]) for item in items}
        return present, name, "YouTube does not show it in its category's playlist"

    def _unavailable(self, videos: set[str]) -> set[str]:
        """Of these videos, those YouTube no longer shows to this channel (deleted, or
        private to someone else): they are not missing, they are gone."""
        ordered = sorted(videos)
        shown: set[str] = set()
        for start in range(0, len(ordered), PAGE_SIZE):
            chunk = ordered[start : start + PAGE_SIZE]
            found = self._reader.one(lambda c=chunk: self._yt.videos(c))  # type: ignore[misc]
            shown.update(str(v["id"]) for v in found)
        return set(ordered) - shown

    def _hold_back(
        self, session: Session, playlist_pk: int, youtube_id: str, held: list[Missing]
    ) -> None:
        for m in held:
            session.add(
                HeldBack(
                    job_id=self._job_id,
                    playlist_id=playlist_pk,
                    video_id=m.video_pk,
                    category=m.category,
                    reason=m.reason,
                )
            )
        title = session.get_one(Playlist, playlist_pk).title
        ops.record_error(
            session,
            self._job_id,
            "delete_playlists",
            "playlist",
            youtube_id,
            f"kept '{title}': {_held_message(held)}",
        )


def _held_message(held: list[Missing]) -> str:
    named = ", ".join(f"{m.video} ({m.category})" for m in held[:NAMED_IN_MESSAGE])
    more = f" and {len(held) - NAMED_IN_MESSAGE} more" if len(held) > NAMED_IN_MESSAGE else ""
    return (
        f"{len(held)} video(s) not verified in their category playlists: {named}{more}; "
        "run 'python starter.py start' again to check again and finish"
    )
