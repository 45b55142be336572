"""Error bodies the emulator sends, shaped exactly like the real YouTube Data API ones.

The shapes come from ``shared/youtube-errors.json`` (real bodies from Google's docs and
public bug reports).  They are copied here as constants rather than read at run time so
the emulator works from an installed package with no access to the shared folder.
Clients must match on ``error.errors[0].reason``, never on the message text, so the
messages only need to look plausible; reasons, domains, codes and status must be exact.
"""

from __future__ import annotations

import copy
from typing import Any

JsonDict = dict[str, Any]


def _body(
    code: int,
    message: str,
    domain: str,
    reason: str,
    *,
    status: str | None = None,
    location: str | None = None,
    inner_message: str | None = None,
) -> JsonDict:
    inner: JsonDict = {"message": inner_message or message, "domain": domain, "reason": reason}
    if location is not None:
        inner["location"] = location
        inner["locationType"] = "header" if location == "Authorization" else "parameter"
    error: JsonDict = {"code": code, "message": message, "errors": [inner]}
    if status is not None:
        error["status"] = status
    return {"error": error}


_QUOTA_MSG = (
    'The request cannot be completed because you have exceeded your <a href="/youtube/v3/'
    'getting-started#quota">quota</a>.'
)
_PLAYLIST_NOT_FOUND_MSG = (
    "The playlist identified with the request's <code>playlistId</code> parameter cannot be found."
)
_UPLOADS_MSG = (
    "Quota exceeded for quota metric 'Video Uploads' and limit 'Video Uploads per day' of"
    " service 'youtube.googleapis.com'."
)
_CREATE_MSG = (
    "You are creating too many playlists. Please wait a while before creating further playlists."
)

# The service and method names Google's ErrorInfo metadata gives for each API method.
_RPC_METHODS = {
    "channels.list": "V3DataChannelService.List",
    "playlists.list": "V3DataPlaylistService.List",
    "playlists.insert": "V3DataPlaylistService.Insert",
    "playlists.update": "V3DataPlaylistService.Update",
    "playlists.delete": "V3DataPlaylistService.Delete",
    "playlistItems.list": "V3DataPlaylistItemService.List",
    "playlistItems.insert": "V3DataPlaylistItemService.Insert",
    "playlistItems.delete": "V3DataPlaylistItemService.Delete",
    "videos.list": "V3DataVideoService.List",
}


def insufficient_permissions(method: str) -> JsonDict:
    """403 for a token without the youtube scope, naming the refused method as Google
    does in ``details[].metadata``."""
    body = _body(
        403,
        "Request had insufficient authentication scopes.",
        "global",
        "insufficientPermissions",
        status="PERMISSION_DENIED",
        inner_message="Insufficient Permission",
    )
    body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {
                "service": "youtube.googleapis.com",
                "method": "youtube.api.v3." + _RPC_METHODS.get(method, "V3DataService.Unknown"),
            },
        }
    ]
    return body


def unknown_part(name: str) -> JsonDict:
    """400 for a ``part`` name the method does not know; the message quotes the name."""
    return _body(400, f"'{name}'", "youtube.part", "unknownPart", location="part")


# Keyed by the case names of youtube-errors.json, plus a few the file does not cover
# (marked "not in the file"): their reasons follow Google's published error tables.
# A case the file gives several bodies for is listed in ALTERNATIVES.
BODIES: dict[str, JsonDict] = {
    "quotaExceeded": _body(403, _QUOTA_MSG, "youtube.quota", "quotaExceeded"),
    "dailyLimitExceeded": _body(
        403,
        "Daily Limit Exceeded. The quota will be reset at midnight Pacific Time (PT).",
        "usageLimits",
        "dailyLimitExceeded",
    ),
    "rateLimitExceeded": _body(429, _UPLOADS_MSG, "global", "rateLimitExceeded"),
    "playlistCreationRateLimited": _body(
        429,
        _CREATE_MSG,
        "gdata.CoreErrorDomain",
        "RATE_LIMIT_EXCEEDED",
        status="RESOURCE_EXHAUSTED",
    ),
    "playlistNotFound": _body(
        404,
        _PLAYLIST_NOT_FOUND_MSG,
        "youtube.playlistItem",
        "playlistNotFound",
        status="NOT_FOUND",
        location="playlistId",
    ),
    "videoNotFound": _body(404, "Video not found.", "youtube.playlistItem", "videoNotFound"),
    "failedPrecondition": _body(
        400,
        "Precondition check failed.",
        "global",
        "failedPrecondition",
        status="FAILED_PRECONDITION",
    ),
    "playlistContainsMaximumNumberOfVideos": _body(
        403,
        "Playlist contains maximum number of items.",
        "youtube.playlistItem",
        "playlistContainsMaximumNumberOfVideos",
    ),
    "playlistOperationUnsupported": _body(
        400,
        "The API does not support the ability to insert videos into the specified playlist.",
        "youtube.playlistItem",
        "playlistOperationUnsupported",
        location="playlistId",
    ),
    "videoAlreadyInPlaylist": _body(
        409, "Video already in playlist.", "youtube.playlistItem", "videoAlreadyInPlaylist"
    ),
    "operationAborted": _body(
        409,
        "The operation was aborted.",
        "youtube.CoreErrorDomain",
        "SERVICE_UNAVAILABLE",
        status="ABORTED",
    ),
    "authError": _body(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login"
        " cookie or other valid authentication credential.",
        "global",
        "authError",
        status="UNAUTHENTICATED",
        location="Authorization",
        inner_message="Invalid Credentials",
    ),
    "backendError": _body(500, "Backend Error", "global", "backendError"),
    # Not in the file: the 503 twin of backendError.
    "backendError503": _body(
        503,
        "The service is currently unavailable.",
        "global",
        "backendError",
        status="UNAVAILABLE",
    ),
    # Not in the file: the historical 403 forms of rate limiting.
    "rateLimitExceeded403": _body(403, "Rate Limit Exceeded", "usageLimits", "rateLimitExceeded"),
    "userRateLimitExceeded403": _body(
        403, "User Rate Limit Exceeded", "usageLimits", "userRateLimitExceeded"
    ),
    # Not in the file: validation and lookup errors from the API reference.
    "playlistTitleRequired": _body(
        400,
        "The request must specify a playlist title.",
        "youtube.playlist",
        "playlistTitleRequired",
    ),
    "invalidPlaylistSnippet": _body(
        400,
        "The request provides an invalid playlist snippet.",
        "youtube.playlist",
        "invalidPlaylistSnippet",
    ),
    # The vaguer answer users of other clients saw for a refused title.
    "badRequest": _body(
        400,
        "Sorry, something went wrong.",
        "global",
        "badRequest",
        status="INVALID_ARGUMENT",
    ),
    "insufficientPermissions": insufficient_permissions("playlistItems.insert"),
    "unknownPart": unknown_part("snippets"),
    "maxPlaylistExceeded": _body(
        400,
        "The playlist cannot be created because the channel already has the maximum number"
        " of playlists allowed.",
        "youtube.playlist",
        "maxPlaylistExceeded",
    ),
    "playlistItemNotFound": _body(
        404,
        "The playlist item identified with the request's <code>id</code> parameter cannot be"
        " found.",
        "youtube.playlistItem",
        "playlistItemNotFound",
        status="NOT_FOUND",
        location="id",
    ),
    "playlistForbidden": _body(
        403,
        "The playlist cannot be modified.",
        "youtube.playlist",
        "playlistForbidden",
        status="PERMISSION_DENIED",
    ),
    "invalidPageToken": _body(
        400, "The request specifies an invalid page token.", "youtube.parameter", "invalidPageToken"
    ),
    "notFound": _body(404, "Not Found", "global", "notFound", status="NOT_FOUND"),
}

# Cases of youtube-errors.json with more than one real body: the keys of BODIES that
# hold them, in the file's order.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "titleRefused": ("invalidPlaylistSnippet", "badRequest"),
}

# The OAuth token endpoint answers in the RFC 6749 shape, not the API's.
INVALID_GRANT: JsonDict = {
    "error": "invalid_grant",
    "error_description": "Token has been expired or revoked.",
}
INVALID_CLIENT: JsonDict = {
    "error": "invalid_client",
    "error_description": "The OAuth client was not found.",
}
UNSUPPORTED_GRANT: JsonDict = {
    "error": "unsupported_grant_type",
    "error_description": "Invalid grant_type.",
}


def invalid_parameter(message: str, *, location: str) -> JsonDict:
    """A 400 for a malformed parameter (range, count, missing value)."""
    return _body(
        400,
        message,
        "youtube.parameter",
        "invalidParameter",
        status="INVALID_ARGUMENT",
        location=location,
    )


class ApiError(Exception):
    """Raised inside the emulator to answer a request with one of the bodies above."""

    def __init__(self, case: str | JsonDict) -> None:
        body = copy.deepcopy(BODIES[case] if isinstance(case, str) else case)
        self.body: JsonDict = body
        self.status: int = int(body["error"]["code"])
        self.reason: str = str(body["error"]["errors"][0]["reason"])
        super().__init__(f"{self.status} {self.reason}")
