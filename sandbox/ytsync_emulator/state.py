"""The emulator's in-memory YouTube: one channel, its videos and playlists, OAuth tokens,
quota accounting, fault rules and the request log.

Everything mutable is guarded by the single ``lock`` so that the threaded HTTP server
and a test poking at the state never see a half-applied write.  Public methods take the
lock themselves; attributes are read by ``api.py`` with the lock held.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from .clock import utc_now
from .faults import Faults
from .model import (
    DeletedPlaylist,
    Playlist,
    PlaylistItem,
    PlaylistKind,
    RemovedItem,
    RequestRecord,
    Video,
)
from .quota import QuotaPeriods

YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube"
# Creation time of pre-existing playlists: far outside any "just created" 409 window.
LONG_AGO = datetime(2012, 3, 4, 5, 6, 7, tzinfo=UTC)
MAX_PLAYLIST_ITEMS = 5000
# Long enough that an insert sent right after its playlist's creation sees the 404 even
# on a slow machine; a client that waits a few seconds and tries again gets through.
NOT_FOUND_AFTER_CREATE_SECONDS = 2.0
# YouTube's lists show new playlists and items late (Google documents no read-after-write
# for playlists.list or playlistItems.list, nor for their look-ups by id): for at least
# this long after one was made, by an API call or by the owner, list calls leave it out.
LIST_LAG_SECONDS = 2.0
# ...and by how much more, drawn afresh for each list call: nobody promises a bound, so
# one call may see an item another made later still misses.  The default puts some lags
# well past the few seconds a client may be tempted to wait after a write.
LIST_LAG_JITTER_SECONDS = 6.0
# The body a refused playlist title or description gets: the one Google's error table
# names, or the bare badRequest users actually saw (the default: it tells nothing).
TitleRefusal = Literal["invalidPlaylistSnippet", "badRequest"]
# Google's authorization codes are good for minutes, not hours; a short life keeps a
# test from passing on a code that a real server would have refused.
AUTH_CODE_TTL_SECONDS = 600.0


def random_id(rng: random.Random, length: int) -> str:
    """``length`` characters of [A-Za-z0-9_-], as YouTube ids use; fast and seedable."""
    # URL-safe base64 of random bytes is exactly that alphabet, ~10x faster than choices().
    return base64.urlsafe_b64encode(rng.randbytes((length * 3 + 3) // 4)).decode()[:length]


@dataclass(slots=True)
class _RefreshGrant:
    client_id: str
    issued_at: datetime
    # What the user allowed on the consent screen (space-separated scopes).
    scope: str = YOUTUBE_SCOPE
    revoked: bool = False


@dataclass(slots=True)
class _AccessGrant:
    expires_at: datetime
    # False for a token whose grant lacks the youtube scope: every API call is a 403.
    youtube: bool = True


def has_youtube_scope(scope: str) -> bool:
    return YOUTUBE_SCOPE in scope.split()


@dataclass(slots=True)
class _AuthCode:
    """An authorization code handed out by the consent step, waiting to be redeemed."""

    client_id: str
    redirect_uri: str
    scope: str
    issued_at: datetime
    # PKCE (RFC 7636): the challenge sent to the authorization endpoint, if any.
    code_challenge: str | None
    code_challenge_method: str


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """Does ``verifier`` answer ``challenge`` (RFC 7636 section 4.6)?"""
    if not 43 <= len(verifier) <= 128:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        expected = verifier
    # Constant-time, as a real authorization server would compare secrets.
    return hmac.compare_digest(expected, challenge)


# What a write hook decides for the write that called it: "answer" lets it run as usual;
# "lose" applies it but closes the connection without an answer (the client died, or
# the answer got lost); "ignore" closes the connection without applying it (the client
# died before YouTube processed the request).
WriteVerdict = Literal["answer", "lose", "ignore"]
WriteHook = Callable[[str], WriteVerdict]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class WriteHold:
    """Keeps playlistItems.insert calls in flight (busy flag set) until released.

    Lets a test create a real overlap between two inserts without guessing at timing.
    """

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self.event = threading.Event()

    def release(self) -> None:
        self.event.set()
        with self._state.lock:
            if self._state.write_hold is self:
                self._state.write_hold = None

    def __enter__(self) -> WriteHold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class EmulatorState:
    """The emulated YouTube account.  Options may be changed while the server runs."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        quota_clock: QuotaPeriods | None = None,
        daily_limit: int | None = 10_000,
        access_token_ttl: float = 3600.0,
        refresh_token_ttl: float | None = None,
        list_special_playlists: bool = False,
        playlist_create_limit_per_period: int | None = None,
        write_latency: float = 0.0,
        conflict_after_create_seconds: float = 0.0,
        not_found_after_create_seconds: float = NOT_FOUND_AFTER_CREATE_SECONDS,
        list_lag_seconds: float = LIST_LAG_SECONDS,
        list_lag_jitter_seconds: float = LIST_LAG_JITTER_SECONDS,
        max_playlist_items: int = MAX_PLAYLIST_ITEMS,
        max_playlists: int | None = None,
        title_refusal: TitleRefusal = "badRequest",
        channel_title: str = "Emulator Channel",
        seed: int = 0,
    ) -> None:
        # Never call ``clock`` while holding this lock: a test clock may block on another
        # thread (the Temporal test server's time), which may itself be waiting for the lock.
        self.lock = threading.Lock()
        # Wakes waiters of wait_for_in_flight(); shares the one lock.
        self.changed = threading.Condition(self.lock)
        self.clock: Callable[[], datetime] = clock or utc_now
        self.quota_clock = quota_clock or QuotaPeriods()
        self.daily_limit = daily_limit
        self.access_token_ttl = access_token_ttl
        # Refresh tokens of an OAuth app in "Testing" status die after 7 days.
        self.refresh_token_ttl = refresh_token_ttl
        self.list_special_playlists = list_special_playlists
        self.playlist_create_limit_per_period = playlist_create_limit_per_period
        self.write_latency = write_latency
        self.conflict_after_create_seconds = conflict_after_create_seconds
        # YouTube answers 404 playlistNotFound to inserts into a playlist created moments
        # ago, as if it did not exist yet; 0 turns that off.
        self.not_found_after_create_seconds = not_found_after_create_seconds
        self.list_lag_seconds = list_lag_seconds
        self.list_lag_jitter_seconds = list_lag_jitter_seconds
        self.max_playlist_items = max_playlist_items
        # Normal playlists a channel may have; playlists.insert beyond answers 400
        # maxPlaylistExceeded.  None: no cap (YouTube publishes no number).
        self.max_playlists = max_playlists
        # Which of YouTube's two answers a refused title or description gets.
        self.title_refusal: TitleRefusal = title_refusal
        self.faults = Faults(seed)

        self.rng = random.Random(seed)
        # Lags come from their own seeded stream, so drawing them shifts no id.
        self.lag_rng = random.Random(f"list-lag:{seed}")
        self.channel_id = "UC" + self.random_id(22)
        self.channel_title = channel_title
        self.channel_published_at = "2012-03-04T05:06:07Z"
        self.videos: dict[str, Video] = {}
        self.playlists: dict[str, Playlist] = {}
        self.item_index: dict[str, str] = {}  # playlist item id -> playlist id
        self.busy: set[str] = set()  # playlists with an insert in flight
        self.write_hold: WriteHold | None = None
        # Called with the method name for every write request (insert, update, delete)
        # as it arrives, before authentication, quota and faults, without the lock held:
        # fault tests crash the client or its servers at exact points of a run.
        self.write_hook: WriteHook | None = None

        # The user's answer on the consent screen: False is "Allow", True is "Cancel".
        self.deny_authorization = False

        self._clients: dict[str, str] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._refresh: dict[str, _RefreshGrant] = {}
        self._access: dict[str, _AccessGrant] = {}
        self.quota: Counter[datetime] = Counter()  # period start -> units used
        # Guards ``quota``, which accounts of one Cloud project share (join_project).
        self.quota_lock = threading.Lock()
        self.creates: Counter[datetime] = Counter()  # period start -> playlists created
        self.log: list[RequestRecord] = []
        # What checks after a run need to prove nothing of the owner's was lost: the items
        # the owner made (user_add), every item a playlistItems.delete removed, and what
        # each playlist held when a playlists.delete removed it.
        self.user_items: set[str] = set()
        self.removed_items: list[RemovedItem] = []
        self.deleted_playlists: dict[str, DeletedPlaylist] = {}

        self.uploads_id = "UU" + self.channel_id[2:]
        specials: tuple[tuple[str, str, PlaylistKind, str], ...] = (
            (self.uploads_id, f"Uploads from {channel_title}", "uploads", "public"),
            ("LL", "Liked videos", "likes", "private"),
            ("WL", "Watch later", "watch_later", "private"),
        )
        for pid, title, kind, privacy in specials:
            self.playlists[pid] = Playlist(
                pid, title, "", privacy, self.channel_published_at, LONG_AGO, kind
            )

    # ----------------------------------------------------------------- ids and time

    def random_id(self, length: int) -> str:
        return random_id(self.rng, length)

    def new_item_id(self) -> str:
        while True:
            item_id = "UE" + self.random_id(32)
            if item_id not in self.item_index:
                return item_id

    def list_lag(self) -> float:
        """Lock held.  The lag of one list call: the base plus a fresh draw of jitter."""
        jitter = self.list_lag_jitter_seconds
        return self.list_lag_seconds + (self.lag_rng.uniform(0, jitter) if jitter > 0 else 0)

    @staticmethod
    def lagging(created_at: datetime | None, now: datetime, lag: float) -> bool:
        """Too new for a list call with this ``lag`` to show yet."""
        return lag > 0 and created_at is not None and (now - created_at).total_seconds() < lag

    def period(self, now: datetime) -> datetime:
        return self.quota_clock.period_start(now)

    # ------------------------------------------------------------ library building

    def add_video(
        self,
        *,
        video_id: str | None = None,
        title: str = "Untitled",
        privacy: str = "public",
        deleted: bool = False,
        own: bool = False,
        owner_title: str = "Someone Else",
        owner_channel_id: str | None = None,
        published_at: str = "2020-01-01T00:00:00Z",
        topic: str = "",
        genre: str = "",
        duration: str = "PT4M13S",
    ) -> Video:
        """Add a video; ``own=True`` makes it the channel's upload (it joins the uploads list)."""
        with self.lock:
            vid = video_id or self._unused_video_id()
            if own:
                owner_channel_id, owner_title = self.channel_id, self.channel_title
            video = Video(
                vid,
                title,
                privacy,
                deleted,
                owner_channel_id or "UC" + self.random_id(22),
                owner_title,
                published_at,
                topic,
                genre,
                duration,
            )
            self.videos[vid] = video
            if own:
                self.append_item(self.uploads_id, vid)
            return video

    def _unused_video_id(self) -> str:
        while True:
            vid = self.random_id(11)
            if vid not in self.videos:
                return vid

    def add_playlist(
        self,
        title: str,
        *,
        description: str = "",
        privacy: str = "private",
        playlist_id: str | None = None,
        published_at: str | None = None,
        video_ids: list[str] | tuple[str, ...] = (),
    ) -> Playlist:
        """Add a normal playlist directly (no quota, no log), optionally with items.

        It counts as made long ago: none of the "just created" answers apply to it."""
        now = self.clock()
        with self.lock:
            playlist = self.create_playlist(title, description, privacy, now, playlist_id)
            playlist.created_at = LONG_AGO
            if published_at:
                playlist.published_at = published_at
            for vid in video_ids:
                self.append_item(playlist.id, vid)
            return playlist

    def add_item(self, playlist_id: str, video_id: str) -> PlaylistItem:
        """Append a video to any playlist (special ones included), bypassing the API rules."""
        with self.lock:
            return self.append_item(playlist_id, video_id)

    # ------------------------------------------------------------- the owner's hand

    def user_add(self, playlist_id: str, video_id: str) -> PlaylistItem:
        """The owner saves a video to one of their playlists on youtube.com (an old one or
        a category playlist): no quota, no request log.  Lists show it after their lag,
        like any new item; its id joins ``user_items``."""
        now = self.clock()
        with self.lock:
            playlist = self.playlists[playlist_id]
            if playlist.special:
                raise ValueError(f"{playlist_id} is not a normal playlist")
            if video_id not in self.videos:
                raise KeyError(video_id)
            item = self.append_item(playlist_id, video_id, now)
            self.user_items.add(item.id)
            return item

    def user_remove(self, item_id: str) -> None:
        """The owner removes an item from a playlist on youtube.com: no quota, no log."""
        with self.lock:
            playlist = self.playlists[self.item_index.pop(item_id)]
            playlist.items = [item for item in playlist.items if item.id != item_id]

    def remove_item(self, playlist: Playlist, item_id: str, now: datetime) -> str:
        """Lock held.  A playlistItems.delete: the item goes, the log keeps it; its video."""
        position = next(p for p, item in enumerate(playlist.items) if item.id == item_id)
        item = playlist.items.pop(position)
        del self.item_index[item_id]
        self.removed_items.append(RemovedItem(item_id, playlist.id, item.video_id, now))
        return item.video_id

    def delete_playlist(self, playlist: Playlist, now: datetime) -> None:
        """Lock held.  A playlists.delete: what the playlist held is remembered."""
        del self.playlists[playlist.id]
        for item in playlist.items:
            self.item_index.pop(item.id, None)
        self.deleted_playlists[playlist.id] = DeletedPlaylist(
            playlist.id, playlist.title, now, tuple(playlist.items)
        )

    def user_items_removed(self) -> list[str]:
        """Ids of the owner's items that an API call removed, alone or with their
        playlist: empty unless a client deleted something that was not its own."""
        with self.lock:
            removed = [r.item_id for r in self.removed_items]
            removed += [i.id for d in self.deleted_playlists.values() for i in d.items]
            return [item_id for item_id in removed if item_id in self.user_items]

    def set_video(
        self, video_id: str, *, privacy: str | None = None, deleted: bool | None = None
    ) -> None:
        """Change a video after the fact, e.g. make it private in the middle of a sync."""
        with self.lock:
            video = self.videos[video_id]
            if privacy is not None:
                video.privacy = privacy
            if deleted is not None:
                video.deleted = deleted

    def create_playlist(
        self,
        title: str,
        description: str,
        privacy: str,
        now: datetime,
        playlist_id: str | None = None,
        kind: PlaylistKind = "normal",
    ) -> Playlist:
        """Lock held."""
        pid = playlist_id or "PL" + self.random_id(32)
        while pid in self.playlists and playlist_id is None:
            pid = "PL" + self.random_id(32)
        playlist = Playlist(pid, title, description, privacy, iso(now), now, kind)
        self.playlists[pid] = playlist
        return playlist

    def append_item(
        self, playlist_id: str, video_id: str, created_at: datetime | None = None
    ) -> PlaylistItem:
        """Lock held.  The uploads list is YouTube's newest first: a new upload goes to
        its top (incremental readers page only until they reach what they saw)."""
        item = PlaylistItem(self.new_item_id(), video_id, created_at)
        playlist = self.playlists[playlist_id]
        if playlist.kind == "uploads":
            playlist.items.insert(0, item)
        else:
            playlist.items.append(item)
        self.item_index[item.id] = playlist_id
        return item

    # ----------------------------------------------------------------- credentials

    def register_client(self) -> tuple[str, str]:
        """A new OAuth client (an app registered in a Cloud project): (client_id, secret)."""
        with self.lock:
            return self._new_client()

    def _new_client(self) -> tuple[str, str]:
        """Lock held."""
        client_id = f"{secrets.token_hex(6)}-emulator.apps.googleusercontent.com"
        client_secret = "GOCSPX-" + secrets.token_urlsafe(21)
        self._clients[client_id] = client_secret
        return client_id, client_secret

    def join_project(self, other: EmulatorState, client_id: str) -> None:
        """This account's channel signs in through ``other``'s OAuth client ``client_id``,
        as two channels of one owner do with one app: the client's Google Cloud project
        pays for both, so their requests count on one quota (``other``'s limit, periods
        and counter).  Then ``issue_credentials(client_id=...)`` signs it in."""
        with other.lock:
            secret = other._clients[client_id]
            shared = (other.quota, other.quota_lock, other.daily_limit, other.quota_clock)
        with self.lock:
            self._clients[client_id] = secret
            self.quota, self.quota_lock, self.daily_limit, self.quota_clock = shared

    def issue_credentials(
        self, scope: str = YOUTUBE_SCOPE, *, client_id: str | None = None
    ) -> tuple[str, str, str]:
        """A new OAuth client and refresh token: (client_id, client_secret, refresh_token);
        with ``client_id``, a refresh token of that client (registered here already).

        ``scope``: what the user granted.  Without the youtube scope (a user who
        unticked it on Google's granular consent screen, or an app that asked for
        ``youtube.readonly``) the token refreshes fine and every API call is refused
        with 403 insufficientPermissions.
        """
        now = self.clock()
        with self.lock:
            if client_id is None:
                client_id, client_secret = self._new_client()
            else:
                client_secret = self._clients[client_id]
            refresh_token = self._new_refresh_token(client_id, now, scope)
            return client_id, client_secret, refresh_token

    def _new_refresh_token(self, client_id: str, now: datetime, scope: str) -> str:
        """Lock held."""
        refresh_token = "1//" + secrets.token_urlsafe(48)
        self._refresh[refresh_token] = _RefreshGrant(client_id, now, scope)
        return refresh_token

    def _new_access_token(self, now: datetime, scope: str) -> str:
        """Lock held."""
        if len(self._access) > 10_000:  # keep long runs memory-flat
            self._access = {t: g for t, g in self._access.items() if g.expires_at > now}
        token = "ya29." + secrets.token_urlsafe(36)
        expires = now + timedelta(seconds=self.access_token_ttl)
        self._access[token] = _AccessGrant(expires, has_youtube_scope(scope))
        return token

    def client_registered(self, client_id: str) -> bool:
        """Lock held.  Known client id, whatever the secret (the consent step has none)."""
        return client_id in self._clients

    def issue_authorization_code(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        now: datetime,
        *,
        code_challenge: str | None = None,
        code_challenge_method: str = "plain",
    ) -> str:
        """Lock held.  The code the consent step sends back to ``redirect_uri``."""
        code = "4/0" + secrets.token_urlsafe(40)
        self._codes[code] = _AuthCode(
            client_id, redirect_uri, scope, now, code_challenge, code_challenge_method
        )
        return code

    def redeem_authorization_code(
        self,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        now: datetime,
    ) -> tuple[str, str, str] | None:
        """Lock held.  (access_token, refresh_token, scope) for a good code, else None.

        A code works once: it is spent by the first attempt, even a failed one, so a
        stolen or replayed code is useless (RFC 6749 section 4.1.2).
        """
        grant = self._codes.pop(code, None)
        if grant is None or grant.client_id != client_id:
            return None
        if self._clients.get(client_id) != client_secret:
            return None
        if now - grant.issued_at >= timedelta(seconds=AUTH_CODE_TTL_SECONDS):
            return None
        # The token request must name the redirect URI the code was sent to (4.1.3).
        if grant.redirect_uri != redirect_uri:
            return None
        if grant.code_challenge is not None and (
            not code_verifier
            or not pkce_matches(code_verifier, grant.code_challenge, grant.code_challenge_method)
        ):
            return None
        refresh_token = self._new_refresh_token(client_id, now, grant.scope)
        return self._new_access_token(now, grant.scope), refresh_token, grant.scope

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token stops working (the user revoked access, or 7 days passed)."""
        with self.lock:
            for grant in self._refresh.values():
                grant.revoked = True

    def expire_all_access_tokens(self) -> None:
        """Every issued access token now answers 401; clients must refresh."""
        with self.lock:
            self._access.clear()

    def exchange_refresh_token(
        self, client_id: str, client_secret: str, refresh_token: str, now: datetime
    ) -> tuple[str, str] | None:
        """Lock held.  A new access token and the scope it carries (what the user
        granted, whatever the request asks for), or None when the refresh token is no
        good."""
        grant = self._refresh.get(refresh_token)
        if grant is None or grant.revoked or grant.client_id != client_id:
            return None
        if self.refresh_token_ttl is not None and now - grant.issued_at >= timedelta(
            seconds=self.refresh_token_ttl
        ):
            return None
        if self._clients.get(client_id) != client_secret:
            return None
        return self._new_access_token(now, grant.scope), grant.scope

    def client_known(self, client_id: str, client_secret: str) -> bool:
        """Lock held."""
        return self._clients.get(client_id) == client_secret

    def knows(
        self,
        *,
        client_id: str = "",
        access_token: str = "",
        refresh_token: str = "",
        code: str = "",
    ) -> bool:
        """Did this account register the OAuth client, or issue the access token, the
        refresh token or the authorization code?"""
        with self.lock:
            return (
                (bool(client_id) and client_id in self._clients)
                or (bool(access_token) and access_token in self._access)
                or (bool(refresh_token) and refresh_token in self._refresh)
                or (bool(code) and code in self._codes)
            )

    def access_token_valid(self, token: str, now: datetime) -> bool:
        """Lock held."""
        grant = self._access.get(token)
        return grant is not None and now < grant.expires_at

    def access_token_has_youtube_scope(self, token: str) -> bool:
        """Lock held."""
        grant = self._access.get(token)
        return grant is not None and grant.youtube

    # ----------------------------------------------------------------------- quota

    def burn_quota(self, units: int) -> None:
        """Someone else using the same Google Cloud project spends units this period."""
        period = self.period(self.clock())
        with self.lock:
            self.quota[period] += units

    def quota_used(self, now: datetime | None = None) -> int:
        """Units used in the period containing ``now`` (default: the current one)."""
        period = self.period(now or self.clock())
        with self.lock:
            return self.quota[period]

    def quota_remaining(self) -> int | None:
        period = self.period(self.clock())
        with self.lock:
            if self.daily_limit is None:
                return None
            return max(0, self.daily_limit - self.quota[period])

    def quota_usage(self) -> dict[datetime, int]:
        """Units used per period (keyed by the period's start, UTC)."""
        with self.lock:
            return dict(sorted(self.quota.items()))

    # ------------------------------------------------------------- write overlaps

    def hold_writes(self) -> WriteHold:
        """Keep every playlistItems.insert in flight until ``release()`` (or the ``with`` ends)."""
        hold = WriteHold(self)
        with self.lock:
            self.write_hold = hold
        return hold

    def wait_for_in_flight(self, playlist_id: str, timeout: float = 5.0) -> bool:
        """Block until an insert into ``playlist_id`` is in flight; False on timeout."""
        with self.changed:
            return self.changed.wait_for(lambda: playlist_id in self.busy, timeout)

    # ------------------------------------------------------------------ inspection

    def record(self, **fields: object) -> RequestRecord:
        """Lock held.  Append one request to the log."""
        entry = RequestRecord(seq=len(self.log) + 1, **fields)  # type: ignore[arg-type]
        self.log.append(entry)
        return entry

    def requests(self, method: str | None = None) -> list[RequestRecord]:
        """A copy of the request log, optionally only one API method."""
        with self.lock:
            if method is None:
                return list(self.log)
            return [r for r in self.log if r.method == method]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def playlist_items(self, playlist_id: str) -> list[str]:
        """Video ids of a playlist in position order."""
        with self.lock:
            return [item.video_id for item in self.playlists[playlist_id].items]

    def playlists_by_title(self, *, include_special: bool = False) -> dict[str, list[str]]:
        """Title -> ids of the playlists with that title (more than one id: a duplicate)."""
        with self.lock:
            result: dict[str, list[str]] = {}
            for playlist in self.playlists.values():
                if include_special or not playlist.special:
                    result.setdefault(playlist.title, []).append(playlist.id)
            return result

    def find_duplicates(self) -> dict[str, dict[str, int]]:
        """Playlist id -> {video id: count} for every video present more than once."""
        with self.lock:
            result: dict[str, dict[str, int]] = {}
            for playlist in self.playlists.values():
                counts = Counter(item.video_id for item in playlist.items)
                dupes = {vid: n for vid, n in counts.items() if n > 1}
                if dupes:
                    result[playlist.id] = dupes
            return result

    def iter_playlists(self, *, include_special: bool = False) -> Iterator[Playlist]:
        """A snapshot of the playlists (the objects are live; read them under ``lock``)."""
        with self.lock:
            snapshot = list(self.playlists.values())
        return (p for p in snapshot if include_special or not p.special)

    def summary(self) -> dict[str, int]:
        """Counts for a quick look at the library."""
        with self.lock:
            normal = [p for p in self.playlists.values() if not p.special]
            return {
                "videos": len(self.videos),
                "deleted_videos": sum(v.deleted for v in self.videos.values()),
                "private_videos": sum(
                    v.privacy == "private" and not v.deleted for v in self.videos.values()
                ),
                "playlists": len(normal),
                "playlist_items": sum(len(p.items) for p in normal),
                "uploads": len(self.playlists[self.uploads_id].items),
                "likes": len(self.playlists["LL"].items),
                "watch_later": len(self.playlists["WL"].items),
            }

    @contextmanager
    def locked(self) -> Iterator[EmulatorState]:
        """``with state.locked(): ...`` to read several things consistently."""
        with self.lock:
            yield self
