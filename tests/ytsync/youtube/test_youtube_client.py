"""ytsync's YouTube client through the real google-api-python-client and the emulator."""

from __future__ import annotations

import errno
import http.client
import json
import logging
import socket
import ssl
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httplib2
import pytest
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError

from ytsync.config import Settings
from ytsync.errors import UserError
from ytsync.youtube.client import COSTS, ReadRetry, YouTube
from ytsync.youtube.errors import Outcome, classify
from ytsync.youtube.transport import ResponseLost
from ytsync_emulator.credentials import NARROW_SCOPE, issue_token_file
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import EmulatorState


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    # These tests insert into playlists they have just made; the transient 404 that
    # follows a creation has its own tests.
    server = EmulatorServer(EmulatorState(seed=3, not_found_after_create_seconds=0))
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


# ------------------------------------------------------------------- reads sent again

# Waits recorded instead of slept: the schedule is asserted, no test waits for it.
QUICK = ReadRetry()


def reading_client(
    server: EmulatorServer, tmp_path: Path, waits: list[float], units: list[str]
) -> YouTube:
    return YouTube(
        settings_for(server, tmp_path),
        on_units=lambda method, _units: units.append(method),
        sleep=waits.append,
    )


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("error_5xx", {}),
        ("error_5xx", {"status": 503}),
        ("rate_limit_429", {}),
        ("rate_limit_403", {}),
        ("rate_limit_403", {"reason": "userRateLimitExceeded"}),
        ("lose_response_reset", {}),
    ],
)
def test_every_read_is_sent_again_after_a_passing_failure(
    emulator: EmulatorServer, tmp_path: Path, kind: str, options: dict[str, Any]
) -> None:
    state = emulator.state
    playlist = state.add_playlist("Listed", video_ids=[a_video(emulator) for _ in range(3)])
    waits: list[float] = []
    units: list[str] = []
    youtube = reading_client(emulator, tmp_path, waits, units)
    reads: list[tuple[str, Callable[[], object]]] = [
        ("channels.list", youtube.my_channel),
        ("playlists.list", youtube.my_playlists),
        ("playlistItems.list", lambda: youtube.playlist_items(playlist.id)),
        ("videos.list", lambda: youtube.videos([state.playlist_items(playlist.id)[0]])),
    ]
    for method, read in reads:
        state.faults.add(method=method, kind=kind, count=2, **options)  # type: ignore[arg-type]
        assert read()
    # Two failures and one success per read; every send charged and counted.
    log = [r for r in state.requests() if r.method in COSTS]
    assert [r.method for r in log] == [m for m, _ in reads for _ in range(3)]
    assert units == [r.method for r in log]
    assert state.quota_used() == sum(r.units for r in log) == len(log)
    # Exponential with jitter: 1-2 s, then 2-3 s.
    assert len(waits) == 8
    assert all(
        1 <= first <= 2 <= second <= 3
        for first, second in zip(waits[::2], waits[1::2], strict=True)
    )


def test_a_read_that_keeps_failing_ends_with_its_last_failure(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    waits: list[float] = []
    units: list[str] = []
    youtube = reading_client(emulator, tmp_path, waits, units)
    emulator.state.faults.add(method="playlists.list", kind="error_5xx")
    with pytest.raises(HttpError) as caught:
        youtube.my_playlists()
    assert caught.value.resp.status == 500
    assert len(emulator.state.requests("playlists.list")) == QUICK.attempts == len(units)
    # Capped and bounded: at most 1+2+4+8+16 s and the jitter, in all.
    assert len(waits) == QUICK.attempts - 1
    assert sum(waits) <= 31 + QUICK.jitter * len(waits)
    assert max(waits) <= QUICK.max_wait


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("quota_exceeded", None), ("quota_exceeded", "dailyLimitExceeded")],
)
def test_quota_exceeded_is_never_sent_again(
    emulator: EmulatorServer, tmp_path: Path, kind: str, reason: str | None
) -> None:
    waits: list[float] = []
    youtube = reading_client(emulator, tmp_path, waits, [])
    emulator.state.faults.add(method="playlists.list", kind=kind, reason=reason)  # type: ignore[arg-type]
    with pytest.raises(HttpError) as caught:
        youtube.my_playlists()
    failure = classify(caught.value)
    assert failure is not None and failure.outcome is Outcome.QUOTA_EXHAUSTED
    assert len(emulator.state.requests("playlists.list")) == 1
    assert waits == []


def test_writes_are_never_sent_again(emulator: EmulatorServer, tmp_path: Path) -> None:
    waits: list[float] = []
    youtube = reading_client(emulator, tmp_path, waits, [])
    state = emulator.state
    playlist = state.add_playlist("Writes")
    for kind in ("error_5xx", "rate_limit_429", "lose_response_reset"):
        state.faults.add(method="*", kind=kind, count=1)
        with pytest.raises((HttpError, ConnectionError)):
            youtube.insert_playlist_item(playlist.id, a_video(emulator))
        state.faults.add(method="*", kind=kind, count=1)
        with pytest.raises((HttpError, ConnectionError)):
            youtube.insert_playlist("New", "d")
    assert len(state.requests("playlistItems.insert")) == 3
    assert len(state.requests("playlists.insert")) == 3
    assert waits == []


def test_reads_sent_again_are_paid_through_the_payer(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    youtube = reading_client(emulator, tmp_path, [], [])
    paid: list[tuple[str, int]] = []
    emulator.state.faults.add(method="playlists.list", kind="error_5xx", count=2)
    with youtube.resends_paid_by(lambda method, units: paid.append((method, units))):
        youtube.my_playlists()
    assert paid == [("playlists.list", 1)] * 2, "the re-sends, not the first send"
    youtube.my_playlists()  # outside the block: nobody to pay
    assert len(paid) == 2

    class OutOfQuota(Exception):
        pass

    def refuse(_method: str, _units: int) -> None:
        raise OutOfQuota

    emulator.state.faults.add(method="playlists.list", kind="error_5xx", count=1)
    with pytest.raises(OutOfQuota), youtube.resends_paid_by(refuse):
        youtube.my_playlists()
    assert len(emulator.state.requests("playlists.list")) == 3 + 1 + 1, "none sent unpaid"


def test_a_token_without_the_youtube_scope_is_a_sign_in_problem(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    token = issue_token_file(
        emulator.state, tmp_path / "token.json", base_url=emulator.base_url, scope=NARROW_SCOPE
    )
    settings = Settings(
        youtube_api_endpoint=emulator.base_url,
        token_file=token,
        oauth_token_uri=emulator.token_uri,
    )
    waits: list[float] = []
    youtube = YouTube(settings, sleep=waits.append)
    for call in (youtube.my_playlists, lambda: youtube.insert_playlist("T", "d")):
        with pytest.raises(HttpError) as caught:
            call()
        failure = classify(caught.value)
        assert failure is not None and failure.outcome is Outcome.AUTH_REQUIRED
        assert failure.missing_scope
        assert "https://www.googleapis.com/auth/youtube)" in failure.sign_in_problem()
    assert waits == [], "a missing scope is not sent again"


def test_a_token_file_that_cannot_be_written_keeps_the_token_in_memory(
    emulator: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Saving a refreshed token fails on this machine: never YouTube's answer, and never
    a reason to send the read again."""
    settings = settings_for(emulator, tmp_path)
    waits: list[float] = []
    youtube = YouTube(settings, sleep=waits.append)
    youtube.my_playlists()
    # A folder where the token file should be replaced: the write fails even for root.
    (tmp_path / "token.json").unlink()
    (tmp_path / "token.json").mkdir()
    with caplog.at_level(logging.WARNING, logger="ytsync"):
        for _ in range(2):
            emulator.state.expire_all_access_tokens()
            youtube.my_playlists()
    warnings = [r for r in caplog.records if "kept in memory" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert waits == [], "a local failure is not sent again"


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (ConnectionResetError(errno.ECONNRESET, "reset"), Outcome.UNKNOWN_RESULT),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Outcome.UNKNOWN_RESULT),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Outcome.UNKNOWN_RESULT),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), Outcome.UNKNOWN_RESULT),
        (TimeoutError("timed out"), Outcome.UNKNOWN_RESULT),
        (ssl.SSLError("handshake"), Outcome.UNKNOWN_RESULT),
        (http.client.IncompleteRead(b""), Outcome.UNKNOWN_RESULT),
        (httplib2.ServerNotFoundError("no host"), Outcome.UNKNOWN_RESULT),
        (TransportError("connection refused"), Outcome.UNKNOWN_RESULT),  # type: ignore[no-untyped-call]
        (RefreshError("server error", retryable=True), Outcome.TRANSIENT),  # type: ignore[no-untyped-call]
        (RefreshError("invalid_grant"), Outcome.AUTH_REQUIRED),  # type: ignore[no-untyped-call]
        (PermissionError(errno.EACCES, "Permission denied", "token.json"), Outcome.LOCAL),
        (OSError(errno.ENOSPC, "No space left on device"), Outcome.LOCAL),
        (OSError(errno.EROFS, "Read-only file system"), Outcome.LOCAL),
        (FileNotFoundError(errno.ENOENT, "No such file", "ca.pem"), Outcome.LOCAL),
    ],
)
def test_network_failures_are_told_from_local_ones(exc: BaseException, outcome: Outcome) -> None:
    failure = classify(exc)
    assert failure is not None and failure.outcome is outcome
