"""``starter.py import`` through the real client and the emulator, on both databases."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.harness import Installation, install
from ytsync.cli.app import main
from ytsync.db.models import Playlist, PlaylistItem, QuotaLedger, Video
from ytsync.emulator.clock import utc_now


@pytest.fixture
def library(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Installation]:
    inst = install(
        tmp_path,
        database_url,
        utc_now,
        videos=400,
        playlists=9,
        seed=4,
        plan=False,
        list_special_playlists=True,
    )
    for name, value in {
        "YTSYNC_DATABASE_URL": database_url,
        "YTSYNC_YOUTUBE_API_ENDPOINT": inst.settings.youtube_api_endpoint,
        "YTSYNC_TOKEN_FILE": str(inst.settings.token_file),
        "YTSYNC_OAUTH_TOKEN_URI": inst.settings.oauth_token_uri,
    }.items():
        monkeypatch.setenv(name, value)
    yield inst
    inst.server.stop()


def counts(inst: Installation) -> tuple[int, int, int]:
    with inst.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Playlist)) or 0,
            session.scalar(select(func.count()).select_from(PlaylistItem)) or 0,
            session.scalar(select(func.count()).select_from(Video)) or 0,
        )


def test_import_stores_the_library_once_and_skips_system_lists(
    library: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    state = library.state
    normal = [p for p in state.iter_playlists() if not p.special]
    before = counts(library)  # the fixture imported once already
    assert before[0] == len(normal)
    assert before[1] == sum(len(p.items) for p in normal)
    state.clear_log()
    assert main(["import", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert counts(library) == before, "re-import must update in place, never duplicate"
    skipped = set(summary["skipped_playlists"])
    assert {"WL", "LL", state.uploads_id} <= skipped
    # The physical floor: a page per 50 items, per 50 playlists, per 50 video ids.
    pages = sum(max(1, math.ceil(len(p.items) / 50)) for p in normal)
    floor = pages + math.ceil((len(normal) + 3) / 50) + math.ceil(before[2] / 50) + 1
    assert summary["units_spent"] == floor
    assert summary["units_spent"] == sum(r.units for r in state.requests())
    with library.sessions() as session:
        ledger = session.scalars(select(QuotaLedger)).all()
        assert sum(row.units_used for row in ledger) >= 2 * floor - 5


def test_reimport_follows_changes_on_youtube(library: Installation) -> None:
    state = library.state
    normal = [p for p in state.iter_playlists() if not p.special]
    gone, grown = normal[0], normal[1]
    with state.lock:
        del state.playlists[gone.id]
    extra = state.add_video(title="New upload")
    state.add_item(grown.id, extra.id)
    state.set_video(grown.items[0].video_id, privacy="private")
    assert main(["import"]) == 0
    with library.sessions() as session:
        stored = {p.youtube_id: p for p in session.scalars(select(Playlist))}
        assert stored[gone.id].deleted_from_youtube_at is not None
        assert stored[grown.id].item_count == len(grown.items)
        video = session.scalars(select(Video).where(Video.youtube_id == extra.id)).one()
        assert video.availability == "available"
        first = session.scalars(
            select(Video).where(Video.youtube_id == grown.items[0].video_id)
        ).one()
        assert first.availability in ("private", "available")  # own videos stay addable


def test_import_without_token_is_exit_2(
    library: Installation, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("YTSYNC_TOKEN_FILE", str(library.tmp / "missing.json"))
    before = counts(library)
    assert main(["import"]) == 2
    assert "no token file at" in capsys.readouterr().err
    assert counts(library) == before


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("YTSYNC_DAILY_QUOTA", "-5", "YTSYNC_DAILY_QUOTA"),
        ("YTSYNC_QUOTA_RESERVE", "10000", "YTSYNC_QUOTA_RESERVE"),
        ("YTSYNC_QUOTA_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("YTSYNC_DATABASE_URL", "not a url", "YTSYNC_DATABASE_URL"),
        ("YTSYNC_QUOTA_PERIOD_SECONDS", "soon", "YTSYNC_QUOTA_PERIOD_SECONDS"),
    ],
)
def test_bad_settings_are_exit_2_without_traceback(
    library: Installation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    before = counts(library) if name != "YTSYNC_DATABASE_URL" else None
    assert main(["import"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if before is not None:
        assert counts(library) == before
