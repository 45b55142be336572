"""Turn whatever a YouTube call raised into one of a few outcomes the sync acts on.

Decisions read ``error.errors[].reason`` (and ``error.details[].reason``) from the JSON
body, never the message text or ``HttpError.reason``, which Google rewords freely.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from enum import StrEnum

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError


class Outcome(StrEnum):
    QUOTA_EXHAUSTED = "quota_exhausted"  # sleep until the reset; never retry now
    RATE_LIMITED = "rate_limited"  # back off; persistent on playlist creation
    TRANSIENT = "transient"  # 5xx, 409 aborted: retry later, the write was not applied
    UNKNOWN_RESULT = "unknown_result"  # connection lost: the write may have been applied
    NOT_FOUND = "not_found"  # playlistNotFound
    ITEM_UNAVAILABLE = "item_unavailable"  # private or deleted video: skip it
    PLAYLIST_FULL = "playlist_full"  # 5,000 items
    ALREADY_PRESENT = "already_present"  # 409 videoAlreadyInPlaylist
    AUTH_REQUIRED = "auth_required"  # refresh token revoked/expired, or 401 after refresh
    PERMANENT = "permanent"  # anything else a retry cannot fix


QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
UNAVAILABLE_REASONS = {"videoNotFound", "failedPrecondition", "forbidden", "videoNotAvailable"}


@dataclass(frozen=True)
class ApiFailure:
    outcome: Outcome
    status: int | None
    reason: str
    message: str

    def describe(self) -> str:
        code = f"HTTP {self.status} " if self.status else ""
        return f"{code}{self.reason}: {self.message}".strip()


def reasons_of(content: bytes) -> tuple[list[str], str]:
    """All reasons in an error body, and its top-level message."""
    try:
        body = json.loads(content.decode("utf-8"))
        error = body.get("error", {})
    except (ValueError, UnicodeDecodeError, AttributeError):
        return [], ""
    if not isinstance(error, dict):
        return [], str(error)
    reasons = [str(e.get("reason", "")) for e in error.get("errors", []) if isinstance(e, dict)]
    reasons += [str(d.get("reason", "")) for d in error.get("details", []) if isinstance(d, dict)]
    return [r for r in reasons if r], str(error.get("message", ""))


def classify_http_error(err: HttpError) -> ApiFailure:
    status = int(err.resp.status)
    reasons, message = reasons_of(err.content or b"")
    reason = reasons[0] if reasons else f"http{status}"

    def failure(outcome: Outcome) -> ApiFailure:
        return ApiFailure(outcome, status, reason, message)

    found = set(reasons)
    if found & QUOTA_REASONS:
        return failure(Outcome.QUOTA_EXHAUSTED)
    if status == 429 or found & RATE_REASONS:
        return failure(Outcome.RATE_LIMITED)
    if status == 401:
        return failure(Outcome.AUTH_REQUIRED)
    if "videoAlreadyInPlaylist" in found:
        return failure(Outcome.ALREADY_PRESENT)
    if status == 409 or status >= 500:
        return failure(Outcome.TRANSIENT)
    if "playlistNotFound" in found or "playlistItemNotFound" in found:
        return failure(Outcome.NOT_FOUND)
    if "playlistContainsMaximumNumberOfVideos" in found:
        return failure(Outcome.PLAYLIST_FULL)
    if found & UNAVAILABLE_REASONS:
        return failure(Outcome.ITEM_UNAVAILABLE)
    if status == 404:
        return failure(Outcome.NOT_FOUND)
    return failure(Outcome.PERMANENT)


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    http.client.HTTPException,
    httplib2.HttpLib2Error,
    socket.timeout,
    TimeoutError,
    TransportError,
    OSError,
)


def classify(exc: BaseException) -> ApiFailure | None:
    """The outcome of a failed call, or None when the exception is not an API failure."""
    if isinstance(exc, HttpError):
        return classify_http_error(exc)
    if isinstance(exc, RefreshError):
        # Keep the token endpoint's words out of it: they can echo request fields.
        return ApiFailure(Outcome.AUTH_REQUIRED, None, "invalid_grant", "refresh token rejected")
    if isinstance(exc, TRANSPORT_ERRORS):
        return ApiFailure(Outcome.UNKNOWN_RESULT, None, type(exc).__name__, "no answer received")
    return None
