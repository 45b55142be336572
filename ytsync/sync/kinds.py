"""The kinds of write a job makes: the names its operation rows carry, and the handful of
facts that set one kind apart from another (its stage, its lane, whether it may be sent
again, whether a settled check judges it).

One protocol serves every kind (ytsync.sync.writer, ytsync.sync.audit): a kind is its
facts, and a restore's kinds are the sync's with a fact or two changed.  Light on
purpose (the wire vocabulary only): ``status`` reads them without loading the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ytsync.wire import Stage

CREATE, ADD, DELETE = "create_playlist", "add_video", "delete_playlist"
# The reuse strategy: a kept playlist's title and privacy set ("update:<category>"), and
# an item that does not belong removed from it ("remove:<playlist item id>").
UPDATE, REMOVE = "update_playlist", "remove_item"
RESTORE, RESTORE_ITEM = "restore_playlist", "restore_item"
# A restore: a playlist's old title, description and privacy set (a kept playlist's
# after a reuse; a recreated one's description without the marker it was found by), and
# the items in the way of a kept playlist's old order removed (ytsync.sync.unkeep).
RESTORE_UPDATE, RESTORE_REMOVE = "restore_update", "restore_remove"
# A settled check's repairs of ytsync's own extra copies (ytsync.sync.audit): a copy of
# a video in a category playlist ("copy:<item id>"), a second playlist made for one
# category ("drop:<playlist id>"), and the same two for a restore's playlists.  Rows like
# any write, so a check commits its verdicts and what it will delete in one step, and
# the deletions go through the protocol.
DEDUPE, DROP = "remove_copy", "drop_playlist"
RESTORE_DEDUPE, RESTORE_DROP = "restore_copy", "restore_drop"
# A full undo: a category playlist the sync made, deleted once every video in it is
# verified back where it was before the sync (ytsync.sync.undo).
UNDO_DELETE = "undo_delete"
# An organize run (ytsync.organize.write): a video's item taken out of the inbox once
# YouTube shows the video in its category ("inbox:<organize item>"); its additions are
# ADD rows like a sync's.
INBOX_REMOVE = "inbox_remove"

# Where a kind's writes go, and so which column of its rows names its lane: a category's
# playlist, an old (restored or kept) playlist, or the channel (one lane per job).
Lane = Literal["category", "playlist", "channel"]


@dataclass(frozen=True)
class Kind:
    """What sets one kind of write apart; the protocol is the same for all."""

    name: str
    stage: Stage
    lane: Lane
    # Persistent rate limiting: after this many attempts, wait for the next quota day.
    # Playlist creation has its own low daily limit, so it gives up sooner.
    rate_limit_attempts: int = 8
    # Sent again when its outcome is unknown: deleting or updating twice is harmless.
    resendable: bool = False
    # With settle-then-judge, an unknown outcome waits for the lane's settled check
    # (which judges it by what YouTube shows once settled) instead of a look-up at once.
    settled: bool = False
    # The kind whose lane and lease it writes under (a check's repairs, a restore's
    # removals: their lane's main kind); None: its own.
    writes_as: str | None = None
    # The kind of a settled check's deletions of ytsync's extra copies.
    repair: str | None = None
    # A check's repair: counted by the check, not in its stage's figures.
    is_repair: bool = False

    @property
    def lease(self) -> str:
        return self.writes_as or self.name


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(CREATE, Stage.CREATE_PLAYLISTS, "channel", 3, settled=True, repair=DROP),
        Kind(UPDATE, Stage.CREATE_PLAYLISTS, "channel", resendable=True),
        Kind(ADD, Stage.ADD_VIDEOS, "category", settled=True, repair=DEDUPE),
        Kind(DELETE, Stage.DELETE_PLAYLISTS, "channel", resendable=True),
        Kind(REMOVE, Stage.DELETE_PLAYLISTS, "channel", resendable=True),
        Kind(DEDUPE, Stage.ADD_VIDEOS, "category", resendable=True, writes_as=ADD, is_repair=True),
        Kind(DROP, Stage.CREATE_PLAYLISTS, "channel", resendable=True, is_repair=True),
        # A restore's: the same facts, in a restore's stages and lanes.
        Kind(RESTORE, Stage.RESTORE_PLAYLISTS, "channel", 3, settled=True, repair=RESTORE_DROP),
        Kind(RESTORE_UPDATE, Stage.RESTORE_PLAYLISTS, "channel", resendable=True),
        Kind(RESTORE_ITEM, Stage.RESTORE_ITEMS, "playlist", settled=True, repair=RESTORE_DEDUPE),
        Kind(
            RESTORE_REMOVE,
            Stage.RESTORE_ITEMS,
            "playlist",
            resendable=True,
            writes_as=RESTORE_ITEM,
        ),
        Kind(
            RESTORE_DEDUPE,
            Stage.RESTORE_ITEMS,
            "playlist",
            resendable=True,
            writes_as=RESTORE_ITEM,
            is_repair=True,
        ),
        Kind(RESTORE_DROP, Stage.RESTORE_PLAYLISTS, "channel", resendable=True, is_repair=True),
        Kind(UNDO_DELETE, Stage.RESTORE_ITEMS, "channel", resendable=True),
        Kind(INBOX_REMOVE, Stage.REMOVE_FROM_INBOX, "channel", resendable=True),
    )
}
STAGE_OF_KIND = {name: kind.stage for name, kind in KINDS.items()}
# The kinds a stage's figures count: a check's repairs are counted by the check.
SYNC_KINDS = (CREATE, UPDATE, ADD, DELETE, REMOVE)
REPAIRS = tuple(name for name, kind in KINDS.items() if kind.is_repair)
# Kinds whose lane is a category's playlist (else an old or restored playlist's).
BY_CATEGORY = tuple(name for name, kind in KINDS.items() if kind.lane == "category")
RESTORE_KINDS = (RESTORE, RESTORE_UPDATE, RESTORE_ITEM, RESTORE_REMOVE, UNDO_DELETE)
ORGANIZE_KINDS = (ADD, INBOX_REMOVE)

__all__ = [
    "ADD",
    "BY_CATEGORY",
    "CREATE",
    "DEDUPE",
    "DELETE",
    "DROP",
    "INBOX_REMOVE",
    "KINDS",
    "ORGANIZE_KINDS",
    "REMOVE",
    "REPAIRS",
    "RESTORE",
    "RESTORE_DEDUPE",
    "RESTORE_DROP",
    "RESTORE_ITEM",
    "RESTORE_KINDS",
    "RESTORE_REMOVE",
    "RESTORE_UPDATE",
    "STAGE_OF_KIND",
    "SYNC_KINDS",
    "UNDO_DELETE",
    "UPDATE",
    "Kind",
]
