"""Verify before remove, for a restore: an item leaves a playlist, and a category
playlist is deleted, only once YouTube, read back, shows each video it holds back where
the backup had it.

Run once a restore's appends are done and their settled checks clean.  A video is back
when every old playlist the snapshot has it in shows it now (the playlist recreated for
it, or the old one itself: kept, or never deleted), in a copy the restore does not
remove; or when the snapshot has it in no playlist (it was in none before the sync); or
when YouTube no longer shows it (deleted, or private to someone else: reported, as it
cannot be put back).

* an old copy in a kept playlist, in the way of its old order, goes once its copy
  appended again is shown;
* an item the reusing sync appended to a kept playlist goes once its video is back;
* a full undo's category playlist goes once every video in it is back, and only when
  every item in it is ytsync's: one the owner added since the sync keeps it.

What cannot be verified stays (status ``held_back``), named with its videos and why; a
later restore checks again.  Removing is always the last step for a video.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import (
    HeldBack,
    LaneCheck,
    Playlist,
    SyncJob,
    SyncOperation,
    Video,
)
from ytsync.sync import operations as ops
from ytsync.sync.budget import Budget
from ytsync.sync.reads import Gone, PagedReader
from ytsync.sync.undo import (
    MadePlaylist,
    RestoreOptions,
    homes,
    made_playlists,
    restore_rows,
    restore_targets,
    snapshot_of,
)
from ytsync.sync.unkeep import OLD_ITEM
from ytsync.youtube.client import YouTube

# The lane_checks row that records a restore's verification (one per job): a retried or
# continued job does not read everything again.
VERIFIED = "verify_restore"
# Videos named in one error message; the rest are counted.
NAMED_IN_MESSAGE = 10


@dataclass(frozen=True)
class Hold:
    """Why one video keeps an item or a playlist where it is."""

    video: str
    video_pk: int | None
    # Where it is missing (an old playlist's title), or the playlist that holds it.
    where: str
    reason: str


@dataclass(frozen=True)
class _Listing:
    # (item id, video id) pairs as YouTube shows them.
    items: list[tuple[str, str]]
    # Why a video would be missing from it.
    why: str


class RestoreVerifier:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        youtube: YouTube,
        budget: Budget,
        job_id: int,
        clock: Callable[[], datetime],
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._yt = youtube
        self._job_id = job_id
        self._clock = clock
        self._reader = PagedReader(youtube, budget, heartbeat)
        self._listings: dict[str, _Listing] = {}
        # Per playlist on YouTube: the items this job appended to it (item -> video).
        self._appended: dict[str, dict[str, str]] = defaultdict(dict)
        self._shown_in: dict[str, set[str]] = {}

    def plan(self) -> tuple[int, int]:
        """Write the restore's removal and deletion rows: pending when verified,
        ``held_back`` otherwise.  Returns (to remove or delete, held back)."""
        with self._sessions() as session:
            if self._verified(session):
                return self._counts(session)
            job = session.get_one(SyncJob, self._job_id)
            options = RestoreOptions.of_job(job.preview) or RestoreOptions()
            snapshot = snapshot_of(session, self._job_id)
            removals = self._removals(session, snapshot.data, options)
            made = made_playlists(session, snapshot.id) if options.undo else []
            where = homes(session, snapshot.data)
            titles = {
                pk: title
                for pk, title in session.execute(
                    select(Playlist.id, Playlist.title).where(
                        Playlist.id.in_({pk for pks in where.values() for pk in pks})
                    )
                )
            }
            kept = {int(r["playlist_id"]) for r in removals}
            appended = session.execute(
                select(SyncOperation.playlist_id, SyncOperation.youtube_id, Video.youtube_id)
                .join(Video, Video.id == SyncOperation.video_id)
                .where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind == ops.RESTORE_ITEM,
                    SyncOperation.status == "completed",
                    SyncOperation.youtube_id.is_not(None),
                )
            ).all()
            lanes = {pk for pk, _item, _video in appended if pk is not None}
            targets = restore_targets(session, self._job_id, set(titles) | kept | lanes)
            videos = _video_ids(session, {int(r["video_id"]) for r in removals if r["video_id"]})
            failures = _failed_recreations(session, self._job_id)
        for playlist_pk, item, video in appended:
            if playlist_pk is not None and (target := targets.get(playlist_pk)) is not None:
                self._appended[target][str(item)] = str(video)
        leaving = {str(r["youtube_id"]) for r in removals}
        holds: dict[str, list[Hold]] = {}
        for row in removals:
            video = videos.get(int(row["video_id"] or 0), "")
            playlist_pk = int(row["playlist_id"])
            if str(row["op_key"]).startswith(f"{OLD_ITEM}:"):
                shown = self._shown(targets.get(playlist_pk), leaving)
                holds[row["op_key"]] = (
                    []
                    if video in shown
                    else [
                        Hold(
                            video,
                            row["video_id"],
                            titles.get(playlist_pk, ""),
                            "YouTube does not show its copy appended again",
                        )
                    ]
                )
            else:
                holds[row["op_key"]] = self._not_back(
                    video, row["video_id"], where, targets, titles, leaving, failures, playlist_pk
                )
        undo_rows, undo_holds = self._deletions(made, where, targets, titles, leaving, failures)
        holds.update(undo_holds)
        gone = self._reader.unavailable(
            {h.video for hs in holds.values() for h in hs if h.video_pk}
        )
        holds = {
            key: [h for h in hs if h.video_pk is None or h.video not in gone]
            for key, hs in holds.items()
        }
        return self._record(removals, undo_rows, made, holds, gone)

    # what the restore removes and deletes ---------------------------------------------

    def _removals(
        self, session: Session, snapshot: dict[str, Any], options: RestoreOptions
    ) -> list[dict[str, Any]]:
        """The restore's removals: planned now (ytsync.sync.undo), or with its items by a
        release from before (those still to do)."""
        rows = restore_rows(session, snapshot, options).removals
        planned = {row["op_key"] for row in rows}
        for op in session.scalars(
            select(SyncOperation).where(
                SyncOperation.job_id == self._job_id,
                SyncOperation.kind == ops.RESTORE_REMOVE,
                SyncOperation.status.in_(ops.OPEN),
            )
        ):
            if op.op_key not in planned:
                rows.append(
                    {
                        "op_key": op.op_key,
                        "playlist_id": op.playlist_id,
                        "video_id": op.video_id,
                        "position": op.position,
                        "youtube_id": op.youtube_id,
                    }
                )
        return rows

    def _deletions(
        self,
        made: list[MadePlaylist],
        where: dict[str, list[int]],
        targets: dict[int, str],
        titles: dict[int, str],
        leaving: set[str],
        failures: dict[int, str],
    ) -> tuple[list[dict[str, Any]], dict[str, list[Hold]]]:
        rows: list[dict[str, Any]] = []
        holds: dict[str, list[Hold]] = {}
        for playlist in made:
            key = f"undo:{playlist.youtube_id}"
            rows.append(
                {
                    "op_key": key,
                    "category_id": playlist.category_id,
                    "youtube_id": playlist.youtube_id,
                }
            )
            listing = self._listing(playlist.youtube_id)
            with self._sessions() as session:
                added_by = _ytsyncs_items(session, [item for item, _video in listing.items])
                known = _video_pks(session, {video for _item, video in listing.items})
            held: list[Hold] = []
            for item, video in listing.items:
                kind = added_by.get(item)
                if kind != "sync":
                    # Only a sync's items have an old home to go back to: a video an
                    # organize run moved from an inbox, or one the owner added, would
                    # be lost with the playlist.
                    why = (
                        "placed by a scheduled organize run since the sync"
                        if kind == "organize"
                        else "added on YouTube since the sync"
                    )
                    held.append(Hold(video, None, playlist.title, f"{why}: its playlist is kept"))
                    continue
                held += self._not_back(
                    video, known.get(video), where, targets, titles, leaving, failures, None
                )
            holds[key] = held
        return rows, holds

    def _not_back(
        self,
        video: str,
        video_pk: int | None,
        where: dict[str, list[int]],
        targets: dict[int, str],
        titles: dict[int, str],
        leaving: set[str],
        failures: dict[int, str],
        leaving_from: int | None,
    ) -> list[Hold]:
        """Why ``video`` is not back in every old playlist the snapshot has it in
        (empty: it is, or it was in none)."""
        held = []
        for pk in where.get(video, []):
            if pk == leaving_from:
                continue
            title = titles.get(pk, "")
            target = targets.get(pk)
            if target is None:
                why = failures.get(pk, "it is not back on YouTube")
                reason = f"its old playlist '{title}' was not recreated ({why})"
            elif video not in self._shown(target, leaving):
                reason = f"YouTube does not show it back in its old playlist '{title}'"
            else:
                continue
            held.append(Hold(video, video_pk, title, reason))
        return held

    # reads -----------------------------------------------------------------------------

    def _shown(self, playlist_id: str | None, leaving: set[str]) -> set[str]:
        """The videos a playlist shows, in copies the restore does not remove; or that
        this job appended to it and that YouTube, asked by their ids, still has."""
        if playlist_id is None:
            return set()
        if playlist_id not in self._shown_in:
            listing = self._listing(playlist_id)
            shown = {video for item, video in listing.items if item not in leaving}
            listed = {item for item, _video in listing.items}
            mine = self._appended.get(playlist_id, {})
            # A list lags: an item of this job's it lacks may only be late.
            late = [
                item for item, video in mine.items() if item not in listed and video not in shown
            ]
            shown.update(mine[found] for found in self._look_up(late, playlist_id))
            self._shown_in[playlist_id] = shown
        return self._shown_in[playlist_id]

    def _look_up(self, items: list[str], playlist_id: str) -> list[str]:
        return [
            str(i["id"])
            for i in self._reader.by_ids(items, self._yt.playlist_items_by_id)
            if i.get("snippet", {}).get("playlistId", playlist_id) == playlist_id
        ]

    def _listing(self, playlist_id: str) -> _Listing:
        if playlist_id not in self._listings:
            try:
                items = self._reader.playlist_items(playlist_id)
            except Gone:
                self._listings[playlist_id] = _Listing([], "gone from YouTube")
            else:
                pairs = [(str(i["id"]), str(i["contentDetails"]["videoId"])) for i in items]
                self._listings[playlist_id] = _Listing(pairs, "")
        return self._listings[playlist_id]

    # the record ------------------------------------------------------------------------

    def _record(
        self,
        removals: list[dict[str, Any]],
        deletions: list[dict[str, Any]],
        made: list[MadePlaylist],
        holds: dict[str, list[Hold]],
        gone: set[str],
    ) -> tuple[int, int]:
        """Everything the verification decided, in one commit."""
        with transaction(self._sessions) as session:
            existing = {
                op.op_key: op
                for op in session.scalars(
                    select(SyncOperation).where(
                        SyncOperation.job_id == self._job_id,
                        SyncOperation.kind == ops.RESTORE_REMOVE,
                    )
                )
            }
            fresh = []
            held_in: dict[int, list[Hold]] = defaultdict(list)
            for row in removals:
                held = holds.get(row["op_key"], [])
                op = existing.get(row["op_key"])
                if op is not None:
                    if held and op.status in ops.OPEN:
                        op.status, op.error = "held_back", _message(held)
                elif held:
                    fresh.append({**row, "status": "held_back", "error": _message(held)})
                else:
                    fresh.append(row)
                if held:
                    held_in[int(row["playlist_id"])] += held
            ops.insert_missing(session, self._job_id, ops.RESTORE_REMOVE, fresh)
            for playlist_pk, held in held_in.items():
                self._hold_items(session, playlist_pk, held)
            rows = []
            titles = {p.youtube_id: p.title for p in made}
            for row in deletions:
                held = holds.get(row["op_key"], [])
                if held:
                    row = {**row, "status": "held_back", "error": _message(held)}
                    self._hold_playlist(session, row["youtube_id"], titles[row["youtube_id"]], held)
                rows.append(row)
            ops.insert_missing(session, self._job_id, ops.UNDO_DELETE, rows)
            for video in sorted(gone):
                ops.record_error(
                    session,
                    self._job_id,
                    "restore_items",
                    "video",
                    video,
                    "no longer on YouTube (deleted, or private to someone else): not put back",
                )
            session.add(
                LaneCheck(
                    job_id=self._job_id,
                    kind=VERIFIED,
                    lane=0,
                    status="clean",
                    rounds=1,
                    reads=self._reader.units,
                    found=0,
                    resent=0,
                    duplicates_removed=0,
                    late=0,
                    checked_at=self._clock(),
                )
            )
            session.flush()
            return self._counts(session)

    def _hold_items(self, session: Session, playlist_pk: int, held: list[Hold]) -> None:
        playlist = session.get_one(Playlist, playlist_pk)
        self._hold(
            session,
            held,
            {"playlist_id": playlist_pk},
            playlist.youtube_id,
            f"left items in '{playlist.title}' where they are",
        )

    def _hold_playlist(
        self, session: Session, youtube_id: str, title: str, held: list[Hold]
    ) -> None:
        self._hold(
            session,
            held,
            {"youtube_playlist_id": youtube_id, "title": title},
            youtube_id,
            f"kept the category playlist '{title}'",
        )

    def _hold(
        self,
        session: Session,
        held: list[Hold],
        playlist: dict[str, Any],
        youtube_id: str,
        what: str,
    ) -> None:
        """Record what is held back and why: a row a video, and one error naming them."""
        session.add_all(
            HeldBack(
                job_id=self._job_id,
                **playlist,
                video_id=h.video_pk,
                youtube_video_id=h.video,
                category=h.where[:150],
                reason=h.reason,
            )
            for h in held
        )
        ops.record_error(
            session,
            self._job_id,
            "restore_items",
            "playlist",
            youtube_id,
            f"{what}: {_message(held)}",
        )

    def _verified(self, session: Session) -> bool:
        return (
            session.scalar(
                select(LaneCheck.id).where(
                    LaneCheck.job_id == self._job_id, LaneCheck.kind == VERIFIED
                )
            )
            is not None
        )

    def _counts(self, session: Session) -> tuple[int, int]:
        statuses = list(
            session.scalars(
                select(SyncOperation.status).where(
                    SyncOperation.job_id == self._job_id,
                    SyncOperation.kind.in_((ops.RESTORE_REMOVE, ops.UNDO_DELETE)),
                )
            )
        )
        held = statuses.count("held_back")
        return sum(s in ops.OPEN for s in statuses), held


def _message(held: list[Hold]) -> str:
    named = ", ".join(f"{h.video} ({h.reason})" for h in held[:NAMED_IN_MESSAGE])
    more = f" and {len(held) - NAMED_IN_MESSAGE} more" if len(held) > NAMED_IN_MESSAGE else ""
    return f"{len(held)} video(s) not verified back where they were: {named}{more}"


def _video_ids(session: Session, pks: set[int]) -> dict[int, str]:
    return {
        pk: youtube_id
        for pk, youtube_id in session.execute(
            select(Video.id, Video.youtube_id).where(Video.id.in_(pks))
        )
    }


def _video_pks(session: Session, videos: set[str]) -> dict[str, int]:
    return {
        youtube_id: pk
        for youtube_id, pk in session.execute(
            select(Video.youtube_id, Video.id).where(Video.youtube_id.in_(videos))
        )
    }


def _ytsyncs_items(session: Session, item_ids: list[str]) -> dict[str, str]:
    """Of these items, those ytsync added (known by the id YouTube answered, or found),
    with the kind of job that added each: "sync" or "organize"."""
    found: dict[str, str] = {}
    for start in range(0, len(item_ids), 5_000):
        chunk = item_ids[start : start + 5_000]
        found.update(
            (str(item), str(kind))
            for item, kind in session.execute(
                select(SyncOperation.youtube_id, SyncJob.kind)
                .join(SyncJob, SyncJob.id == SyncOperation.job_id)
                .where(
                    SyncOperation.kind == ops.ADD,
                    SyncOperation.status == "completed",
                    SyncOperation.youtube_id.in_(chunk),
                )
            )
        )
    return found


def _failed_recreations(session: Session, job_id: int) -> dict[int, str]:
    """Old playlist -> why this job could not recreate it."""
    return {
        pk: str(error or "refused")
        for pk, error in session.execute(
            select(SyncOperation.playlist_id, SyncOperation.error).where(
                SyncOperation.job_id == job_id,
                SyncOperation.kind == ops.RESTORE,
                SyncOperation.status == "failed",
            )
        )
        if pk is not None
    }
