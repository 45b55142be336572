"""The YouTube Data API v3 through google-api-python-client, safe for retried writes.

Built with the packaged discovery document and a configurable endpoint, so the demo
and tests talk to the project's emulator through the very code that talks to Google.
Every answer is checked against its model (ytsync.youtube.responses) before it is
handed back, and every listing's pages are bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from ytsync.config import Settings
from ytsync.quota import LIST_COST, WRITE_COST
from ytsync.youtube.errors import Outcome, classify
from ytsync.youtube.responses import MODELS, Pages, checked
from ytsync.youtube.tokens import TokenStore
from ytsync.youtube.transport import OneShotHttp

PAGE_SIZE = 50
# httplib2 sends a request again when the connection fails (RETRIES); with a POST that
# already took effect that is a duplicate no reconcile can see. One attempt each (and
# OneShotHttp for the stale-connection re-send); Temporal's retry policy decides the rest.
httplib2.RETRIES = 1

COSTS = {
    "channels.list": LIST_COST,
    "playlists.list": LIST_COST,
    "playlistItems.list": LIST_COST,
    "videos.list": LIST_COST,
    "playlists.insert": WRITE_COST,
    "playlists.update": WRITE_COST,
    "playlists.delete": WRITE_COST,
    "playlistItems.insert": WRITE_COST,
    "playlistItems.delete": WRITE_COST,
}


log = logging.getLogger("ytsync.youtube")

# What a read is sent again after: YouTube's or the network's passing trouble.  Never
# quotaExceeded (it lasts until the reset), nor a refusal a second send cannot change.
RESEND_OUTCOMES = frozenset({Outcome.TRANSIENT, Outcome.RATE_LIMITED, Outcome.UNKNOWN_RESULT})

# Pays for a read sent again (method, units) before it goes; may raise to give up.
ResendPayer = Callable[[str, int], None]


@dataclass(frozen=True)
class ReadRetry:
    """How a failed read is sent again: Google's recipe for its APIs, an exponential
    backoff with jitter and a cap (waits of 1, 2, 4, 8, 16 s, each plus up to 1 s), and
    a bound on the whole, after which the caller sees the last failure as before."""

    attempts: int = 6
    first_wait: float = 1.0
    max_wait: float = 32.0
    jitter: float = 1.0
    give_up_after: float = 120.0

    def retrying(
        self, sleep: Callable[[float], None], before: Callable[[RetryCallState], None]
    ) -> Retrying:
        return Retrying(
            sleep=sleep,
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.give_up_after),
            wait=wait_exponential_jitter(
                multiplier=self.first_wait, max=self.max_wait, jitter=self.jitter
            ),
            retry=retry_if_exception(worth_resending),
            before=before,
            before_sleep=_log_resend,
            reraise=True,
        )


def worth_resending(exc: BaseException) -> bool:
    """A read that failed this way may well succeed when sent again."""
    failure = classify(exc)
    return failure is not None and failure.outcome in RESEND_OUTCOMES


def _log_resend(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    failure = classify(exc) if exc is not None else None
    log.info(
        "a YouTube read failed (%s); sending it again in %.1f s (attempt %d)",
        failure.describe() if failure else "?",
        state.upcoming_sleep,
        state.attempt_number + 1,
    )


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None
    # The listing it belongs to ("playlists.list"): what its bounds and errors name.
    method: str = ""


# Per thread, per (endpoint, timeout): one plain connection and one service object that
# every signed-in client of the thread shares.  A service object is about 1 MB (the
# discovery document, parsed): one per thread and channel would be gigabytes for a
# worker with a hundred channels.  Each request is sent with its channel's credentials.
_shared = threading.local()


def _thread_transport(endpoint: str, timeout: float) -> tuple[httplib2.Http, Any]:
    cache: dict[tuple[str, float], tuple[httplib2.Http, Any]] | None = getattr(
        _shared, "transports", None
    )
    if cache is None:
        cache = _shared.transports = {}
    found = cache.get((endpoint, timeout))
    if found is None:
        http = OneShotHttp(timeout=timeout)
        service = build(
            "youtube",
            "v3",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": endpoint},
        )
        found = cache[(endpoint, timeout)] = (http, service)
    return found


class YouTube:
    """Typed calls of the Data API.  Safe to share between threads: each thread uses
    its own ``httplib2.Http`` and service object, since httplib2 is not thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_units: Callable[[str, int], None] | None = None,
        timeout: float | None = None,
        read_retry: ReadRetry = ReadRetry(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``on_units`` hears of every request sent (reads sent again included), before
        it goes.  ``sleep`` waits between sends of a read (an activity passes one that
        heartbeats)."""
        self._endpoint = settings.youtube_api_endpoint.rstrip("/")
        self._tokens = TokenStore(settings.token_file, settings.oauth_token_uri)
        self._local = threading.local()
        self._timeout = settings.youtube_timeout_seconds if timeout is None else timeout
        self._on_units = on_units
        self._read_retry = read_retry
        self._sleep = sleep

    def _resource(self, name: str) -> Any:
        """``service.<name>()``, made once per thread: building a resource object
        re-creates all its methods from the discovery document, a third of a call's CPU."""
        _http, service = _thread_transport(self._endpoint, self._timeout)
        resources: dict[tuple[int, str], Any] | None = getattr(_shared, "resources", None)
        if resources is None:
            resources = _shared.resources = {}
        key = (id(service), name)
        found = resources.get(key)
        if found is None:
            found = resources[key] = getattr(service, name)()
        return found

    def _authorized(self) -> google_auth_httplib2.AuthorizedHttp:
        """This client's credentials over this thread's shared connection."""
        authed: google_auth_httplib2.AuthorizedHttp | None = getattr(self._local, "http", None)
        if authed is None:
            http, _service = _thread_transport(self._endpoint, self._timeout)
            authed = google_auth_httplib2.AuthorizedHttp(self._tokens.credentials, http=http)
            self._local.http = authed
        return authed

    def _execute(self, method: str, request: Any) -> Any:
        # Counted before the call: YouTube charges failed requests too.
        if self._on_units is not None:
            self._on_units(method, COSTS[method])
        try:
            # num_retries=0: a 5xx on a POST may hide an applied write (see above).
            answer = request.execute(http=self._authorized(), num_retries=0)
        finally:
            self._tokens.save_if_refreshed()
        # Inside the send: a read whose answer cannot be read is sent again (an
        # unknown result), like one whose answer was lost.
        return checked(method, answer) if method in MODELS else answer

    def _read(self, method: str, request: Any) -> Any:
        """A read, sent again on 5xx, 429, 403 rate limits and lost connections (reads
        change nothing, so a second send is harmless).

        Not googleapiclient's ``num_retries``: its waits grow without a cap, it leaves
        out http.client's and google-auth's network errors, and it hides each re-send,
        which YouTube charges like the first."""

        def pay_for_resend(state: RetryCallState) -> None:
            pay: ResendPayer | None = getattr(self._local, "pay", None)
            if state.attempt_number > 1 and pay is not None:
                pay(method, COSTS[method])

        retrying = self._read_retry.retrying(self._sleep, pay_for_resend)
        return retrying(self._execute, method, request)

    @contextmanager
    def resends_paid_by(self, pay: ResendPayer) -> Iterator[None]:
        """Within the block, on this thread, every read sent again is first paid through
        ``pay`` (the caller paid for the first send); ``pay`` may raise to give up, for
        example when the quota budget cannot pay."""
        outer: ResendPayer | None = getattr(self._local, "pay", None)
        self._local.pay = pay
        try:
            yield
        finally:
            self._local.pay = outer

    # reads -------------------------------------------------------------------------

    def my_playlists(self, page_token: str | None = None) -> Page:
        request = self._resource("playlists").list(
            part="snippet,contentDetails,status",
            mine=True,
            maxResults=PAGE_SIZE,
            pageToken=page_token,
        )
        return _page("playlists.list", self._read("playlists.list", request))

    def playlist_items(
        self, playlist_id: str, page_token: str | None = None, *, video_id: str | None = None
    ) -> Page:
        request = self._resource("playlistItems").list(
            part="snippet,contentDetails,status",
            playlistId=playlist_id,
            maxResults=PAGE_SIZE,
            pageToken=page_token,
            videoId=video_id,
        )
        return _page("playlistItems.list", self._read("playlistItems.list", request))

    def playlist_items_by_id(self, item_ids: list[str]) -> list[dict[str, Any]]:
        """The playlist items with these ids that YouTube shows (at most 50 ids, 1
        unit): what confirms a write by the id its answer carried."""
        if len(item_ids) > PAGE_SIZE:
            raise ValueError("playlistItems.list takes at most 50 ids")
        request = self._resource("playlistItems").list(
            part="snippet,contentDetails", id=",".join(item_ids), maxResults=PAGE_SIZE
        )
        items: list[dict[str, Any]] = self._read("playlistItems.list", request).get("items", [])
        return items

    def playlists_by_id(self, playlist_ids: list[str]) -> list[dict[str, Any]]:
        """The playlists with these ids that YouTube shows (at most 50 ids, 1 unit)."""
        if len(playlist_ids) > PAGE_SIZE:
            raise ValueError("playlists.list takes at most 50 ids")
        request = self._resource("playlists").list(
            part="snippet,contentDetails,status", id=",".join(playlist_ids), maxResults=PAGE_SIZE
        )
        items: list[dict[str, Any]] = self._read("playlists.list", request).get("items", [])
        return items

    def videos(self, video_ids: list[str], *, details: bool = False) -> list[dict[str, Any]]:
        """The videos YouTube shows of ``video_ids`` (at most 50: 1 unit, whatever the
        parts); ``details`` adds contentDetails (the duration)."""
        if len(video_ids) > PAGE_SIZE:
            raise ValueError("videos.list takes at most 50 ids")
        part = "snippet,contentDetails,status" if details else "snippet,status"
        request = self._resource("videos").list(
            part=part, id=",".join(video_ids), maxResults=PAGE_SIZE
        )
        items: list[dict[str, Any]] = self._read("videos.list", request).get("items", [])
        return items

    def my_channel(self) -> dict[str, Any] | None:
        request = self._resource("channels").list(part="snippet,contentDetails", mine=True)
        items = self._read("channels.list", request).get("items", [])
        return items[0] if items else None

    def iter_pages(self, fetch: Callable[[str | None], Page]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a listing; EndlessListing for one that would never end (a
        nextPageToken given twice, more pages than it can have)."""
        token: str | None = None
        pages: Pages | None = None
        while True:
            page = fetch(token)
            pages = pages or Pages(page.method)
            yield page.items
            token = pages.follow(page.next_token)
            if token is None:
                return

    # writes: one attempt each; the caller owns the idempotency protocol --------------

    def insert_playlist(self, title: str, description: str, privacy: str = "private") -> str:
        request = self._resource("playlists").insert(
            part="snippet,status",
            body={
                "snippet": {"title": title, "description": description},
                "status": {"privacyStatus": privacy},
            },
        )
        return str(self._execute("playlists.insert", request)["id"])

    def update_playlist(
        self, playlist_id: str, title: str, description: str, privacy: str = "private"
    ) -> None:
        """Set a playlist's title, description and privacy.  ``part`` names both parts:
        an update replaces every field of the parts it names and nothing else, so the
        description is sent too, or YouTube would clear it."""
        request = self._resource("playlists").update(
            part="snippet,status",
            body={
                "id": playlist_id,
                "snippet": {"title": title, "description": description},
                "status": {"privacyStatus": privacy},
            },
        )
        self._execute("playlists.update", request)

    def insert_playlist_item(self, playlist_id: str, video_id: str) -> str:
        # No snippet.position: appending is the only order YouTube keeps consistent.
        request = self._resource("playlistItems").insert(
            part="snippet",
            body={
                "snippet": {
                    "playlistId": playlist_id,
                    "resourceId": {"kind": "youtube#video", "videoId": video_id},
                }
            },
        )
        return str(self._execute("playlistItems.insert", request)["id"])

    def delete_playlist(self, playlist_id: str) -> None:
        self._execute("playlists.delete", self._resource("playlists").delete(id=playlist_id))

    def delete_playlist_item(self, item_id: str) -> None:
        request = self._resource("playlistItems").delete(id=item_id)
        self._execute("playlistItems.delete", request)


def _page(method: str, response: dict[str, Any]) -> Page:
    return Page(list(response.get("items", [])), response.get("nextPageToken"), method)
