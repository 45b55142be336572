"""ytsync's YouTube client through the real google-api-python-client and the emulator."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from googleapiclient.errors import HttpError

from ytsync.config import Settings
from ytsync.emulator.credentials import issue_token_file
from ytsync.emulator.server import EmulatorServer
from ytsync.emulator.state import EmulatorState
from ytsync.errors import UserError
from ytsync.youtube.client import YouTube
from ytsync.youtube.errors import Outcome, classify
from ytsync.youtube.transport import ResponseLost


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorState(seed=3))
    server.start()
    yield server
    server.stop()


def settings_for(server: EmulatorServer, tmp_path: Path) -> Settings:
    token = issue_token_file(server.state, tmp_path / "token.json", base_url=server.base_url)
    return Settings(
        youtube_api_endpoint=server.base_url,
        token_file=token,
        oauth_token_uri=server.token_uri,
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
    )


def a_video(server: EmulatorServer) -> str:
    return server.state.add_video(title="A video").id


def test_lost_insert_answer_is_not_sent_twice(emulator: EmulatorServer, tmp_path: Path) -> None:
    youtube = YouTube(settings_for(emulator, tmp_path))
    playlist = youtube.insert_playlist("Lost answers", "test")
    video = a_video(emulator)
    youtube.insert_playlist_item(playlist, video)  # warm the keep-alive connection
    for kind in ("lose_response", "lose_response_reset"):
        emulator.state.faults.add(method="playlistItems.insert", kind=kind, count=1)
        with pytest.raises(ResponseLost if kind == "lose_response" else ConnectionError) as caught:
            youtube.insert_playlist_item(playlist, video)
        failure = classify(caught.value)
        assert failure is not None and failure.outcome is Outcome.UNKNOWN_RESULT
    # One warm-up insert plus exactly one per lost answer: nothing was re-sent.
    assert emulator.state.playlist_items(playlist) == [video] * 3
    assert len(emulator.state.requests("playlistItems.insert")) == 3


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("error_5xx", Outcome.TRANSIENT),
        ("rate_limit_429", Outcome.RATE_LIMITED),
        ("rate_limit_403", Outcome.RATE_LIMITED),
        ("conflict_409", Outcome.TRANSIENT),
        ("quota_exceeded", Outcome.QUOTA_EXHAUSTED),
    ],
)
def test_injected_errors_are_classified_from_the_body(
    emulator: EmulatorServer, tmp_path: Path, kind: str, outcome: Outcome
) -> None:
    youtube = YouTube(settings_for(emulator, tmp_path))
    playlist = youtube.insert_playlist("Faults", "test")
    emulator.state.faults.add(method="playlistItems.insert", kind=kind, count=1)  # type: ignore[arg-type]
    with pytest.raises(HttpError) as caught:
        youtube.insert_playlist_item(playlist, a_video(emulator))
    failure = classify(caught.value)
    assert failure is not None and failure.outcome is outcome
    assert emulator.state.playlist_items(playlist) == []


def test_item_failures_are_permanent_per_item(emulator: EmulatorServer, tmp_path: Path) -> None:
    youtube = YouTube(settings_for(emulator, tmp_path))
    playlist = youtube.insert_playlist("Items", "test")
    state = emulator.state
    private = state.add_video(title="Hidden", privacy="private", owner_channel_id="UCsomeoneelse")
    gone = state.add_video(title="Gone", deleted=True)
    outcomes = []
    for video in (private.id, gone.id, "doesNotExist"):
        with pytest.raises(HttpError) as caught:
            youtube.insert_playlist_item(playlist, video)
        failure = classify(caught.value)
        assert failure is not None
        outcomes.append((failure.outcome, failure.reason))
    assert outcomes == [
        (Outcome.ITEM_UNAVAILABLE, "failedPrecondition"),
        (Outcome.ITEM_UNAVAILABLE, "videoNotFound"),
        (Outcome.ITEM_UNAVAILABLE, "videoNotFound"),
    ]
    with pytest.raises(HttpError) as caught:
        youtube.delete_playlist("PLnothingHere")
    failure = classify(caught.value)
    assert failure is not None and failure.outcome is Outcome.NOT_FOUND


def test_expired_token_is_refreshed_and_written_back_0600(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    settings = settings_for(emulator, tmp_path)
    youtube = YouTube(settings)
    youtube.my_playlists()
    first = json.loads(settings.token_file.read_text())["token"]
    emulator.state.expire_all_access_tokens()
    youtube.my_playlists()
    saved = json.loads(settings.token_file.read_text())
    assert saved["token"] != first
    assert "refresh_token" in saved
    assert stat.S_IMODE(settings.token_file.stat().st_mode) == 0o600


def test_revoked_sign_in_is_auth_required(emulator: EmulatorServer, tmp_path: Path) -> None:
    youtube = YouTube(settings_for(emulator, tmp_path))
    emulator.state.revoke_refresh_tokens()
    emulator.state.expire_all_access_tokens()
    with pytest.raises(Exception) as caught:
        youtube.my_playlists()
    failure = classify(caught.value)
    assert failure is not None and failure.outcome is Outcome.AUTH_REQUIRED
    assert "refresh_token" not in failure.describe()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no token file at"),
        ("{not json", "not valid JSON"),
        ('{"type": "authorized_user"}', "missing fields"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_token_files_are_user_errors(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    token = tmp_path / "token.json"
    if isinstance(content, bytes):
        token.write_bytes(content)
    elif content is not None:
        token.write_text(content)
    settings = Settings(token_file=token, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(UserError, match=message):
        YouTube(settings)
