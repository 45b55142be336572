"""JSON resources as the real API shapes them, including what it hides.

Items whose video was deleted show "Deleted video"; someone else's private video shows
"Private video"; neither carries the owner fields.  The owner sees their own private
uploads normally.
"""

from __future__ import annotations

from .model import Playlist, PlaylistItem, Video
from .request import JsonDict, etag
from .state import LONG_AGO, EmulatorState, iso


def render_playlist(state: EmulatorState, playlist: Playlist, parts: set[str]) -> JsonDict:
    out: JsonDict = {
        "kind": "youtube#playlist",
        "etag": etag(playlist.id, playlist.title, len(playlist.items)),
        "id": playlist.id,
    }
    if "snippet" in parts:
        out["snippet"] = {
            "publishedAt": playlist.published_at,
            "channelId": state.channel_id,
            "title": playlist.title,
            "description": playlist.description,
            "channelTitle": state.channel_title,
            "localized": {"title": playlist.title, "description": playlist.description},
        }
    if "contentDetails" in parts:
        out["contentDetails"] = {"itemCount": len(playlist.items)}
    if "status" in parts:
        out["status"] = {"privacyStatus": playlist.privacy}
    return out


def render_item(
    state: EmulatorState, playlist: Playlist, position: int, item: PlaylistItem, parts: set[str]
) -> JsonDict:
    video = state.videos.get(item.video_id)
    own = video is not None and video.owner_channel_id == state.channel_id
    out: JsonDict = {
        "kind": "youtube#playlistItem",
        "etag": etag(item.id, position),
        "id": item.id,
    }
    # What the real API shows for videos the caller may not see.
    if video is None or video.deleted:
        title, description, privacy, owner = (
            "Deleted video",
            "This video is unavailable.",
            "privacyStatusUnspecified",
            None,
        )
    elif video.privacy == "private" and not own:
        title, description, privacy, owner = (
            "Private video",
            "This video is private.",
            "private",
            None,
        )
    else:
        title, description, privacy, owner = video.title, "", video.privacy, video
    if "snippet" in parts:
        snippet: JsonDict = {
            # When the item was added to the playlist (the API reference's meaning).
            "publishedAt": iso(item.created_at or LONG_AGO),
            "channelId": state.channel_id,
            "title": title,
            "description": description,
            "channelTitle": state.channel_title,
            "playlistId": playlist.id,
            "position": position,
            "resourceId": {"kind": "youtube#video", "videoId": item.video_id},
        }
        if owner is not None:
            snippet["videoOwnerChannelTitle"] = owner.owner_title
            snippet["videoOwnerChannelId"] = owner.owner_channel_id
        out["snippet"] = snippet
    if "contentDetails" in parts:
        details: JsonDict = {"videoId": item.video_id}
        if owner is not None:
            details["videoPublishedAt"] = owner.published_at
        out["contentDetails"] = details
    if "status" in parts:
        out["status"] = {"privacyStatus": privacy}
    return out


def render_video(state: EmulatorState, video: Video, parts: set[str]) -> JsonDict:
    out: JsonDict = {
        "kind": "youtube#video",
        "etag": etag(video.id, video.privacy),
        "id": video.id,
    }
    if "snippet" in parts:
        out["snippet"] = {
            "publishedAt": video.published_at,
            "channelId": video.owner_channel_id,
            "title": video.title,
            "description": "",
            "channelTitle": video.owner_title,
        }
    if "contentDetails" in parts:
        out["contentDetails"] = {
            "duration": video.duration,
            "dimension": "2d",
            "definition": "hd",
            "caption": "false",
            "licensedContent": False,
            "contentRating": {},
            "projection": "rectangular",
        }
    if "status" in parts:
        out["status"] = {
            "uploadStatus": "processed",
            "privacyStatus": video.privacy,
            "embeddable": True,
            "publicStatsViewable": True,
        }
    return out
