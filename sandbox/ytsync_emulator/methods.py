"""The YouTube Data API v3 methods the project uses, over an ``EmulatorState``.

Each handler takes a ``Call``, returns ``(status, body)`` or raises ``ApiError``, sets
``call.applied`` when it changed the state, and takes ``state.lock`` itself (an insert
held by ``write_latency``/``hold_writes`` releases it while it waits).
"""

from __future__ import annotations

import time
from datetime import datetime

from .errors import ApiError
from .errors import invalid_parameter as _invalid
from .model import PRIVACIES, Playlist, PlaylistItem
from .quota import COSTS
from .render import render_item, render_playlist, render_video
from .request import Call, Handler, JsonDict, etag, list_response
from .state import EmulatorState

# YouTube Help, "Playlist titles cannot include invalid characters": titles up to 150
# characters, descriptions up to 5,000, neither with '<', '>' or U+2028.
MAX_TITLE = 150
MAX_DESCRIPTION = 5000
REFUSED_CHARACTERS = ("<", ">", "\u2028")

# The part names each resource knows (API reference); any other is 400 unknownPart.
CHANNEL_PARTS = frozenset(
    {
        "auditDetails",
        "brandingSettings",
        "contentDetails",
        "contentOwnerDetails",
        "id",
        "localizations",
        "snippet",
        "statistics",
        "status",
        "topicDetails",
    }
)
PLAYLIST_PARTS = frozenset({"contentDetails", "id", "localizations", "player", "snippet", "status"})
ITEM_PARTS = frozenset({"contentDetails", "id", "snippet", "status"})
VIDEO_PARTS = frozenset(
    {
        "contentDetails",
        "fileDetails",
        "id",
        "liveStreamingDetails",
        "localizations",
        "paidProductPlacementDetails",
        "player",
        "processingDetails",
        "recordingDetails",
        "snippet",
        "statistics",
        "status",
        "suggestions",
        "topicDetails",
    }
)


def channels_list(call: Call) -> tuple[int, JsonDict | None]:
    parts = call.parts(CHANNEL_PARTS)
    state = call.state
    with state.lock:
        ids = call.ids("id")
        if call.param("mine") != "true" and not ids:
            raise ApiError(
                _invalid("No filter selected. Expected one of: mine, id, forHandle.", location="")
            )
        mine = call.param("mine") == "true" or state.channel_id in ids
        channel: JsonDict = {
            "kind": "youtube#channel",
            "etag": etag(state.channel_id),
            "id": state.channel_id,
        }
        if "snippet" in parts:
            channel["snippet"] = {
                "title": state.channel_title,
                "description": "",
                "publishedAt": state.channel_published_at,
            }
        if "contentDetails" in parts:
            channel["contentDetails"] = {
                "relatedPlaylists": {"likes": "LL", "uploads": state.uploads_id}
            }
        return 200, list_response(
            "youtube#channelListResponse", call, [channel] if mine else [], lambda c: c
        )


def playlists_list(call: Call) -> tuple[int, JsonDict | None]:
    parts = call.parts(PLAYLIST_PARTS)
    state = call.state
    with state.lock:
        ids = call.ids("id")
        if ids:
            # Asking by id returns special lists too, as the real API does for uploads.
            # A look-up by id is a list too: it lags like the others.
            lag = state.list_lag()
            found = [
                p
                for p in (state.playlists.get(i) for i in ids)
                if p is not None and not state.lagging(p.created_at, call.now, lag)
            ]
        elif call.param("mine") == "true" or call.param("channelId") == state.channel_id:
            lag = state.list_lag()
            found = [
                p
                for p in state.playlists.values()
                if (state.list_special_playlists or not p.special)
                and not state.lagging(p.created_at, call.now, lag)
            ]
        elif call.param("channelId"):
            found = []
        else:
            raise ApiError(
                _invalid("No filter selected. Expected one of: mine, id, channelId.", location="")
            )
        return 200, list_response(
            "youtube#playlistListResponse",
            call,
            found,
            lambda p: render_playlist(state, p, parts),
        )


def _snippet_fields(state: EmulatorState, body: JsonDict, parts: set[str]) -> tuple[str, str]:
    """Title and description of a playlist write.  Only the parts named in ``part`` are
    read, as on YouTube: a body's snippet without ``snippet`` in ``part`` is ignored."""
    snippet = body.get("snippet") if "snippet" in parts else {}
    if not isinstance(snippet, dict):
        raise ApiError("invalidPlaylistSnippet")
    title = snippet.get("title")
    description = snippet.get("description") or ""
    if not isinstance(title, str) or not title.strip():
        raise ApiError("playlistTitleRequired")
    if not isinstance(description, str):
        raise ApiError("invalidPlaylistSnippet")
    if _refused(title, MAX_TITLE) or _refused(description, MAX_DESCRIPTION):
        raise ApiError(state.title_refusal)
    return title, description


def _refused(text: str, limit: int) -> bool:
    return len(text) > limit or any(char in text for char in REFUSED_CHARACTERS)


def _privacy(body: JsonDict, parts: set[str], default: str) -> str:
    """The privacy a playlist write sets: ``default`` unless ``status`` is in ``part``."""
    if "status" not in parts:
        return default
    status = body.get("status") or {}
    if not isinstance(status, dict):
        raise ApiError(_invalid("Invalid status.", location="status"))
    privacy = status.get("privacyStatus") or default
    if privacy not in PRIVACIES:
        raise ApiError(
            _invalid(f"Invalid privacy status: {privacy}", location="status.privacyStatus")
        )
    return str(privacy)


def playlists_insert(call: Call) -> tuple[int, JsonDict | None]:
    parts = call.parts(PLAYLIST_PARTS)
    body = call.json_body()
    state = call.state
    title, description = _snippet_fields(state, body, parts)
    # Without "status" in part, status.privacyStatus is ignored: a new playlist is public.
    privacy = _privacy(body, parts, "public")
    with state.lock:
        limit = state.playlist_create_limit_per_period
        period = state.period(call.now)
        if limit is not None and state.creates[period] >= limit:
            raise ApiError("playlistCreationRateLimited")
        cap = state.max_playlists
        if cap is not None and sum(not p.special for p in state.playlists.values()) >= cap:
            raise ApiError("maxPlaylistExceeded")
        playlist = state.create_playlist(title, description, privacy, call.now)
        state.creates[period] += 1
        call.applied = True
        call.resource_id = call.playlist_id = playlist.id
        return 200, render_playlist(state, playlist, parts)


def playlists_update(call: Call) -> tuple[int, JsonDict | None]:
    parts = call.parts(PLAYLIST_PARTS)
    body = call.json_body()
    state = call.state
    title, description = _snippet_fields(state, body, parts)
    with state.lock:
        pid = body.get("id")
        call.playlist_id = call.resource_id = pid if isinstance(pid, str) else None
        playlist = state.playlists.get(pid) if isinstance(pid, str) else None
        if playlist is None:
            raise ApiError("playlistNotFound")
        if playlist.special:
            raise ApiError("playlistForbidden")
        playlist.title, playlist.description = title, description
        playlist.privacy = _privacy(body, parts, playlist.privacy)
        call.applied = True
        return 200, render_playlist(state, playlist, parts)


def playlists_delete(call: Call) -> tuple[int, JsonDict | None]:
    state = call.state
    pid = call.param("id") or ""
    call.playlist_id = call.resource_id = pid
    with state.lock:
        playlist = state.playlists.get(pid)
        if playlist is None:
            raise ApiError("playlistNotFound")
        if playlist.special:
            raise ApiError("playlistForbidden")
        state.delete_playlist(playlist, call.now)
        call.applied = True
        return 204, None


def playlist_items_list(call: Call) -> tuple[int, JsonDict | None]:
    parts = call.parts(ITEM_PARTS)
    state = call.state
    pid = call.param("playlistId")
    wanted_video = call.param("videoId")
    call.playlist_id, call.video_id = pid, wanted_video
    with state.lock:
        rows: list[tuple[Playlist, int, PlaylistItem]] = []
        lag = state.list_lag()
        if pid is not None:
            playlist = state.playlists.get(pid)
            if playlist is None:
                raise ApiError("playlistNotFound")
            rows = [
                (playlist, pos, item)
                for pos, item in enumerate(playlist.items)
                if (wanted_video is None or item.video_id == wanted_video)
                and not state.lagging(item.created_at, call.now, lag)
            ]
        elif ids := call.ids("id"):
            for item_id in ids:
                owner = state.item_index.get(item_id)
                if owner is None:
                    continue
                playlist = state.playlists[owner]
                for pos, item in enumerate(playlist.items):
                    if item.id == item_id and not state.lagging(item.created_at, call.now, lag):
                        rows.append((playlist, pos, item))
        else:
            raise ApiError(
                _invalid("No filter selected. Expected one of: playlistId, id.", location="")
            )
        return 200, list_response(
            "youtube#playlistItemListResponse",
            call,
            rows,
            lambda row: render_item(state, row[0], row[1], row[2], parts),
        )


def playlist_items_insert(call: Call) -> tuple[int, JsonDict | None]:
    parts = call.parts(ITEM_PARTS)
    body = call.json_body()
    snippet = body.get("snippet")
    if not isinstance(snippet, dict):
        raise ApiError(_invalid("Required: snippet", location="snippet"))
    call.sent_position = "position" in snippet
    resource = snippet.get("resourceId")
    pid = snippet.get("playlistId")
    vid = resource.get("videoId") if isinstance(resource, dict) else None
    call.playlist_id = pid if isinstance(pid, str) else None
    call.video_id = vid if isinstance(vid, str) else None
    if not isinstance(pid, str) or not pid:
        raise ApiError(_invalid("Required: snippet.playlistId", location="snippet.playlistId"))
    if not isinstance(resource, dict) or resource.get("kind") != "youtube#video":
        raise ApiError(_invalid("Invalid resource kind.", location="snippet.resourceId.kind"))
    if not isinstance(vid, str) or not vid:
        raise ApiError("videoNotFound")
    position = snippet.get("position")
    state = call.state
    with state.lock:
        playlist = _check_insert(state, pid, vid, call.now)
        hold, latency = state.write_hold, state.write_latency
        if hold is None and latency <= 0:
            return _apply_insert(call, playlist, vid, position, parts)
        # Simulated processing time: the playlist stays busy, other inserts get 409.
        state.busy.add(pid)
        state.changed.notify_all()
    try:
        if hold is not None:
            hold.event.wait(timeout=30.0)
        if latency > 0:
            time.sleep(latency)
    except BaseException:
        with state.lock:
            state.busy.discard(pid)
            state.changed.notify_all()
        raise
    with state.lock:
        state.busy.discard(pid)
        state.changed.notify_all()
        # Things may have moved while we waited (a delete, another insert).
        playlist = _check_insert(state, pid, vid, call.now, busy_ok=True)
        return _apply_insert(call, playlist, vid, position, parts)


def _check_insert(
    state: EmulatorState, pid: str, vid: str, now: datetime, *, busy_ok: bool = False
) -> Playlist:
    """Lock held.  The playlist to insert into, or the error the real API gives."""
    playlist = state.playlists.get(pid)
    if playlist is None or _too_new(state.not_found_after_create_seconds, playlist, now):
        raise ApiError("playlistNotFound")
    if playlist.kind == "watch_later" and any(i.video_id == vid for i in playlist.items):
        raise ApiError("videoAlreadyInPlaylist")
    if playlist.special:
        raise ApiError("playlistOperationUnsupported")
    video = state.videos.get(vid)
    if video is None or video.deleted:
        raise ApiError("videoNotFound")
    if video.privacy == "private" and video.owner_channel_id != state.channel_id:
        raise ApiError("failedPrecondition")
    if len(playlist.items) >= state.max_playlist_items:
        raise ApiError("playlistContainsMaximumNumberOfVideos")
    if not busy_ok and pid in state.busy:
        raise ApiError("operationAborted")
    if _too_new(state.conflict_after_create_seconds, playlist, now):
        raise ApiError("operationAborted")
    return playlist


def _too_new(window: float, playlist: Playlist, now: datetime) -> bool:
    return window > 0 and (now - playlist.created_at).total_seconds() < window


def _apply_insert(
    call: Call, playlist: Playlist, vid: str, position: object, parts: set[str]
) -> tuple[int, JsonDict | None]:
    """Lock held."""
    state = call.state
    item = PlaylistItem(state.new_item_id(), vid, call.now)
    # The real API honours snippet.position; clients must not send it (see DESIGN.md).
    if isinstance(position, int) and 0 <= position < len(playlist.items):
        playlist.items.insert(position, item)
        at = position
    else:
        playlist.items.append(item)
        at = len(playlist.items) - 1
    state.item_index[item.id] = playlist.id
    call.applied = True
    call.resource_id = item.id
    return 200, render_item(state, playlist, at, item, parts)


def playlist_items_delete(call: Call) -> tuple[int, JsonDict | None]:
    state = call.state
    item_id = call.param("id") or ""
    call.resource_id = item_id
    with state.lock:
        pid = state.item_index.get(item_id)
        if pid is None:
            raise ApiError("playlistItemNotFound")
        playlist = state.playlists[pid]
        call.playlist_id = pid
        if playlist.special:
            raise ApiError("playlistOperationUnsupported")
        call.video_id = state.remove_item(playlist, item_id, call.now)
        call.applied = True
        return 204, None


def videos_list(call: Call) -> tuple[int, JsonDict | None]:
    parts = call.parts(VIDEO_PARTS)
    ids = list(dict.fromkeys(call.ids("id")))
    if not ids:
        raise ApiError(_invalid("No filter selected. Expected one of: id.", location="id"))
    if len(ids) > 50:
        raise ApiError(_invalid("Too many ids: at most 50.", location="id"))
    state = call.state
    with state.lock:
        # Someone else's private video is absent, like a deleted one.
        found = [
            v
            for v in (state.videos.get(i) for i in ids)
            if v is not None
            and not v.deleted
            and (v.privacy != "private" or v.owner_channel_id == state.channel_id)
        ]
        response: JsonDict = {
            "kind": "youtube#videoListResponse",
            "etag": etag(tuple(ids)),
            "pageInfo": {"totalResults": len(found), "resultsPerPage": len(found)},
            "items": [render_video(state, v, parts) for v in found],
        }
        return 200, response


# (verb, resource) -> (method name, quota cost, handler)
ROUTES: dict[tuple[str, str], tuple[str, int, Handler]] = {
    ("GET", "channels"): ("channels.list", COSTS["channels.list"], channels_list),
    ("GET", "playlists"): ("playlists.list", COSTS["playlists.list"], playlists_list),
    ("POST", "playlists"): ("playlists.insert", COSTS["playlists.insert"], playlists_insert),
    ("PUT", "playlists"): ("playlists.update", COSTS["playlists.update"], playlists_update),
    ("DELETE", "playlists"): ("playlists.delete", COSTS["playlists.delete"], playlists_delete),
    ("GET", "playlistItems"): (
        "playlistItems.list",
        COSTS["playlistItems.list"],
        playlist_items_list,
    ),
    ("POST", "playlistItems"): (
        "playlistItems.insert",
        COSTS["playlistItems.insert"],
        playlist_items_insert,
    ),
    ("DELETE", "playlistItems"): (
        "playlistItems.delete",
        COSTS["playlistItems.delete"],
        playlist_items_delete,
    ),
    ("GET", "videos"): ("videos.list", COSTS["videos.list"], videos_list),
}
