"""Turn whatever a YouTube call raised into one of a few outcomes the sync acts on.

Decisions read ``error.errors[].reason`` (and ``error.details[].reason``) from the JSON
body, never the message text or ``HttpError.reason``, which Google rewords freely.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import ssl
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
    AUTH_REQUIRED = "auth_required"  # refresh token revoked/expired, 401, or scope missing
    PERMANENT = "permanent"  # anything else a retry cannot fix
    # Not YouTube's answer: this machine failed (a token file it cannot write, a full
    # disk).  Retrying spends quota on a call whose result is lost again.
    LOCAL = "local"


QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
UNAVAILABLE_REASONS = {"videoNotFound", "failedPrecondition", "forbidden", "videoNotAvailable"}
# The token lacks the youtube scope: a sign-in problem, not a refusal of one item.
SCOPE_REASONS = {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube"
# The reason of a failure whose answer could not be read (see UnreadableAnswer).
UNREADABLE = "unreadableAnswer"


class UnreadableAnswer(Exception):
    """YouTube answered ``method`` with something that is not what the API sends (an
    HTML page, items of the wrong type, no id).

    An unknown result, like a lost answer: a read is sent again, as after a passing
    fault, then fails with this message; a write may have been applied, so it is
    judged later by a read, never sent again blindly."""

    def __init__(self, method: str, problem: str) -> None:
        super().__init__(f"YouTube's answer to {method} could not be read: {problem}")
        self.method = method
        self.problem = problem


class EndlessListing(UnreadableAnswer):
    """A listing whose pages would never end (a repeated nextPageToken, or more pages
    than it can have): stopped, with what it read so far thrown away."""

    def __init__(self, method: str, problem: str) -> None:
        listing = f"YouTube's listing {method}" if method else "A YouTube listing"
        Exception.__init__(self, f"{listing} does not end: {problem}")
        self.method = method
        self.problem = problem


@dataclass(frozen=True)
class ApiFailure:
    outcome: Outcome
    status: int | None
    reason: str
    message: str

    def describe(self) -> str:
        if self.unreadable:
            return self.message  # says it all: what was asked, and what is wrong
        code = f"HTTP {self.status} " if self.status else ""
        return f"{code}{self.reason}: {self.message}".strip()

    @property
    def unreadable(self) -> bool:
        """The answer came but could not be read (see UnreadableAnswer)."""
        return self.reason == UNREADABLE

    @property
    def missing_scope(self) -> bool:
        return self.reason in SCOPE_REASONS

    def sign_in_problem(self) -> str:
        """What is wrong with the sign-in, for an AUTH_REQUIRED failure."""
        if self.missing_scope:
            return (
                f"the sign-in does not grant the YouTube scope ({YOUTUBE_SCOPE}); sign in "
                "again and allow ytsync to manage your YouTube account"
            )
        return "the YouTube sign-in expired or was revoked"


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
    if status == 401 or found & SCOPE_REASONS:
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


# The network between us and YouTube failed: the request may or may not have arrived.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    socket.herror,
    ssl.SSLError,
    http.client.HTTPException,
    httplib2.HttpLib2Error,
    TransportError,
)
# A plain OSError from a socket call carries one of these when the network is at fault
# (connect() to an unreachable host raises OSError, not ConnectionError).
NETWORK_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ENETRESET,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EADDRNOTAVAIL,
    }
)


def classify(exc: BaseException) -> ApiFailure | None:
    """The outcome of a failed call, or None when the exception is not an API failure."""
    if isinstance(exc, HttpError):
        return classify_http_error(exc)
    if isinstance(exc, UnreadableAnswer):
        return ApiFailure(Outcome.UNKNOWN_RESULT, None, UNREADABLE, str(exc))
    if isinstance(exc, RefreshError):
        if exc.retryable:
            # The token endpoint answered 5xx or 429: Google's trouble, not the sign-in's.
            return ApiFailure(Outcome.TRANSIENT, None, "token_endpoint", "sign-in server busy")
        # Keep the token endpoint's words out of it: they can echo request fields.
        return ApiFailure(Outcome.AUTH_REQUIRED, None, "invalid_grant", "refresh token rejected")
    if is_network_error(exc):
        return ApiFailure(Outcome.UNKNOWN_RESULT, None, type(exc).__name__, "no answer received")
    if isinstance(exc, OSError):
        # A file, a disk or a permission on this machine: say which, never "YouTube".
        return ApiFailure(Outcome.LOCAL, None, type(exc).__name__, str(exc))
    return None


def is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, NETWORK_ERRORS):
        return True
    return isinstance(exc, OSError) and exc.errno in NETWORK_ERRNOS
