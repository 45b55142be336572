"""Plain records the emulator keeps in memory.

Slotted dataclasses keep a 100,000-video library and a request log of the same size in
tens of megabytes; strings such as owner titles and topics are shared, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Privacy = Literal["public", "unlisted", "private"]
PRIVACIES: frozenset[str] = frozenset({"public", "unlisted", "private"})

# What a playlist is: special lists behave differently on writes and listing.
PlaylistKind = Literal["normal", "uploads", "likes", "watch_later"]


@dataclass(slots=True)
class Video:
    id: str
    title: str
    privacy: str
    deleted: bool
    owner_channel_id: str
    owner_title: str
    published_at: str
    topic: str = ""  # e.g. "Cooking"; used by the sample plan
    genre: str = ""  # e.g. "Baking"; a finer category within the topic
    # ISO 8601, as contentDetails.duration gives it: "PT45S" (a Short), "PT1H2M3S";
    # "P0D" for a live or upcoming broadcast.
    duration: str = "PT4M13S"


@dataclass(slots=True)
class PlaylistItem:
    id: str
    video_id: str
    # When it was added (emulator clock), by an API call or by the owner; None: there
    # from the start.
    created_at: datetime | None = None


@dataclass(slots=True, frozen=True)
class RemovedItem:
    """An item a playlistItems.delete call removed: which, from where, and when."""

    item_id: str
    playlist_id: str
    video_id: str
    time: datetime


@dataclass(slots=True, frozen=True)
class DeletedPlaylist:
    """A playlist as it was when a playlists.delete call removed it, items and all."""

    playlist_id: str
    title: str
    time: datetime
    items: tuple[PlaylistItem, ...]

    @property
    def video_ids(self) -> list[str]:
        return [item.video_id for item in self.items]


@dataclass(slots=True)
class Playlist:
    id: str
    title: str
    description: str
    privacy: str
    published_at: str
    created_at: datetime  # by the emulator clock; drives the "just created" 409 window
    kind: PlaylistKind = "normal"
    items: list[PlaylistItem] = field(default_factory=list)

    @property
    def special(self) -> bool:
        return self.kind != "normal"


@dataclass(slots=True, frozen=True)
class RequestRecord:
    """One request as the server saw it, for invariant checks after a run.

    ``units`` is what the quota was charged; ``applied`` says whether a write changed
    the state (true even when the response was then lost); ``sent_position`` is true
    when a playlistItems.insert body carried ``snippet.position``; ``connection`` numbers
    the TCP connection, which shows transport-level re-sends.
    """

    seq: int
    time: datetime
    method: str
    status: int
    units: int
    applied: bool
    playlist_id: str | None = None
    video_id: str | None = None
    resource_id: str | None = None
    sent_position: bool = False
    fault: str | None = None
    connection: int = 0
