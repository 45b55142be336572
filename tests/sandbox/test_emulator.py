"""The YouTube emulator, driven through the real google-api-python-client.

Every test talks HTTP to a live ``EmulatorServer`` with the same client construction the
app uses, so these double as a contract check of what the app can rely on.  Time is a
``VirtualClock``: quota resets and token expiry happen by moving it, never by sleeping.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from ytsync.config import Settings
from ytsync.youtube.client import YouTube
from ytsync_emulator import (
    BODIES,
    MAX_PLAYLIST_ITEMS,
    EmulatorServer,
    EmulatorState,
    Faults,
    VirtualClock,
    generate_library,
    sample_plan_rows,
    write_token_file,
)
from ytsync_emulator.credentials import NARROW_SCOPE, issue_token_file
from ytsync_emulator.errors import ALTERNATIVES, INVALID_GRANT, unknown_part
from ytsync_emulator.methods import ROUTES
from ytsync_emulator.quota import COSTS, QuotaPeriods
from ytsync_emulator.state import (
    LIST_LAG_JITTER_SECONDS,
    LIST_LAG_SECONDS,
    LONG_AGO,
    NOT_FOUND_AFTER_CREATE_SECONDS,
    YOUTUBE_SCOPE,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_ERRORS = REPO.parent / "shared" / "youtube-errors.json"

# Noon in Los Angeles: the quota period runs until 08:00 UTC the next day.
START = datetime(2025, 1, 15, 20, 0, tzinfo=UTC)

PUBLIC = [f"pub{i:08d}" for i in range(12)]
DELETED = "deleted0001"
PRIVATE = "private0001"  # someone else's private video
OWN_PRIVATE = "ownpriv0001"  # our own private upload: still addable


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _httplib2_single_try() -> Iterator[None]:
    """The app sets ``httplib2.RETRIES = 1`` so writes are not re-sent; do the same here."""
    saved = httplib2.RETRIES
    httplib2.RETRIES = 1
    yield
    httplib2.RETRIES = saved


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def state(clock: VirtualClock) -> EmulatorState:
    state = EmulatorState(clock=clock, seed=7)
    for vid in PUBLIC:
        state.add_video(video_id=vid, title=f"Video {vid}", owner_title="Other Channel")
    state.add_video(video_id=DELETED, title="gone", deleted=True)
    state.add_video(video_id=PRIVATE, title="secret", privacy="private")
    state.add_video(video_id=OWN_PRIVATE, title="mine", privacy="private", own=True)
    state.add_item("WL", PUBLIC[0])
    state.add_item("LL", PUBLIC[1])
    return state


@pytest.fixture
def server(state: EmulatorState) -> Iterator[EmulatorServer]:
    with EmulatorServer(state) as server:
        yield server


def make_client(server: EmulatorServer, http: httplib2.Http | None = None) -> Any:
    """The client exactly as the app builds it (one Http per thread)."""
    client_id, client_secret, refresh_token = server.state.issue_credentials()
    creds = Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=refresh_token,
        token_uri=server.token_uri,
        client_id=client_id,
        client_secret=client_secret,
    )
    return build(
        "youtube",
        "v3",
        static_discovery=True,
        client_options={"api_endpoint": server.base_url},
        http=google_auth_httplib2.AuthorizedHttp(creds, http=http or httplib2.Http()),
    )


@pytest.fixture
def yt(server: EmulatorServer) -> Any:
    return make_client(server)


def reason_of(error: HttpError) -> str:
    return str(json.loads(error.content)["error"]["errors"][0]["reason"])


def insert_item(yt: Any, playlist_id: str, video_id: str, **snippet: Any) -> Any:
    body = {
        "snippet": {
            "playlistId": playlist_id,
            "resourceId": {"kind": "youtube#video", "videoId": video_id},
            **snippet,
        }
    }
    return yt.playlistItems().insert(part="snippet", body=body).execute()


def create_playlist(yt: Any, title: str) -> Any:
    body = {"snippet": {"title": title, "description": "d"}, "status": {"privacyStatus": "private"}}
    return yt.playlists().insert(part="snippet,status", body=body).execute()


def list_all(request_factory: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = request_factory(pageToken=token, **kwargs).execute()
        items += page["items"]
        token = page.get("nextPageToken")
        if not token:
            return items


# -------------------------------------------------------------------- contract


def test_error_bodies_match_the_shared_reference() -> None:
    if not SHARED_ERRORS.exists():
        pytest.skip("shared/youtube-errors.json not present")
    reference = json.loads(SHARED_ERRORS.read_text())
    for case, entry in reference.items():
        if case.startswith("_"):
            continue
        if case == "refreshTokenExpiredOrRevoked":
            assert entry["body"] == INVALID_GRANT
            continue
        ours = [BODIES[key] for key in ALTERNATIVES.get(case, (case,))]
        assert ours == entry.get("bodies", [entry.get("body")]), case
        assert {body["error"]["code"] for body in ours} == {entry["http"]}, case


def test_channel_reports_related_playlists(yt: Any, state: EmulatorState) -> None:
    response = yt.channels().list(mine=True, part="snippet,contentDetails").execute()
    (channel,) = response["items"]
    assert channel["id"] == state.channel_id
    assert len(channel["id"]) == 24 and channel["id"].startswith("UC")
    related = channel["contentDetails"]["relatedPlaylists"]
    assert related == {"likes": "LL", "uploads": "UU" + state.channel_id[2:]}


def test_playlists_paging_hides_special_lists(yt: Any, state: EmulatorState) -> None:
    made = [state.add_playlist(f"List {i:02d}", video_ids=PUBLIC[:i]).id for i in range(12)]
    first = yt.playlists().list(mine=True, part="snippet,contentDetails,status").execute()
    assert len(first["items"]) == 5  # maxResults defaults to 5
    assert first["pageInfo"]["totalResults"] == 12
    before = state.quota_used()
    items = list_all(yt.playlists().list, mine=True, part="snippet,contentDetails,status")
    assert [p["id"] for p in items] == made
    assert state.quota_used() - before == 3  # one unit a page
    assert items[7]["contentDetails"]["itemCount"] == 7
    assert items[7]["snippet"]["channelId"] == state.channel_id
    assert items[7]["status"]["privacyStatus"] == "private"
    # By id the API returns exactly the ids asked for, special lists included.
    by_id = yt.playlists().list(id=f"{made[3]},LL", part="snippet").execute()
    assert [p["id"] for p in by_id["items"]] == [made[3], "LL"]


def test_special_lists_listed_when_asked(yt: Any, state: EmulatorState) -> None:
    state.list_special_playlists = True
    ids = {p["id"] for p in list_all(yt.playlists().list, mine=True, part="id", maxResults=50)}
    assert ids == {state.uploads_id, "LL", "WL"}


def test_playlist_items_paging_filter_and_unavailable(yt: Any, state: EmulatorState) -> None:
    videos = [*PUBLIC[:8], DELETED, PRIVATE, OWN_PRIVATE, PUBLIC[0]]
    playlist = state.add_playlist("Mixed", video_ids=videos)
    parts = "snippet,contentDetails,status"
    items = list_all(yt.playlistItems().list, playlistId=playlist.id, part=parts, maxResults=5)
    assert [i["contentDetails"]["videoId"] for i in items] == videos
    assert [i["snippet"]["position"] for i in items] == list(range(len(videos)))
    by_video = {i["contentDetails"]["videoId"]: i for i in items}
    assert by_video[DELETED]["snippet"]["title"] == "Deleted video"
    assert "videoOwnerChannelTitle" not in by_video[DELETED]["snippet"]
    assert by_video[PRIVATE]["snippet"]["title"] == "Private video"
    assert by_video[PRIVATE]["status"]["privacyStatus"] == "private"
    assert by_video[OWN_PRIVATE]["snippet"]["title"] == "mine"  # the owner sees their own
    assert by_video[PUBLIC[3]]["snippet"]["videoOwnerChannelTitle"] == "Other Channel"
    assert by_video[PUBLIC[3]]["snippet"]["resourceId"] == {
        "kind": "youtube#video",
        "videoId": PUBLIC[3],
    }
    # The reconcile read: one unit, finds both copies of a duplicated video.
    found = yt.playlistItems().list(playlistId=playlist.id, videoId=PUBLIC[0], part="id").execute()
    assert len(found["items"]) == 2
    with pytest.raises(HttpError) as error:
        yt.playlistItems().list(playlistId="PLmissing", part="id").execute()
    assert error.value.resp.status == 404 and reason_of(error.value) == "playlistNotFound"


def test_invalid_page_token_and_max_results(yt: Any) -> None:
    with pytest.raises(HttpError) as error:
        yt.playlists().list(mine=True, part="id", pageToken="garbage!").execute()
    assert reason_of(error.value) == "invalidPageToken"
    with pytest.raises(HttpError) as error:
        yt.playlists().list(mine=True, part="id", maxResults=51).execute()
    assert error.value.resp.status == 400


# ------------------------------------------------------------------------ writes


def test_create_insert_delete_roundtrip(yt: Any, state: EmulatorState, clock: VirtualClock) -> None:
    created = create_playlist(yt, "Cooking")
    assert created["id"].startswith("PL") and len(created["id"]) == 34
    assert created["snippet"]["title"] == "Cooking"
    assert created["status"]["privacyStatus"] == "private"
    clock.advance(NOT_FOUND_AFTER_CREATE_SECONDS)
    item = insert_item(yt, created["id"], PUBLIC[2])
    assert item["snippet"]["position"] == 0
    assert state.playlist_items(created["id"]) == [PUBLIC[2]]
    assert yt.playlistItems().delete(id=item["id"]).execute() == ""
    assert state.playlist_items(created["id"]) == []
    assert yt.playlists().delete(id=created["id"]).execute() == ""
    assert "Cooking" not in state.playlists_by_title()
    with pytest.raises(HttpError) as error:
        yt.playlists().delete(id=created["id"]).execute()
    assert error.value.resp.status == 404 and reason_of(error.value) == "playlistNotFound"
    log = [(r.method, r.status, r.units, r.applied) for r in state.requests() if r.units]
    assert log == [
        ("playlists.insert", 200, 50, True),
        ("playlistItems.insert", 200, 50, True),
        ("playlistItems.delete", 204, 50, True),
        ("playlists.delete", 204, 50, True),
        ("playlists.delete", 404, 50, False),
    ]


def test_update_playlist(yt: Any, state: EmulatorState) -> None:
    playlist = state.add_playlist("Old")
    body = {"id": playlist.id, "snippet": {"title": "New"}, "status": {"privacyStatus": "public"}}
    yt.playlists().update(part="snippet,status", body=body).execute()
    assert state.playlists_by_title() == {"New": [playlist.id]}


def test_same_video_twice_makes_a_duplicate(yt: Any, state: EmulatorState) -> None:
    playlist = state.add_playlist("Dupes")
    first = insert_item(yt, playlist.id, PUBLIC[4])
    second = insert_item(yt, playlist.id, PUBLIC[4])
    assert first["id"] != second["id"]
    assert state.find_duplicates() == {playlist.id: {PUBLIC[4]: 2}}


@pytest.mark.parametrize(
    ("target", "video", "status", "reason"),
    [
        ("PLmissing", PUBLIC[0], 404, "playlistNotFound"),
        ("normal", "nosuchvideo", 404, "videoNotFound"),
        ("normal", DELETED, 404, "videoNotFound"),
        ("normal", PRIVATE, 400, "failedPrecondition"),
        ("WL", PUBLIC[5], 400, "playlistOperationUnsupported"),
        ("WL", PUBLIC[0], 409, "videoAlreadyInPlaylist"),
        ("uploads", PUBLIC[5], 400, "playlistOperationUnsupported"),
    ],
)
def test_insert_errors(
    yt: Any, state: EmulatorState, target: str, video: str, status: int, reason: str
) -> None:
    normal = state.add_playlist("Target")
    playlist_id = {"normal": normal.id, "uploads": state.uploads_id}.get(target, target)
    with pytest.raises(HttpError) as error:
        insert_item(yt, playlist_id, video)
    assert (error.value.resp.status, reason_of(error.value)) == (status, reason)
    (record,) = state.requests("playlistItems.insert")
    assert (record.applied, record.units, record.status) == (False, 50, status)
    assert state.playlist_items(normal.id) == []


def test_own_private_video_can_be_added(yt: Any, state: EmulatorState) -> None:
    playlist = state.add_playlist("Mine")
    insert_item(yt, playlist.id, OWN_PRIVATE)
    assert state.playlist_items(playlist.id) == [OWN_PRIVATE]


def test_full_playlist_refuses_more(yt: Any, state: EmulatorState) -> None:
    assert MAX_PLAYLIST_ITEMS == 5000
    state.max_playlist_items = 3
    playlist = state.add_playlist("Full", video_ids=PUBLIC[:3])
    with pytest.raises(HttpError) as error:
        insert_item(yt, playlist.id, PUBLIC[3])
    assert error.value.resp.status == 403
    assert reason_of(error.value) == "playlistContainsMaximumNumberOfVideos"


@pytest.mark.parametrize(
    ("title", "description", "reason"),
    [
        ("", "d", "playlistTitleRequired"),
        ("x" * 151, "d", "badRequest"),
        ("<b>Solo</b>", "d", "badRequest"),
        ("a>b", "d", "badRequest"),
        ("line\u2028break", "d", "badRequest"),
        ("Fine", "d" * 5001, "badRequest"),
        ("Fine", "a <tag>", "badRequest"),
        ("Fine", "para\u2028graph", "badRequest"),
    ],
)
def test_playlist_title_and_description_rules(
    yt: Any, state: EmulatorState, title: str, description: str, reason: str
) -> None:
    """YouTube Help: titles up to 150 characters, descriptions up to 5,000, neither with
    '<', '>' or U+2028; the answer is the vague 400 users saw (titleRefused)."""
    body: dict[str, Any] = {"snippet": {"title": title, "description": description}}
    with pytest.raises(HttpError) as error:
        yt.playlists().insert(part="snippet", body=body).execute()
    assert error.value.resp.status == 400 and reason_of(error.value) == reason
    if reason == "badRequest":
        assert json.loads(error.value.content) == BODIES["badRequest"]
    existing = state.add_playlist("Existing")
    with pytest.raises(HttpError) as error:
        body["id"] = existing.id
        yt.playlists().update(part="snippet", body=body).execute()
    assert error.value.resp.status == 400 and reason_of(error.value) == reason
    assert list(state.playlists_by_title()) == ["Existing"]
    longest = {"title": "y" * 150, "description": "z" * 5000}
    made = yt.playlists().insert(part="snippet", body={"snippet": longest}).execute()
    assert made["snippet"]["title"] == "y" * 150
    assert sorted(state.playlists_by_title()) == ["Existing", "y" * 150]


def test_refused_title_can_answer_with_the_documented_reason(yt: Any, state: EmulatorState) -> None:
    state.title_refusal = "invalidPlaylistSnippet"
    with pytest.raises(HttpError) as error:
        create_playlist(yt, "<b>Solo</b>")
    assert json.loads(error.value.content) == BODIES["invalidPlaylistSnippet"]


def test_part_decides_what_a_playlist_write_sets(yt: Any, state: EmulatorState) -> None:
    body = {"snippet": {"title": "Mine"}, "status": {"privacyStatus": "private"}}
    # Without "status" in part the privacy in the body is ignored: public, as on YouTube.
    made = yt.playlists().insert(part="snippet", body=body).execute()
    assert "status" not in made
    assert state.playlists[made["id"]].privacy == "public"
    kept = yt.playlists().insert(part="snippet,status", body=body).execute()
    assert (kept["status"]["privacyStatus"], state.playlists[kept["id"]].privacy) == (
        "private",
        "private",
    )
    # An update without "status" leaves the privacy alone.
    update = {
        "id": kept["id"],
        "snippet": {"title": "Renamed"},
        "status": {"privacyStatus": "public"},
    }
    yt.playlists().update(part="snippet", body=update).execute()
    assert (state.playlists[kept["id"]].title, state.playlists[kept["id"]].privacy) == (
        "Renamed",
        "private",
    )
    # Without "snippet" in part there is no title.
    with pytest.raises(HttpError) as error:
        yt.playlists().insert(part="status", body=body).execute()
    assert reason_of(error.value) == "playlistTitleRequired"


def test_ytsync_creates_its_playlists_private(tmp_path: Path, server: EmulatorServer) -> None:
    """The product's own insert names "status" in part, so its playlists stay private."""
    token = issue_token_file(server.state, tmp_path / "token.json", base_url=server.base_url)
    settings = Settings(
        youtube_api_endpoint=server.base_url, token_file=token, oauth_token_uri=server.token_uri
    )
    playlist_id = YouTube(settings).insert_playlist("Made by ytsync", "d")
    assert server.state.playlists[playlist_id].privacy == "private"


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda yt: yt.channels().list(mine=True, part="snippets"), "snippets"),
        (lambda yt: yt.playlists().list(mine=True, part="snippet,items"), "items"),
        (lambda yt: yt.playlistItems().list(playlistId="LL", part="statistics"), "statistics"),
        (lambda yt: yt.videos().list(id=PUBLIC[0], part="snippet,itemCount"), "itemCount"),
        (
            lambda yt: yt.playlists().insert(part="snippets", body={"snippet": {"title": "T"}}),
            "snippets",
        ),
        (
            lambda yt: yt.playlistItems().insert(
                part="snippet,position",
                body={
                    "snippet": {
                        "playlistId": "PLx",
                        "resourceId": {"kind": "youtube#video", "videoId": PUBLIC[0]},
                    }
                },
            ),
            "position",
        ),
    ],
)
def test_unknown_part_is_refused(yt: Any, state: EmulatorState, call: Any, name: str) -> None:
    with pytest.raises(HttpError) as error:
        call(yt).execute()
    assert error.value.resp.status == 400
    assert json.loads(error.value.content) == unknown_part(name)
    (record,) = [r for r in state.requests() if r.method != "oauth.token"]
    assert (record.status, record.applied) == (400, False)


def test_a_token_without_the_youtube_scope_is_refused_everywhere(
    tmp_path: Path, server: EmulatorServer, state: EmulatorState
) -> None:
    client_id, secret, refresh = state.issue_credentials(NARROW_SCOPE)
    creds = Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=refresh,
        token_uri=server.token_uri,
        client_id=client_id,
        client_secret=secret,
        scopes=[YOUTUBE_SCOPE],
    )
    narrow = build(
        "youtube",
        "v3",
        static_discovery=True,
        client_options={"api_endpoint": server.base_url},
        http=google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http()),
    )
    playlist = state.add_playlist("Target")
    calls = [
        narrow.channels().list(mine=True, part="id"),
        narrow.playlists().list(mine=True, part="id"),
        narrow.playlistItems().list(playlistId=playlist.id, part="id"),
        narrow.videos().list(id=PUBLIC[0], part="id"),
        narrow.playlists().insert(part="snippet", body={"snippet": {"title": "T"}}),
        narrow.playlists().delete(id=playlist.id),
    ]
    for request in calls:
        with pytest.raises(HttpError) as error:
            request.execute()
        body = json.loads(error.value.content)
        assert error.value.resp.status == 403
        assert body["error"]["errors"][0]["reason"] == "insufficientPermissions"
        assert body["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    with pytest.raises(HttpError) as error:
        insert_item(narrow, playlist.id, PUBLIC[0])
    assert json.loads(error.value.content) == BODIES["insufficientPermissions"]
    # The refresh itself worked (the token endpoint grants what the user allowed), and
    # YouTube refused at the door: nothing applied, nothing charged.
    assert creds.granted_scopes == [NARROW_SCOPE]
    assert state.quota_used() == 0
    assert [r.units for r in state.requests() if r.method != "oauth.token"] == [0] * 7
    assert "Target" in state.playlists_by_title()
    # A new sign-in with the scope works.
    token = issue_token_file(state, tmp_path / "token.json", base_url=server.base_url)
    settings = Settings(
        youtube_api_endpoint=server.base_url, token_file=token, oauth_token_uri=server.token_uri
    )
    assert YouTube(settings).my_channel() is not None


def test_max_playlists_per_channel(yt: Any, state: EmulatorState) -> None:
    state.add_playlist("One")
    state.max_playlists = 2
    create_playlist(yt, "Two")
    with pytest.raises(HttpError) as error:
        create_playlist(yt, "Three")
    assert error.value.resp.status == 400
    assert json.loads(error.value.content) == BODIES["maxPlaylistExceeded"]
    assert sorted(state.playlists_by_title()) == ["One", "Two"]  # special lists not counted
    assert state.requests()[-1].units == 50


def test_insert_right_after_create_is_not_found_for_a_moment(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    assert state.not_found_after_create_seconds == NOT_FOUND_AFTER_CREATE_SECONDS > 0
    state.list_lag_seconds = state.list_lag_jitter_seconds = 0
    created = create_playlist(yt, "Fresh")
    with pytest.raises(HttpError) as error:
        insert_item(yt, created["id"], PUBLIC[0])
    assert json.loads(error.value.content) == BODIES["playlistNotFound"]
    # Without a list lag it is listed all along; only inserts miss it.
    listed = yt.playlists().list(id=created["id"], part="id").execute()["items"]
    assert [p["id"] for p in listed] == [created["id"]]
    clock.advance(NOT_FOUND_AFTER_CREATE_SECONDS)
    insert_item(yt, created["id"], PUBLIC[0])
    assert state.playlist_items(created["id"]) == [PUBLIC[0]]
    state.not_found_after_create_seconds = 0
    insert_item(yt, create_playlist(yt, "Off")["id"], PUBLIC[1])


def test_lists_show_new_playlists_and_items_late(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    """YouTube promises no read-after-write: for list_lag_seconds (2 s by default) a new
    playlist is missing from playlists.list and a new item from playlistItems.list,
    look-ups by id included, though both exist (an insert into the playlist works)."""
    assert state.list_lag_seconds == LIST_LAG_SECONDS >= 2
    state.list_lag_jitter_seconds = 0
    state.not_found_after_create_seconds = 0
    made = create_playlist(yt, "Late")["id"]
    item_id = insert_item(yt, made, PUBLIC[0])["id"]

    def mine() -> list[str]:
        items = yt.playlists().list(mine=True, part="id").execute()["items"]
        return [p["id"] for p in items]

    def by_id() -> list[str]:
        return [p["id"] for p in yt.playlists().list(id=made, part="id").execute()["items"]]

    def items(**filters: str) -> list[str]:
        found = yt.playlistItems().list(part="contentDetails", **filters)
        return [i["contentDetails"]["videoId"] for i in found.execute()["items"]]

    assert made not in mine() and by_id() == []
    assert items(playlistId=made) == [] == items(playlistId=made, videoId=PUBLIC[0])
    assert items(id=item_id) == []
    clock.advance(LIST_LAG_SECONDS - 0.5)
    assert made not in mine() and by_id() == [] and items(playlistId=made) == []
    clock.advance(0.5)
    assert made in mine() and by_id() == [made]
    assert items(playlistId=made) == [PUBLIC[0]] == items(playlistId=made, videoId=PUBLIC[0])
    assert items(id=item_id) == [PUBLIC[0]]
    # Playlists and items that were there before the API made them show at once.
    state.list_lag_seconds = 0
    insert_item(yt, made, PUBLIC[1])
    assert items(playlistId=made) == [PUBLIC[0], PUBLIC[1]]


def test_each_list_call_draws_its_own_lag(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    """The lag is list_lag_seconds plus up to list_lag_jitter_seconds (6 s by default),
    drawn per call: an item a call showed may be missing from the next one, until the
    longest lag has passed; a look-up by id is no more consistent than a listing."""
    assert state.list_lag_jitter_seconds == LIST_LAG_JITTER_SECONDS >= 6
    state.not_found_after_create_seconds = 0
    made = create_playlist(yt, "Jitter")["id"]
    item_id = insert_item(yt, made, PUBLIC[0])["id"]

    def seen(**filters: str) -> bool:
        return bool(yt.playlistItems().list(part="id", **filters).execute()["items"])

    clock.advance(LIST_LAG_SECONDS - 0.1)
    assert not any(seen(playlistId=made) or seen(id=item_id) for _ in range(20))
    clock.advance(0.1 + LIST_LAG_JITTER_SECONDS / 2)
    answers = [seen(playlistId=made) for _ in range(40)] + [seen(id=item_id) for _ in range(40)]
    assert any(answers) and not all(answers)
    assert any(answers[:40]) and any(answers[40:]) and not all(answers[40:])
    clock.advance(LIST_LAG_JITTER_SECONDS / 2)
    assert all(seen(playlistId=made) and seen(id=item_id) for _ in range(20))
    # The same seed draws the same lags: a failing run can be replayed.
    first, second = EmulatorState(seed=3), EmulatorState(seed=3)
    assert [first.list_lag() for _ in range(5)] == [second.list_lag() for _ in range(5)]


def test_the_owner_saves_and_removes_videos_without_quota(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    """What the owner does on youtube.com costs the app no quota and leaves no request
    in its log; a saved video lags in lists like any new item, its publishedAt is the
    moment of the save, and its item id is remembered as the owner's."""
    state.not_found_after_create_seconds = 0
    state.list_lag_jitter_seconds = 0
    old = state.add_playlist("Old", video_ids=PUBLIC[:2])
    category = create_playlist(yt, "Category")["id"]
    state.clear_log()
    used = state.quota_used()
    saved_at = clock()
    saved = state.user_add(old.id, PUBLIC[5])
    favourite = state.user_add(category, PUBLIC[6])
    assert state.user_items == {saved.id, favourite.id}
    assert state.playlist_items(old.id) == [*PUBLIC[:2], PUBLIC[5]]
    assert state.playlist_items(category) == [PUBLIC[6]]
    assert state.quota_used() == used

    def listed(playlist_id: str) -> list[tuple[str, str]]:
        found = yt.playlistItems().list(playlistId=playlist_id, part="snippet", maxResults=50)
        return [
            (i["snippet"]["resourceId"]["videoId"], i["snippet"]["publishedAt"])
            for i in found.execute()["items"]
        ]

    long_ago = LONG_AGO.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed(old.id) == [(PUBLIC[0], long_ago), (PUBLIC[1], long_ago)]
    assert listed(category) == []
    clock.advance(LIST_LAG_SECONDS)
    at = saved_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed(old.id)[-1] == (PUBLIC[5], at)
    assert listed(category) == [(PUBLIC[6], at)]
    state.user_remove(saved.id)
    assert [video for video, _ in listed(old.id)] == PUBLIC[:2]
    # The app's log shows only its own reads.
    assert {r.method for r in state.requests()} == {"playlistItems.list"}
    with pytest.raises(ValueError, match="not a normal playlist"):
        state.user_add("WL", PUBLIC[7])
    with pytest.raises(KeyError):
        state.user_add(old.id, "nosuchvideo")


def test_deletions_through_the_api_are_remembered(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    """Checks after a run prove nothing of the owner's was lost: every item a
    playlistItems.delete removed is logged with its time, a deleted playlist's items
    are kept as they were at the delete, and user_items_removed names the owner's."""
    state.not_found_after_create_seconds = 0
    old = state.add_playlist("Old", video_ids=PUBLIC[:2])
    other = state.add_playlist("Other", video_ids=PUBLIC[2:4])
    mine = insert_item(yt, other.id, PUBLIC[4])["id"]
    theirs = state.user_add(other.id, PUBLIC[5])
    late = state.user_add(old.id, PUBLIC[6])
    clock.advance(1)
    yt.playlistItems().delete(id=mine).execute()
    assert [(r.item_id, r.playlist_id, r.video_id, r.time) for r in state.removed_items] == [
        (mine, other.id, PUBLIC[4], clock())
    ]
    assert state.user_items_removed() == []
    yt.playlistItems().delete(id=theirs.id).execute()
    assert state.user_items_removed() == [theirs.id]
    clock.advance(1)
    yt.playlists().delete(id=old.id).execute()
    record = state.deleted_playlists[old.id]
    assert (record.title, record.time) == ("Old", clock())
    assert record.video_ids == [*PUBLIC[:2], PUBLIC[6]]
    assert state.user_items_removed() == [theirs.id, late.id]
    # A playlist the owner emptied first holds nothing of theirs when it goes.
    state.user_remove(state.playlists[other.id].items[0].id)
    yt.playlists().delete(id=other.id).execute()
    assert state.deleted_playlists[other.id].video_ids == [PUBLIC[3]]


def test_videos_list_returns_only_what_the_channel_may_see(yt: Any) -> None:
    """Someone else's private video is left out, like a deleted one (DESIGN.md); the
    channel's own private upload is shown."""
    ids = ",".join([PUBLIC[0], DELETED, PRIVATE, OWN_PRIVATE, "nosuchvideo"])
    response = yt.videos().list(id=ids, part="status,snippet").execute()
    assert [(v["id"], v["status"]["privacyStatus"]) for v in response["items"]] == [
        (PUBLIC[0], "public"),
        (OWN_PRIVATE, "private"),
    ]


def test_videos_list_gives_the_details_rules_match_on(yt: Any, state: EmulatorState) -> None:
    """contentDetails.duration in ISO 8601, and the publishing channel and date in the
    snippet, as YouTube gives them; without contentDetails in ``part``, none of it."""
    state.add_video(
        video_id="short000001",
        title="A Short",
        owner_title="Kestrel Lab",
        published_at="2024-03-05T06:07:08Z",
        duration="PT45S",
    )
    both = yt.videos().list(id="short000001", part="snippet,contentDetails").execute()
    video = both["items"][0]
    assert video["contentDetails"]["duration"] == "PT45S"
    assert video["snippet"]["channelTitle"] == "Kestrel Lab"
    assert video["snippet"]["channelId"].startswith("UC")
    assert video["snippet"]["publishedAt"] == "2024-03-05T06:07:08Z"
    plain = yt.videos().list(id="short000001", part="snippet").execute()
    assert "contentDetails" not in plain["items"][0]


def test_the_uploads_list_is_newest_first(yt: Any, state: EmulatorState) -> None:
    """As on YouTube: a new upload is at the top of the channel's uploads."""
    newer = state.add_video(title="newer upload", own=True)
    listed = yt.playlistItems().list(playlistId=state.uploads_id, part="contentDetails").execute()
    assert [i["contentDetails"]["videoId"] for i in listed["items"]] == [newer.id, OWN_PRIVATE]


def test_position_is_logged(yt: Any, state: EmulatorState) -> None:
    playlist = state.add_playlist("Order", video_ids=PUBLIC[:2])
    insert_item(yt, playlist.id, PUBLIC[5])
    insert_item(yt, playlist.id, PUBLIC[6], position=0)
    assert [r.sent_position for r in state.requests("playlistItems.insert")] == [False, True]
    assert state.playlist_items(playlist.id)[0] == PUBLIC[6]  # the real API honours it


# ------------------------------------------------------------------------- quota


def test_quota_charging_exhaustion_and_reset(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    state.daily_limit = 160
    playlist = state.add_playlist("Q")
    yt.playlists().list(mine=True, part="id").execute()  # 1
    insert_item(yt, playlist.id, PUBLIC[0])  # 50
    with pytest.raises(HttpError):
        insert_item(yt, playlist.id, DELETED)  # failed, still 50
    assert state.quota_used() == 101
    insert_item(yt, playlist.id, PUBLIC[1])  # 151
    with pytest.raises(HttpError) as error:
        insert_item(yt, playlist.id, PUBLIC[2])  # 151 + 50 > 160
    body = json.loads(error.value.content)["error"]
    assert error.value.resp.status == 403
    assert (body["errors"][0]["reason"], body["errors"][0]["domain"]) == (
        "quotaExceeded",
        "youtube.quota",
    )
    assert state.requests()[-1].units == 0 and not state.requests()[-1].applied
    assert state.quota_used() == 151
    yt.playlists().list(mine=True, part="id").execute()  # a 1-unit call still fits
    assert state.quota_used() == 152
    # Midnight Pacific: 08:00 UTC.
    reset = QuotaPeriods().next_reset(clock())
    assert reset == datetime(2025, 1, 16, 8, 0, tzinfo=UTC)
    clock.set(reset - timedelta(seconds=1))
    with pytest.raises(HttpError):
        insert_item(yt, playlist.id, PUBLIC[2])
    clock.set(reset)
    insert_item(yt, playlist.id, PUBLIC[2])
    assert state.quota_used() == 50
    assert list(state.quota_usage().values()) == [152, 50]
    assert state.playlist_items(playlist.id) == PUBLIC[:3]


def test_quota_burned_by_someone_else(yt: Any, state: EmulatorState) -> None:
    state.burn_quota(9_960)
    playlist = state.add_playlist("B")
    with pytest.raises(HttpError) as error:
        insert_item(yt, playlist.id, PUBLIC[0])
    assert reason_of(error.value) == "quotaExceeded"
    assert state.quota_remaining() == 40


def test_short_quota_period(server: EmulatorServer, clock: VirtualClock) -> None:
    state = server.state
    state.quota_clock = QuotaPeriods(period_seconds=60)
    clock.set(datetime(2025, 1, 15, 20, 0, 30, tzinfo=UTC))
    state.daily_limit = 2
    yt = make_client(server)
    yt.playlists().list(mine=True, part="id").execute()
    yt.playlists().list(mine=True, part="id").execute()
    with pytest.raises(HttpError) as error:
        yt.playlists().list(mine=True, part="id").execute()
    assert reason_of(error.value) == "quotaExceeded"
    clock.advance(30)  # the next minute starts a new period
    yt.playlists().list(mine=True, part="id").execute()
    assert state.quota_used() == 1


def test_channels_signed_in_through_one_client_share_its_projects_quota(
    server: EmulatorServer, state: EmulatorState, clock: VirtualClock
) -> None:
    """Two accounts (channels) on one address, the second signed in through the first's
    OAuth client: each token reaches its own channel, and both spend one quota, the
    Cloud project's."""
    other = EmulatorState(clock=clock, seed=8, channel_title="Second Channel")
    server.add_account(other)
    client_id, secret, first_refresh = state.issue_credentials()
    other.join_project(state, client_id)
    _same, _secret, second_refresh = other.issue_credentials(client_id=client_id)
    assert _same == client_id

    def client(refresh: str) -> Any:
        creds = Credentials(  # type: ignore[no-untyped-call]
            None,
            refresh_token=refresh,
            token_uri=server.token_uri,
            client_id=client_id,
            client_secret=secret,
        )
        http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http())
        options = {"api_endpoint": server.base_url}
        return build("youtube", "v3", static_discovery=True, client_options=options, http=http)

    first, second = client(first_refresh), client(second_refresh)
    titles = [
        yt.channels().list(mine=True, part="snippet").execute()["items"][0]["snippet"]["title"]
        for yt in (first, second)
    ]
    assert titles == ["Emulator Channel", "Second Channel"]
    assert state.quota_used() == other.quota_used() == 2
    state.daily_limit = other.daily_limit = 53
    other.add_video(video_id=PUBLIC[0])
    insert_item(second, other.add_playlist("Mine").id, PUBLIC[0])  # 52 of the project's 53
    first.playlists().list(mine=True, part="id").execute()  # 53
    with pytest.raises(HttpError) as error:
        insert_item(first, state.add_playlist("Theirs").id, PUBLIC[1])
    assert reason_of(error.value) == "quotaExceeded"
    assert state.quota_used() == 53
    assert [r.method for r in other.requests() if r.units] == [
        "channels.list",
        "playlistItems.insert",
    ]


def test_playlist_creation_rate_limit(yt: Any, state: EmulatorState, clock: VirtualClock) -> None:
    state.playlist_create_limit_per_period = 2
    create_playlist(yt, "One")
    create_playlist(yt, "Two")
    with pytest.raises(HttpError) as error:
        create_playlist(yt, "Three")
    body = json.loads(error.value.content)["error"]
    assert error.value.resp.status == 429
    assert body["errors"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert body["status"] == "RESOURCE_EXHAUSTED"
    clock.set(state.quota_clock.next_reset(clock()))
    create_playlist(yt, "Three")
    assert sorted(state.playlists_by_title()) == ["One", "Three", "Two"]


# -------------------------------------------------------------------------- auth


def test_expired_access_token_is_refreshed_transparently(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    yt.playlists().list(mine=True, part="id").execute()
    clock.advance(3601)  # the server's clock passes the token's hour
    yt.playlists().list(mine=True, part="id").execute()
    state.expire_all_access_tokens()
    yt.playlists().list(mine=True, part="id").execute()
    trail = [(r.method, r.status, r.units) for r in state.requests()]
    assert trail == [
        ("oauth.token", 200, 0),
        ("playlists.list", 200, 1),
        ("playlists.list", 401, 0),
        ("oauth.token", 200, 0),
        ("playlists.list", 200, 1),
        ("playlists.list", 401, 0),
        ("oauth.token", 200, 0),
        ("playlists.list", 200, 1),
    ]


def test_short_ttl_tokens_keep_working(server: EmulatorServer, clock: VirtualClock) -> None:
    server.state.access_token_ttl = 30
    yt = make_client(server)
    for _ in range(3):
        yt.channels().list(mine=True, part="id").execute()
        clock.advance(31)
    statuses = [r.status for r in server.state.requests("channels.list")]
    assert statuses.count(200) == 3


def test_revoked_refresh_token_raises_refresh_error(yt: Any, state: EmulatorState) -> None:
    yt.playlists().list(mine=True, part="id").execute()
    state.revoke_refresh_tokens()
    state.expire_all_access_tokens()
    with pytest.raises(RefreshError) as error:
        yt.playlists().list(mine=True, part="id").execute()
    assert "invalid_grant" in str(error.value)


def test_refresh_token_ttl(server: EmulatorServer, clock: VirtualClock) -> None:
    server.state.refresh_token_ttl = 7 * 86400
    yt = make_client(server)
    yt.playlists().list(mine=True, part="id").execute()
    clock.advance(7 * 86400)
    with pytest.raises(RefreshError):
        yt.playlists().list(mine=True, part="id").execute()


def test_request_without_token_is_401(server: EmulatorServer) -> None:
    response, content = httplib2.Http().request(
        server.base_url + "/youtube/v3/playlists?part=id&mine=true"
    )
    assert response.status == 401
    assert json.loads(content) == BODIES["authError"]
    assert server.state.quota_used() == 0


# ------------------------------------------------------------------------ faults


def test_lost_response_after_reset_applies_write_and_client_raises(
    yt: Any, state: EmulatorState
) -> None:
    playlist = state.add_playlist("Lost")
    state.faults.add(method="playlistItems.insert", kind="lose_response_reset", count=1)
    with pytest.raises(ConnectionError):
        insert_item(yt, playlist.id, PUBLIC[0])
    assert state.playlist_items(playlist.id) == [PUBLIC[0]]
    (record,) = state.requests("playlistItems.insert")
    assert record.applied and record.fault == "lose_response_reset" and record.units == 50
    # The client reconnects and carries on.
    insert_item(yt, playlist.id, PUBLIC[1])
    assert state.playlist_items(playlist.id) == PUBLIC[:2]


class NoResendHttp(httplib2.Http):  # type: ignore[misc]
    """What the app needs: httplib2 re-sends a request once when the connection closes
    without a status line, even with RETRIES = 1 ("stale keep-alive" logic).  Turning the
    close into a plain connection error makes it raise instead."""

    def _conn_request(
        self, conn: Any, request_uri: str, method: str, body: Any, headers: Any
    ) -> Any:
        original = conn.getresponse

        def getresponse() -> Any:
            try:
                return original()
            except http.client.BadStatusLine as error:
                raise ConnectionAbortedError(
                    f"connection closed without response: {error}"
                ) from None

        conn.getresponse = getresponse
        try:
            return super()._conn_request(conn, request_uri, method, body, headers)
        finally:
            conn.getresponse = original


def test_lost_response_by_clean_close_is_resent_by_stock_httplib2(
    server: EmulatorServer, state: EmulatorState
) -> None:
    """Documents the trap: RETRIES = 1 is not enough; the re-send makes a duplicate."""
    playlist = state.add_playlist("Resent")
    stock = make_client(server)
    guarded = make_client(server, NoResendHttp())
    stock.channels().list(mine=True, part="id").execute()
    guarded.channels().list(mine=True, part="id").execute()
    state.faults.add(method="playlistItems.insert", kind="lose_response", count=1)
    insert_item(stock, playlist.id, PUBLIC[0])  # no error: lost once, re-sent, answered...

    state.faults.add(method="playlistItems.insert", kind="lose_response", count=1)
    with pytest.raises(ConnectionError):
        insert_item(guarded, playlist.id, PUBLIC[1])
    inserts = state.requests("playlistItems.insert")
    assert [(r.video_id, r.fault) for r in inserts] == [
        (PUBLIC[0], "lose_response"),
        (PUBLIC[0], None),  # ...by a silent second insert on a new connection
        (PUBLIC[1], "lose_response"),
    ]
    assert inserts[0].connection != inserts[1].connection
    assert state.find_duplicates() == {playlist.id: {PUBLIC[0]: 2}}
    assert state.playlist_items(playlist.id) == [PUBLIC[0], PUBLIC[0], PUBLIC[1]]


@pytest.mark.parametrize(
    ("kind", "options", "status", "reason", "units"),
    [
        ("error_5xx", {}, 500, "backendError", 50),
        ("error_5xx", {"status": 503}, 503, "backendError", 50),
        ("rate_limit_429", {}, 429, "rateLimitExceeded", 50),
        ("rate_limit_403", {}, 403, "rateLimitExceeded", 50),
        ("rate_limit_403", {"reason": "userRateLimitExceeded"}, 403, "userRateLimitExceeded", 50),
        ("conflict_409", {}, 409, "SERVICE_UNAVAILABLE", 50),
        ("quota_exceeded", {}, 403, "quotaExceeded", 0),
        ("quota_exceeded", {"reason": "dailyLimitExceeded"}, 403, "dailyLimitExceeded", 0),
    ],
)
def test_injected_errors_are_not_applied(
    yt: Any,
    state: EmulatorState,
    kind: Any,
    options: dict[str, Any],
    status: int,
    reason: str,
    units: int,
) -> None:
    playlist = state.add_playlist("Faulty")
    state.faults.add(method="playlistItems.insert", kind=kind, count=1, **options)
    yt.playlists().list(mine=True, part="id").execute()  # other methods unaffected
    with pytest.raises(HttpError) as error:
        insert_item(yt, playlist.id, PUBLIC[0])
    assert (error.value.resp.status, reason_of(error.value)) == (status, reason)
    assert state.playlist_items(playlist.id) == []
    assert state.requests()[-1].units == units
    assert state.faults.summary() == {kind: 1}
    insert_item(yt, playlist.id, PUBLIC[0])  # the count is used up
    assert state.playlist_items(playlist.id) == [PUBLIC[0]]


def test_write_hook_sees_every_write_and_can_lose_or_ignore_it(
    yt: Any, state: EmulatorState
) -> None:
    playlist = state.add_playlist("Hooked")
    verdicts: list[Any] = ["answer", "lose", "ignore"]
    seen: list[str] = []

    def hook(method: str) -> Any:
        seen.append(method)
        return verdicts.pop(0)

    state.write_hook = hook
    yt.playlists().list(mine=True, part="id").execute()  # reads never reach the hook
    insert_item(yt, playlist.id, PUBLIC[0])
    with pytest.raises(ConnectionError):
        insert_item(yt, playlist.id, PUBLIC[1])  # applied, answer lost
    with pytest.raises(ConnectionError):
        insert_item(yt, playlist.id, PUBLIC[2])  # never applied
    assert seen == ["playlistItems.insert"] * 3
    assert state.playlist_items(playlist.id) == PUBLIC[:2]
    inserts = state.requests("playlistItems.insert")
    assert [(r.status, r.applied, r.fault, r.units) for r in inserts] == [
        (200, True, None, 50),
        (200, True, "lose_response_reset", 50),
        (499, False, "ignored", 0),
    ]
    assert inserts[2].video_id == PUBLIC[2]


def test_fault_probability_is_reproducible() -> None:
    def pattern(seed: int) -> list[bool]:
        faults = Faults(seed)
        faults.add(method="playlists.*", kind="error_5xx", probability=0.3)
        return [faults.draw("playlists.insert") is not None for _ in range(200)]

    first = pattern(5)
    assert first == pattern(5)
    assert first != pattern(6)
    assert 30 < sum(first) < 90
    assert Faults(5).draw("playlists.insert") is None  # no rules, no faults


def test_overlapping_inserts_conflict(server: EmulatorServer, state: EmulatorState) -> None:
    playlist = state.add_playlist("Busy")
    first, second = make_client(server), make_client(server)
    outcome: list[Any] = []
    with state.hold_writes():
        worker = threading.Thread(
            target=lambda: outcome.append(insert_item(first, playlist.id, PUBLIC[0]))
        )
        worker.start()
        assert state.wait_for_in_flight(playlist.id, timeout=5)
        with pytest.raises(HttpError) as error:
            insert_item(second, playlist.id, PUBLIC[1])
    worker.join(timeout=5)
    assert error.value.resp.status == 409 and reason_of(error.value) == "SERVICE_UNAVAILABLE"
    assert json.loads(error.value.content)["error"]["status"] == "ABORTED"
    assert outcome and outcome[0]["snippet"]["playlistId"] == playlist.id
    assert state.playlist_items(playlist.id) == [PUBLIC[0]]


def test_write_latency_keeps_the_playlist_busy(
    server: EmulatorServer, state: EmulatorState
) -> None:
    """The benchmark knob: with write_latency each insert holds its playlist for a while."""
    state.write_latency = 0.5
    playlist = state.add_playlist("Slow")
    first, second = make_client(server), make_client(server)
    worker = threading.Thread(target=insert_item, args=(first, playlist.id, PUBLIC[0]))
    worker.start()
    assert state.wait_for_in_flight(playlist.id, timeout=5)
    with pytest.raises(HttpError) as error:
        insert_item(second, playlist.id, PUBLIC[1])
    worker.join(timeout=5)
    assert error.value.resp.status == 409
    assert state.playlist_items(playlist.id) == [PUBLIC[0]]
    assert not state.busy


def test_insert_right_after_create_conflicts(
    yt: Any, state: EmulatorState, clock: VirtualClock
) -> None:
    state.conflict_after_create_seconds = 2
    state.not_found_after_create_seconds = 0
    created = create_playlist(yt, "Fresh")
    with pytest.raises(HttpError) as error:
        insert_item(yt, created["id"], PUBLIC[0])
    assert error.value.resp.status == 409
    clock.advance(2)
    insert_item(yt, created["id"], PUBLIC[0])
    assert state.playlist_items(created["id"]) == [PUBLIC[0]]


# ------------------------------------------------------------ library and files


def test_generator_is_deterministic() -> None:
    def build_state(seed: int) -> EmulatorState:
        state = EmulatorState()
        generate_library(state, videos=3000, playlists=20, seed=seed)
        return state

    def snapshot(state: EmulatorState) -> list[tuple[str, list[str]]]:
        return [(p.title, [i.video_id for i in p.items]) for p in state.iter_playlists()]

    one, two, other = build_state(3), build_state(3), build_state(4)
    assert snapshot(one) == snapshot(two)
    assert snapshot(one) != snapshot(other)
    assert sample_plan_rows(one, 9) == sample_plan_rows(two, 9)


def test_generator_builds_a_realistic_library() -> None:
    state = EmulatorState()
    summary = generate_library(state, videos=20_000, playlists=100, seed=1)
    assert summary["videos"] == 20_000 and summary["playlists"] == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{11}", v) for v in state.videos)
    assert all(re.fullmatch(r"PL[A-Za-z0-9_-]{32}", p.id) for p in state.iter_playlists())
    assert summary["deleted_videos"] == 100  # half of 1 %
    assert summary["private_videos"] >= 100
    assert min(summary["uploads"], summary["likes"], summary["watch_later"]) > 0
    sizes = sorted(len(p.items) for p in state.iter_playlists())
    assert sizes[-1] <= MAX_PLAYLIST_ITEMS and sizes[-1] > 10 * sizes[len(sizes) // 2]
    assert state.find_duplicates()
    membership: dict[str, int] = {}
    for playlist in state.iter_playlists():
        for vid in {i.video_id for i in playlist.items}:
            membership[vid] = membership.get(vid, 0) + 1
    assert max(membership.values()) >= 2

    rows = sample_plan_rows(state, 1)
    categories = {c for c, _, _ in rows}
    assert len(categories) >= 20
    assert len({c for c, _, protected in rows if protected}) == 1
    planned = {v for _, v, _ in rows}
    assert len(planned) == len(rows)  # one category per video
    unavailable = {
        v.id for v in state.videos.values() if v.deleted or v.privacy == "private"
    } - set(state.playlist_items(state.uploads_id))
    assert planned & unavailable  # a stale plan names a few unavailable videos
    assert len(membership) - len(planned) > 500  # and leaves some videos out

    # Shorts (at most 60 s, tagged in the title), long videos, a few live broadcasts.
    lengths = [_seconds(v.duration) for v in state.videos.values()]
    shorts = [v for v in state.videos.values() if v.title.endswith("#shorts")]
    assert 0.06 < len(shorts) / len(lengths) < 0.10
    assert all(0 < _seconds(v.duration) <= 60 for v in shorts)
    assert sum(s > 3600 for s in lengths) > 100
    assert 0 < lengths.count(0) < 200  # P0D
    assert len({v.owner_title for v in state.videos.values()}) > 100


def _seconds(iso: str) -> int:
    match = re.fullmatch(r"P(?:0D|T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)", iso)
    assert match, iso
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_token_file_is_private(tmp_path: Path) -> None:
    path = write_token_file(
        tmp_path / "token.json",
        base_url="http://127.0.0.1:1234",
        client_id="cid",
        client_secret="secret",
        refresh_token="rt",
    )
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "type": "authorized_user",
        "client_id": "cid",
        "client_secret": "secret",
        "refresh_token": "rt",
        "token_uri": "http://127.0.0.1:1234/token",
    }


def test_standalone_command(tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    command = [
        sys.executable,
        "-m",
        "ytsync_emulator",
        "--port=0",
        "--videos=300",
        "--playlists=7",
        "--seed=2",
        "--list-lag=1",
        "--list-lag-jitter=3.5",
        f"--token-file={token_file}",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # blocks until the server is listening
        assert banner.startswith("YouTube emulator at http://127.0.0.1:"), banner
        base_url = banner.split()[3]
        while "lists show" not in (line := process.stdout.readline()):
            assert line, "the banner ended without the list lag"
        assert "1 to 4.5 s late" in line
        info = json.loads(token_file.read_text())
        # Not from_authorized_user_info: it replaces the file's token_uri with Google's.
        creds = Credentials(  # type: ignore[no-untyped-call]
            None,
            refresh_token=info["refresh_token"],
            token_uri=info["token_uri"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
        )
        yt = build(
            "youtube",
            "v3",
            static_discovery=True,
            client_options={"api_endpoint": base_url},
            http=google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http()),
        )
        playlists = list_all(yt.playlists().list, mine=True, part="id", maxResults=50)
        assert len(playlists) == 7
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "requests served" in out


def test_the_emulator_charges_youtubes_documented_costs() -> None:
    """Its own table, as Google documents it: every list 1 unit, every insert, update and
    delete 50; each route the emulator serves is charged from it."""
    for method, units in COSTS.items():
        verb = method.split(".")[1]
        documented = 100 if method == "search.list" else 1 if verb == "list" else 50
        assert units == documented, method
    for name, cost, _handler in ROUTES.values():
        assert cost == COSTS[name], name


def test_the_products_cost_table_agrees_with_the_emulators() -> None:
    """ytsync's own costs (what it plans and charges its ledger with) against the
    emulator's, which never imports them: a mistake in either shows here."""
    from ytsync.quota import LIST_COST, WRITE_COST

    for name, cost, _handler in ROUTES.values():
        assert cost == (LIST_COST if name.endswith(".list") else WRITE_COST), name
