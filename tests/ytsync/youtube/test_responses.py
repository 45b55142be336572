"""YouTube's answers checked against the models of the fields ytsync reads: real error
bodies (../shared/youtube-errors.json) and success bodies captured from the emulator
over HTTP, as they are and spoilt; and what the client does with an answer it cannot
read (a read is sent again, then fails with one clear error; a write's outcome is
unknown, never sent again)."""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ytsync.config import Settings
from ytsync.youtube.client import ReadRetry, YouTube
from ytsync.youtube.errors import EndlessListing, Outcome, UnreadableAnswer, classify
from ytsync.youtube.responses import MAX_PAGES, MODELS, checked
from ytsync_emulator.credentials import issue_token_file
from ytsync_emulator.errors import BODIES
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox.sandbox import sample_library

ROOT = Path(__file__).resolve().parents[3]
SHARED_ERRORS = ROOT.parent / "shared" / "youtube-errors.json"
# Fast re-sends: what is counted here is how many, not how long between them.
QUICK = ReadRetry(attempts=3, first_wait=0.001, max_wait=0.001, jitter=0)


def error_bodies() -> list[tuple[str, dict[str, Any]]]:
    """The real error bodies: the shared reference's, or where this checkout has none
    beside it, the emulator's copy of them (tests/sandbox/test_emulator.py holds it
    equal to the reference)."""
    if not SHARED_ERRORS.exists():
        return sorted(BODIES.items())
    reference = json.loads(SHARED_ERRORS.read_text())
    found = []
    for case, entry in reference.items():
        if case.startswith("_"):
            continue
        for n, body in enumerate(entry.get("bodies", [entry.get("body")])):
            found.append((f"{case}-{n}", body))
    return found


@pytest.mark.parametrize("method", sorted(MODELS))
def test_every_real_error_body_sent_as_a_success_is_refused(method: str) -> None:
    bodies = error_bodies()
    assert len(bodies) >= 18, "every case of the reference is there"
    for case, body in bodies:
        with pytest.raises(UnreadableAnswer) as caught:
            checked(method, body)
        assert str(caught.value) == (
            f"YouTube's answer to {method} could not be read: it is an error body, "
            "sent as a success (HTTP 2xx)"
        ), case


# ------------------------------------------------------------------ captured answers


@pytest.fixture(scope="module")
def captured() -> Iterator[dict[str, Any]]:
    """One real answer of every method ytsync reads, as the emulator sends it."""
    state = sample_library(videos=60, playlists=3, daily_limit=None, seed=4)
    state.add_video(title="Deleted one", deleted=True)
    with EmulatorServer(state) as server:
        yield _capture(server)


def _capture(server: EmulatorServer) -> dict[str, Any]:
    client_id, secret, refresh = server.state.issue_credentials()
    form = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": refresh,
        }
    ).encode()
    with urllib.request.urlopen(server.token_uri, data=form) as answer:
        token = json.loads(answer.read())["access_token"]

    def call(verb: str, path: str, query: dict[str, str], body: Any = None) -> Any:
        url = f"{server.base_url}/youtube/v3/{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(
            url,
            method=verb,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read())

    parts = "snippet,contentDetails,status"
    playlists = call("GET", "playlists", {"part": parts, "mine": "true", "maxResults": "2"})
    first = playlists["items"][0]["id"]
    items = call("GET", "playlistItems", {"part": parts, "playlistId": first, "maxResults": "50"})
    videos = [item["contentDetails"]["videoId"] for item in items["items"]]
    listed = call("GET", "videos", {"part": "snippet,status", "id": ",".join(videos)})
    made = call(
        "POST",
        "playlists",
        {"part": "snippet,status"},
        {"snippet": {"title": "Captured"}, "status": {"privacyStatus": "private"}},
    )
    added = call(
        "POST",
        "playlistItems",
        {"part": "snippet"},
        {
            "snippet": {
                "playlistId": first,
                "resourceId": {"kind": "youtube#video", "videoId": listed["items"][0]["id"]},
            }
        },
    )
    return {
        "channels.list": call(
            "GET", "channels", {"part": "snippet,contentDetails", "mine": "true"}
        ),
        "playlists.list": playlists,
        "playlistItems.list": items,
        "videos.list": listed,
        "playlists.insert": made,
        "playlistItems.insert": added,
    }


def test_captured_success_bodies_are_read_and_handed_back_as_they_are(
    captured: dict[str, Any],
) -> None:
    assert set(captured) == set(MODELS)
    assert captured["playlists.list"]["nextPageToken"], "a listing of several pages"
    for method, body in captured.items():
        kept = copy.deepcopy(body)
        assert checked(method, body) is body
        assert body == kept, "checked, not changed"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def spoil(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if value is _GONE:
            del node[key]
        else:
            node[key] = value

    return spoil


_GONE = object()
# method -> (what is spoilt, the path the message names, what it says)
SPOILT = [
    ("playlists.list", _set("items", "PLone"), "items: Input should be a valid list"),
    ("playlists.list", _set("items.0", "PLone"), "items.0: Input should be a JSON object"),
    ("playlists.list", _set("items.0.id", 42), "items.0.id: Input should be a valid string"),
    ("playlists.list", _set("items.0.snippet", None), "items.0.snippet: Input should be a JSON"),
    ("playlists.list", _set("items.1.contentDetails.itemCount", "12"), "itemCount: Input should"),
    ("playlists.list", _set("items", _GONE), "items: Field required"),
    ("playlists.list", _set("nextPageToken", 7), "nextPageToken: Input should be a valid"),
    ("playlistItems.list", _set("items.0.contentDetails", _GONE), "contentDetails: Field req"),
    ("playlistItems.list", _set("items.0.contentDetails.videoId", ""), "at least 1 character"),
    ("playlistItems.list", _set("items.0.snippet.position", "3"), "position: Input should be"),
    ("videos.list", _set("items.0.status.privacyStatus", None), "privacyStatus: Input should"),
    ("channels.list", _set("items.0.contentDetails.relatedPlaylists", []), "relatedPlaylists"),
    ("playlists.insert", _set("id", _GONE), "id: Field required"),
    ("playlistItems.insert", _set("id", None), "id: Input should be a valid string"),
]


@pytest.mark.parametrize(("method", "spoil", "said"), SPOILT)
def test_a_spoilt_body_is_one_error_naming_what_was_asked_and_where(
    captured: dict[str, Any],
    method: str,
    spoil: Callable[[dict[str, Any]], None],
    said: str,
) -> None:
    body = copy.deepcopy(captured[method])
    spoil(body)
    with pytest.raises(UnreadableAnswer) as caught:
        checked(method, body)
    message = str(caught.value)
    assert message.startswith(f"YouTube's answer to {method} could not be read: ")
    assert said in message
    assert "PLone" not in message, "the answer's values are not echoed"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("<!DOCTYPE html><html></html>", "it is not JSON (an HTML page or plain text?)"),
        ([{"id": "x"}], "it is a JSON array, not an object"),
        (None, "it is a JSON null, not an object"),
    ],
)
def test_an_answer_that_is_not_an_object_is_named_for_what_it_is(answer: Any, said: str) -> None:
    with pytest.raises(
        UnreadableAnswer, match=re.escape(f"playlists.list could not be read: {said}")
    ):
        checked("playlists.list", answer)


# ------------------------------------------------------------------ the client


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorState(seed=5, not_found_after_create_seconds=0))
    server.start()
    yield server
    server.stop()


def client(server: EmulatorServer, tmp_path: Path) -> YouTube:
    token = issue_token_file(server.state, tmp_path / "token.json", base_url=server.base_url)
    settings = Settings(
        youtube_api_endpoint=server.base_url,
        token_file=token,
        oauth_token_uri=server.token_uri,
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
    )
    return YouTube(settings, read_retry=QUICK, sleep=lambda _seconds: None)


@pytest.mark.parametrize("kind", ["html_answer", "garbled_answer"])
def test_a_read_that_cannot_be_read_is_sent_again_then_fails_clearly(
    emulator: EmulatorServer, tmp_path: Path, kind: str
) -> None:
    youtube = client(emulator, tmp_path)
    emulator.state.add_playlist("Mine")
    emulator.state.faults.add(kind=kind, method="playlists.list")  # type: ignore[arg-type]
    with pytest.raises(UnreadableAnswer) as caught:
        youtube.my_playlists()
    assert str(caught.value).startswith("YouTube's answer to playlists.list could not be read")
    failure = classify(caught.value)
    assert failure is not None and failure.outcome is Outcome.UNKNOWN_RESULT
    assert failure.describe() == str(caught.value)
    assert len(emulator.state.requests("playlists.list")) == QUICK.attempts

    # A passing fault: the read sent again is read.
    emulator.state.faults.clear()
    emulator.state.faults.add(kind=kind, method="playlists.list", count=1)  # type: ignore[arg-type]
    assert [p["snippet"]["title"] for p in youtube.my_playlists().items] == ["Mine"]


def test_a_write_whose_answer_cannot_be_read_is_not_sent_again(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    youtube = client(emulator, tmp_path)
    emulator.state.faults.add(kind="garbled_answer", method="playlists.insert")
    with pytest.raises(UnreadableAnswer) as caught:
        youtube.insert_playlist("Made", "but the answer lost its id")
    assert "playlists.insert could not be read: id: Field required" in str(caught.value)
    failure = classify(caught.value)
    # Like a lost answer: applied or not, it is judged later by a read, never re-sent.
    assert failure is not None and failure.outcome is Outcome.UNKNOWN_RESULT
    assert len(emulator.state.requests("playlists.insert")) == 1
    assert list(emulator.state.playlists_by_title()) == ["Made"]


@pytest.mark.parametrize(
    ("kind", "pages", "said"),
    [
        ("repeat_page_token", 2, "page 2 gives the nextPageToken of an earlier page"),
        ("endless_pages", MAX_PAGES["playlistItems.list"], "it goes on past 200 pages"),
    ],
)
def test_a_listing_that_would_never_end_is_stopped(
    emulator: EmulatorServer, tmp_path: Path, kind: str, pages: int, said: str
) -> None:
    youtube = client(emulator, tmp_path)
    videos = [emulator.state.add_video(title=f"v{n}").id for n in range(3)]
    playlist = emulator.state.add_playlist("Three", video_ids=videos)
    emulator.state.faults.add(kind=kind, method="playlistItems.list")  # type: ignore[arg-type]
    with pytest.raises(EndlessListing) as caught:
        for _page in youtube.iter_pages(lambda token: youtube.playlist_items(playlist.id, token)):
            pass
    assert str(caught.value).startswith("YouTube's listing playlistItems.list does not end: ")
    assert said in str(caught.value)
    assert len(emulator.state.requests("playlistItems.list")) == pages
