"""The idempotency protocol, one YouTube write at a time.

1. read the operation row: completed, failed or skipped means nothing to do;
2. found ``in_flight``: the last attempt's outcome is unknown, so look before writing
   again (a 1-unit read);
3. charge the quota ledger, mark ``in_flight`` and commit, then call the API;
4. record the result and commit.

A worker can die at any point of this and the next attempt still makes the write at
most once: YouTube happily stores the same video twice in a playlist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NoReturn, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workflows.messages import STOP_AUTH, STOP_QUOTA, STOP_RATE
from ytsync.db.engine import transaction
from ytsync.db.models import Category, Playlist, SyncOperation, Video, utcnow
from ytsync.quota import LIST_COST, WRITE_COST
from ytsync.sync.budget import Budget
from ytsync.sync.operations import STAGE_OF_KIND, record_error
from ytsync.youtube.client import YouTube
from ytsync.youtube.errors import ApiFailure, Outcome, classify

# Persistent rate limiting: after this many attempts, wait for the next quota day.
# Playlist creation has its own low daily limit, so it gives up sooner.
T = TypeVar("T")
RATE_LIMIT_ATTEMPTS = {
    "create_playlist": 3,
    "restore_playlist": 3,
    "add_video": 8,
    "restore_item": 8,
    "delete_playlist": 8,
}


class StopBatch(Exception):
    """The batch cannot go on now: out of quota, rate limited for the day, or signed out."""

    def __init__(self, stop: str, resume_at: datetime | None, message: str) -> None:
        super().__init__(message)
        self.stop = stop
        self.resume_at = resume_at
        self.message = message


class RetryLater(Exception):
    """A transient failure; Temporal's retry policy runs the batch again after ``delay``."""

    def __init__(self, message: str, delay: timedelta | None = None) -> None:
        super().__init__(message)
        self.delay = delay


def playlist_marker(job_id: int, category_id: int) -> str:
    """Written into a created playlist's description so a lost answer can be found."""
    return f"ytsync:job={job_id}:category={category_id}"


class Writer:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        job_id: int,
        attempt: int = 1,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._yt = youtube
        self._budget = budget
        self._job_id = job_id
        self._attempt = attempt
        self._heartbeat = heartbeat

    # the three kinds of write ------------------------------------------------------

    def add_video(self, op_id: int) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            target = session.get_one(Category, op.category_id).youtube_playlist_id
            video_id = session.get_one(Video, op.video_id).youtube_id
            was_in_flight = op.status == "in_flight"
        self._insert_item(op_id, target, video_id, was_in_flight)

    def restore_item(self, op_id: int) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            target = session.scalar(
                select(SyncOperation.youtube_id).where(
                    SyncOperation.job_id == op.job_id,
                    SyncOperation.op_key == f"restore:{op.playlist_id}",
                    SyncOperation.status == "completed",
                )
            )
            video_id = session.get_one(Video, op.video_id).youtube_id
            was_in_flight = op.status == "in_flight"
        self._insert_item(op_id, target, video_id, was_in_flight)

    def _insert_item(
        self, op_id: int, playlist_id: str | None, video_id: str, was_in_flight: bool
    ) -> None:
        if playlist_id is None:
            self._fail(op_id, "video", video_id, "the target playlist was not created")
            return
        if was_in_flight:
            self._spend(LIST_COST, op_id)
            page = self._call(
                op_id, lambda: self._yt.playlist_items(playlist_id, video_id=video_id)
            )
            if page.items:
                self._complete(op_id, str(page.items[0]["id"]))
                return
        self._spend(WRITE_COST, op_id, in_flight=True)
        try:
            item_id = self._yt.insert_playlist_item(playlist_id, video_id)
        except Exception as exc:
            failure = self._classified(exc)
            if failure.outcome is Outcome.ALREADY_PRESENT:
                self._complete(op_id, None)
                return
            self._settle_failure(op_id, "video", video_id, failure)
            return
        self._complete(op_id, item_id)

    def create_playlist(self, op_id: int) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            category = session.get_one(Category, op.category_id)
            if category.youtube_playlist_id:
                op.status, op.youtube_id = "completed", category.youtube_playlist_id
                return
            name, category_id = category.name, category.id
            was_in_flight = op.status == "in_flight"
        marker = playlist_marker(self._job_id, category_id)
        description = f"Category '{name}', made by ytsync. {marker}"

        def record(session: Session, playlist_id: str) -> None:
            # In the same commit as the row: the category must never lose its playlist.
            session.get_one(Category, category_id).youtube_playlist_id = playlist_id

        self._new_playlist(op_id, name, description, marker, was_in_flight, record)

    def restore_playlist(self, op_id: int) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            playlist = session.get_one(Playlist, op.playlist_id)
            title, description = playlist.title, playlist.description
            was_in_flight = op.status == "in_flight"
        marker = f"ytsync:restore={self._job_id}:playlist={op.playlist_id}"
        description = f"{description}\n\n{marker}".strip()
        self._new_playlist(op_id, title, description, marker, was_in_flight, lambda _s, _p: None)

    def _new_playlist(
        self,
        op_id: int,
        title: str,
        description: str,
        marker: str,
        was_in_flight: bool,
        record: Callable[[Session, str], None],
    ) -> None:
        """Create a playlist at most once: the marker finds one whose answer was lost."""
        found = self._find_marked_playlist(op_id, marker) if was_in_flight else None
        if found is None:
            self._spend(WRITE_COST, op_id, in_flight=True)
            try:
                found = self._yt.insert_playlist(title, description)
            except Exception as exc:
                self._settle_failure(op_id, "playlist", title, self._classified(exc))
                return
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.youtube_id = "completed", found
            record(session, found)
        self._heartbeat()

    def delete_playlist(self, op_id: int) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            if op.status not in ("pending", "in_flight"):
                return
            playlist = session.get_one(Playlist, op.playlist_id)
            if playlist.deleted_from_youtube_at is not None:
                op.status = "completed"
                return
            youtube_id = playlist.youtube_id
        # Deleting twice is harmless (the second answers 404), so no look-before.
        self._spend(WRITE_COST, op_id, in_flight=True)
        try:
            self._yt.delete_playlist(youtube_id)
        except Exception as exc:
            failure = self._classified(exc)
            if failure.outcome is not Outcome.NOT_FOUND:
                self._settle_failure(op_id, "playlist", youtube_id, failure)
                return
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.youtube_id = "completed", youtube_id
            session.get_one(Playlist, op.playlist_id).deleted_from_youtube_at = utcnow()
        self._heartbeat()

    # protocol steps ----------------------------------------------------------------

    def _find_marked_playlist(self, op_id: int, marker: str) -> str | None:
        token: str | None = None
        while True:
            self._spend(LIST_COST, op_id)
            page = self._call(op_id, lambda t=token: self._yt.my_playlists(t))  # type: ignore[misc]
            for playlist in page.items:
                if marker in playlist.get("snippet", {}).get("description", ""):
                    return str(playlist["id"])
            if not page.next_token:
                return None
            token = page.next_token

    def _spend(self, units: int, op_id: int, *, in_flight: bool = False) -> None:
        """Pay for the next call; for a write, mark its row in_flight in the same commit."""

        def mark(session: Session) -> None:
            op = session.get_one(SyncOperation, op_id)
            op.status = "in_flight"
            op.attempts += 1

        if not self._budget.try_spend(units, mark if in_flight else None):
            raise StopBatch(
                STOP_QUOTA, self._budget.next_reset(), "the usable quota of this period is spent"
            )

    def _call(self, op_id: int, fn: Callable[[], T]) -> T:
        """A read inside the protocol: failures stop or retry the batch, never guess."""
        try:
            return fn()
        except Exception as exc:
            # The row keeps its status: a failed look-before proves nothing.
            self._raise_for(op_id, self._classified(exc), keep_status=True)

    def _classified(self, exc: Exception) -> ApiFailure:
        failure = classify(exc)
        if failure is None:
            raise exc
        return failure

    def _settle_failure(self, op_id: int, entity: str, entity_id: str, f: ApiFailure) -> None:
        if f.outcome in (
            Outcome.ITEM_UNAVAILABLE,
            Outcome.PLAYLIST_FULL,
            Outcome.PERMANENT,
            Outcome.NOT_FOUND,
            Outcome.ALREADY_PRESENT,
        ):
            self._fail(op_id, entity, entity_id, f.describe())
            return
        # A 5xx, a 409 or a lost answer may hide an applied write: stay in_flight, so
        # the next attempt looks before it writes.
        unknown = f.outcome in (Outcome.TRANSIENT, Outcome.UNKNOWN_RESULT)
        self._raise_for(op_id, f, keep_status=unknown)

    def _raise_for(self, op_id: int, f: ApiFailure, *, keep_status: bool) -> NoReturn:
        if not keep_status:
            # YouTube refused before applying it: the row can go back to plain pending.
            self._set_status(op_id, "pending")
        if f.outcome is Outcome.QUOTA_EXHAUSTED:
            raise StopBatch(
                STOP_QUOTA, self._budget.exhausted(), "YouTube says the project's quota is used up"
            )
        if f.outcome is Outcome.AUTH_REQUIRED:
            raise StopBatch(
                STOP_AUTH,
                None,
                "YouTube sign-in expired or was revoked; run "
                "'python starter.py auth' and then 'python starter.py resume'",
            )
        if f.outcome is Outcome.RATE_LIMITED:
            kind = self._kind(op_id)
            if self._attempt >= RATE_LIMIT_ATTEMPTS[kind]:
                raise StopBatch(
                    STOP_RATE,
                    self._budget.next_reset(),
                    f"YouTube keeps rate-limiting {kind}; waiting for the next day",
                )
            raise RetryLater(f.describe(), timedelta(seconds=min(300, 10 * 2**self._attempt)))
        raise RetryLater(f.describe())

    def _kind(self, op_id: int) -> str:
        with self._sessions() as session:
            return session.get_one(SyncOperation, op_id).kind

    def _set_status(self, op_id: int, status: str) -> None:
        with transaction(self._sessions) as session:
            session.get_one(SyncOperation, op_id).status = status

    def _complete(self, op_id: int, youtube_id: str | None) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.youtube_id = "completed", youtube_id
        self._heartbeat()

    def _fail(self, op_id: int, entity: str, entity_id: str, message: str) -> None:
        with transaction(self._sessions) as session:
            op = session.get_one(SyncOperation, op_id)
            op.status, op.error = "failed", message
            record_error(session, self._job_id, STAGE_OF_KIND[op.kind], entity, entity_id, message)
        self._heartbeat()
