"""The kinds of write a job makes: the names its operation rows carry, and which stage
and which lane each belongs to.

Light on purpose (the wire vocabulary only): ``status`` reads them without loading the
write protocol.
"""

from __future__ import annotations

from ytsync.wire import Stage

CREATE, ADD, DELETE = "create_playlist", "add_video", "delete_playlist"
# The reuse strategy: a kept playlist's title and privacy set ("update:<category>"), and
# an item that does not belong removed from it ("remove:<playlist item id>").
UPDATE, REMOVE = "update_playlist", "remove_item"
RESTORE, RESTORE_ITEM = "restore_playlist", "restore_item"
# Restore after a reuse (ytsync.sync.unkeep): a kept playlist's old title, description
# and privacy set back, and the items in the way of its old order removed.
RESTORE_UPDATE, RESTORE_REMOVE = "restore_update", "restore_remove"
# A settled check's repairs of ytsync's own extra copies (ytsync.sync.audit): a copy of
# a video in a category playlist ("copy:<item id>"), a second playlist made for one
# category ("drop:<playlist id>").  Rows like any write, so a check commits its verdicts
# and what it will delete in one step, and the deletions go through the protocol.
DEDUPE, DROP = "remove_copy", "drop_playlist"
# An organize run (ytsync.organize.write): a video's item taken out of the inbox once
# YouTube shows the video in its category ("inbox:<organize item>"); its additions are
# ADD rows like a sync's.
INBOX_REMOVE = "inbox_remove"
STAGE_OF_KIND = {
    RESTORE_UPDATE: Stage.RESTORE_PLAYLISTS,
    RESTORE_REMOVE: Stage.RESTORE_ITEMS,
    CREATE: Stage.CREATE_PLAYLISTS,
    UPDATE: Stage.CREATE_PLAYLISTS,
    ADD: Stage.ADD_VIDEOS,
    DELETE: Stage.DELETE_PLAYLISTS,
    REMOVE: Stage.DELETE_PLAYLISTS,
    RESTORE: Stage.RESTORE_PLAYLISTS,
    RESTORE_ITEM: Stage.RESTORE_ITEMS,
    DEDUPE: Stage.ADD_VIDEOS,
    DROP: Stage.CREATE_PLAYLISTS,
    INBOX_REMOVE: Stage.REMOVE_FROM_INBOX,
}
# The kinds a stage's figures count: a check's repairs are counted by the check.
SYNC_KINDS = (CREATE, UPDATE, ADD, DELETE, REMOVE)
REPAIRS = (DEDUPE, DROP)
# Kinds whose lane is a category's playlist (else an old or restored playlist's).
BY_CATEGORY = (ADD, DEDUPE)
RESTORE_KINDS = (RESTORE, RESTORE_UPDATE, RESTORE_ITEM, RESTORE_REMOVE)
ORGANIZE_KINDS = (ADD, INBOX_REMOVE)

__all__ = [
    "ADD",
    "BY_CATEGORY",
    "CREATE",
    "DEDUPE",
    "DELETE",
    "DROP",
    "INBOX_REMOVE",
    "ORGANIZE_KINDS",
    "REMOVE",
    "REPAIRS",
    "RESTORE",
    "RESTORE_ITEM",
    "RESTORE_KINDS",
    "RESTORE_REMOVE",
    "RESTORE_UPDATE",
    "STAGE_OF_KIND",
    "SYNC_KINDS",
    "UPDATE",
]
