"""What ytsync reads from YouTube's answers, as pydantic models checked at the client.

Each model names only the fields ytsync uses, with their JSON types (strict: a number
is not a string, nor the reverse), and passes over every other field: YouTube adds
fields freely.  The client checks each answer against its model and hands back the
answer's own dicts, so the code reading them can trust ``item["contentDetails"]
["videoId"]`` to be a string.  An answer that is not what the API sends (an HTML page
from a proxy, items of the wrong type, a missing id) is one ``UnreadableAnswer``
naming what was asked, never an AttributeError deeper in.

Listings are bounded too: a ``nextPageToken`` seen before, or more pages than a listing
can have, ends the listing (``EndlessListing``) instead of spending the day's quota.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ytsync.youtube.errors import EndlessListing, UnreadableAnswer

# A playlist holds at most 5,000 items: 100 full pages of 50.  YouTube sometimes
# answers short pages, so twice that; a channel's playlists have no published limit,
# so 20,000 of them.  Every page costs a unit: the bound is what a broken listing may
# cost at most.
MAX_PAGES = {"playlistItems.list": 200, "playlists.list": 400}
DEFAULT_MAX_PAGES = 200
# How many of a model's problems a message lists.
SHOWN_PROBLEMS = 3


class _Part(BaseModel):
    # A part may be absent (its default); when present it has the type the API gives
    # it: null is not an object, nor a string.  Other fields are not looked at (the
    # answer's own dict, handed back, keeps them): ignoring them makes a check 5 times
    # faster than keeping them as extras.
    model_config = ConfigDict(extra="ignore", strict=True)


class PlaylistSnippet(_Part):
    title: str = ""
    description: str = ""


class PlaylistDetails(_Part):
    itemCount: int = Field(default=0, ge=0)


class Status(_Part):
    privacyStatus: str = ""


class Playlist(_Part):
    id: str = Field(min_length=1)
    snippet: PlaylistSnippet = Field(default_factory=PlaylistSnippet)
    contentDetails: PlaylistDetails = Field(default_factory=PlaylistDetails)
    status: Status = Field(default_factory=Status)


class ResourceId(_Part):
    videoId: str = ""


class ItemSnippet(_Part):
    title: str = ""
    position: int = Field(default=0, ge=0)
    resourceId: ResourceId = Field(default_factory=ResourceId)


class ItemDetails(_Part):
    videoId: str = Field(min_length=1)


class PlaylistItem(_Part):
    id: str = Field(min_length=1)
    snippet: ItemSnippet = Field(default_factory=ItemSnippet)
    contentDetails: ItemDetails
    status: Status = Field(default_factory=Status)


class VideoSnippet(_Part):
    title: str = ""
    channelId: str = ""


class Video(_Part):
    id: str = Field(min_length=1)
    snippet: VideoSnippet = Field(default_factory=VideoSnippet)
    status: Status = Field(default_factory=Status)


class ChannelDetails(_Part):
    relatedPlaylists: dict[str, str] = Field(default_factory=dict)


class Channel(_Part):
    id: str = Field(min_length=1)
    contentDetails: ChannelDetails = Field(default_factory=ChannelDetails)


# A list answer always has its items, an empty list when there are none: an answer
# without them (an error body sent with a 200) must not read as "no playlists", which
# would mark the whole library gone.
class PlaylistList(_Part):
    items: list[Playlist]
    nextPageToken: str | None = None


class PlaylistItemList(_Part):
    items: list[PlaylistItem]
    nextPageToken: str | None = None


class VideoList(_Part):
    items: list[Video]


class ChannelList(_Part):
    # The one list YouTube answers without items: mine=true for an account that has
    # no channel yet.
    items: list[Channel] = Field(default_factory=list)


class Created(_Part):
    """The answer to an insert: the new resource, of which ytsync keeps the id."""

    id: str = Field(min_length=1)


# What each method's answer must be; methods not named here (update, delete) answer
# with nothing ytsync reads.
MODELS: dict[str, type[_Part]] = {
    "playlists.list": PlaylistList,
    "playlistItems.list": PlaylistItemList,
    "videos.list": VideoList,
    "channels.list": ChannelList,
    "playlists.insert": Created,
    "playlistItems.insert": Created,
}


def checked(method: str, answer: Any) -> dict[str, Any]:
    """``answer`` to ``method``, once it holds what ytsync reads; UnreadableAnswer
    when it does not."""
    if isinstance(answer, (str, bytes)):
        # googleapiclient hands over a body it could not parse as JSON as it came.
        raise UnreadableAnswer(method, "it is not JSON (an HTML page or plain text?)")
    if not isinstance(answer, dict):
        raise UnreadableAnswer(method, f"it is a JSON {_json_type(answer)}, not an object")
    if "error" in answer:
        raise UnreadableAnswer(method, "it is an error body, sent as a success (HTTP 2xx)")
    model = MODELS.get(method)
    if model is not None:
        try:
            model.model_validate(answer)
        except ValidationError as exc:
            raise UnreadableAnswer(method, _problems(exc)) from None
    return answer


def _problems(exc: ValidationError) -> str:
    """Where the answer is wrong and how, never the values there (an answer is not
    ours to echo)."""
    errors = exc.errors(include_url=False, include_input=False)
    shown = [
        f"{'.'.join(str(part) for part in error['loc']) or 'the answer'}: {_reworded(error['msg'])}"
        for error in errors[:SHOWN_PROBLEMS]
    ]
    more = len(errors) - SHOWN_PROBLEMS
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def _reworded(message: str) -> str:
    """pydantic's words in JSON's ("a valid dictionary or instance of PlaylistItem" is
    "a JSON object")."""
    return re.sub(r"a valid dictionary( or instance of \w+)?", "a JSON object", message)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


class Pages:
    """Follows one listing's page tokens, and ends a listing that would not end."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.limit = MAX_PAGES.get(method, DEFAULT_MAX_PAGES)
        self.read = 0
        self._seen: set[str] = set()

    def follow(self, next_token: str | None) -> str | None:
        """The token of the page to read next after a page that gave ``next_token``;
        None at the end.  EndlessListing for a token given before, or one page too
        many."""
        self.read += 1
        if not next_token:
            return None
        if next_token in self._seen:
            raise EndlessListing(
                self.method,
                f"page {self.read} gives the nextPageToken of an earlier page, so the "
                f"listing would never end; stopped after {self.read} pages",
            )
        if self.read >= self.limit:
            raise EndlessListing(
                self.method,
                f"it goes on past {self.limit} pages, more than such a listing can have; "
                f"stopped after {self.read} pages",
            )
        self._seen.add(next_token)
        return next_token
