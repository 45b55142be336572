"""``starter.py import`` through the real client and the emulator, on both databases."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.harness import ROOT, Installation, install
from ytsync.cli.app import main
from ytsync.db.engine import make_engine, session_factory
from ytsync.db.models import Playlist, PlaylistItem, QuotaLedger, Video
from ytsync_emulator import EmulatorServer, EmulatorState, generate_library, issue_token_file
from ytsync_emulator.clock import utc_now


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


def test_import_stores_what_rules_match_on(library: Installation) -> None:
    """Title, publishing channel, duration and publish date from videos.list, within
    the same unit per 50 videos; a video YouTube stops showing keeps what it had."""
    state = library.state
    normal = next(p for p in state.iter_playlists() if not p.special)
    known = state.add_video(
        title="Ninety-minute lecture",
        owner_title="Meridian Explains",
        published_at="2019-06-30T23:59:59Z",
        duration="PT1H30M5S",
    )
    state.add_item(normal.id, known.id)
    assert main(["import"]) == 0
    with state.lock:
        shown = {
            v.id: v
            for v in state.videos.values()
            if not v.deleted and (v.privacy != "private" or v.owner_channel_id == state.channel_id)
        }
    with library.sessions() as session:
        stored = {v.youtube_id: v for v in session.scalars(select(Video))}
    imported = set(stored) & set(shown)
    assert len(imported) >= 300
    for vid in imported:
        video, source = stored[vid], shown[vid]
        assert (video.title, video.channel_id, video.channel_title) == (
            source.title,
            source.owner_channel_id,
            source.owner_title,
        )
        assert video.published_at is not None
        assert video.published_at.isoformat().replace("+00:00", "Z") == source.published_at
        if source.duration == "P0D":
            assert video.duration_seconds is None  # a live broadcast: not known yet
        else:
            assert video.duration_seconds and video.duration_seconds > 0
    lecture = stored[known.id]
    assert lecture.duration_seconds == 5405
    assert lecture.published_at == datetime(2019, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert lecture.channel_title == "Meridian Explains"
    hidden = [v for v in stored.values() if v.youtube_id not in shown]
    assert hidden and all(v.duration_seconds is None and v.channel_id is None for v in hidden)

    # Deleted on YouTube now: still imported (its playlist item stays), details kept.
    victim = next(iter(sorted(imported)))
    before = stored[victim]
    state.set_video(victim, deleted=True)
    assert main(["import"]) == 0
    with library.sessions() as session:
        after = session.scalars(select(Video).where(Video.youtube_id == victim)).one()
    assert after.availability == "deleted"
    assert (after.channel_title, after.duration_seconds, after.published_at) == (
        before.channel_title,
        before.duration_seconds,
        before.published_at,
    )


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
    err = " ".join(capsys.readouterr().err.split())
    # The domain says what is wrong; the command line says what to type.
    assert "no token file at" in err
    assert "sign in first with 'python starter.py auth --client-secrets FILE'" in err
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


# ------------------------------------------------------------ a YouTube that fails


@pytest.fixture
def unimported(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[EmulatorServer, dict[str, str]]]:
    """A library on the emulator, a sign-in, and an empty database: nothing imported."""
    state = EmulatorState(daily_limit=None, seed=21)
    generate_library(state, videos=600, playlists=12, seed=21)
    with EmulatorServer(state) as server:
        token = issue_token_file(state, tmp_path / "token.json", base_url=server.base_url)
        environ = {
            "YTSYNC_DATABASE_URL": database_url,
            "YTSYNC_YOUTUBE_API_ENDPOINT": server.base_url,
            "YTSYNC_TOKEN_FILE": str(token),
            "YTSYNC_OAUTH_TOKEN_URI": server.token_uri,
        }
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        yield server, environ


def stored_library(sessions: sessionmaker[Session]) -> dict[str, tuple[str, list[str]]]:
    """Playlist id -> (title, video ids in position order), as imported."""
    with sessions() as session:
        playlists = {p.id: p for p in session.scalars(select(Playlist))}
        rows = session.execute(
            select(PlaylistItem.playlist_id, Video.youtube_id)
            .join(Video, Video.id == PlaylistItem.video_id)
            .order_by(PlaylistItem.playlist_id, PlaylistItem.position)
        ).all()
    items: dict[int, list[str]] = {pk: [] for pk in playlists}
    for pk, video in rows:
        items[pk].append(video)
    return {p.youtube_id: (p.title, items[pk]) for pk, p in playlists.items()}


def emulated_library(state: EmulatorState) -> dict[str, tuple[str, list[str]]]:
    return {
        p.id: (p.title, [item.video_id for item in p.items])
        for p in state.iter_playlists()
        if not p.special
    }


def test_import_completes_while_reads_fail(
    unimported: tuple[EmulatorServer, dict[str, str]],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """5% of reads answer 500 and 2% answer 429: every one is sent again, and the
    database ends with exactly the library; every send is counted in the ledger."""
    server, _environ = unimported
    state = server.state
    state.faults.reseed(1)  # a seed that draws both kinds (3 500s and one 429)
    state.faults.add(kind="error_5xx", probability=0.05)
    state.faults.add(kind="rate_limit_429", probability=0.02)

    assert main(["import", "--json"]) == 0

    summary = json.loads(capsys.readouterr().out)
    injected = state.faults.summary()
    assert injected.get("error_5xx", 0) >= 1 and injected.get("rate_limit_429", 0) >= 1, injected
    engine = make_engine(database_url)
    try:
        sessions = session_factory(engine)
        assert stored_library(sessions) == emulated_library(state)
        with sessions() as session:
            spent = session.scalar(select(func.sum(QuotaLedger.units_used)))
    finally:
        engine.dispose()
    sends = [r for r in state.requests() if r.units]
    assert summary["units_spent"] == spent == len(sends) == state.quota_used()
    assert len(sends) > sum(injected.values()), "each failed read was sent again"


def _mount_namespace_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


def test_a_full_disk_under_the_token_file_keeps_the_token_in_memory(
    unimported: tuple[EmulatorServer, dict[str, str]], tmp_path: Path
) -> None:
    """The token file sits on a full disk (a tiny tmpfs in a mount namespace of the
    command's own): saving the refreshed sign-in fails with ENOSPC.  That is this
    machine's trouble, not YouTube's answer: the import goes on with the token in
    memory, says so once, and sends nothing twice."""
    if not _mount_namespace_works():
        pytest.skip("needs unshare -m and mount (root in a Linux container or VM)")
    server, environ = unimported
    full = tmp_path / "full"
    full.mkdir()
    token = Path(environ["YTSYNC_TOKEN_FILE"])
    server.state.expire_all_access_tokens()
    script = (
        f'mount -t tmpfs -o size=16k tmpfs "{full}" && cp "{token}" "{full}/token.json" && '
        f'(dd if=/dev/zero of="{full}/filler" bs=1k count=64 2>/dev/null || true) && '
        f'exec "{sys.executable}" starter.py import --json'
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        cwd=ROOT,
        env={**os.environ, **environ, "YTSYNC_TOKEN_FILE": str(full / "token.json")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = " ".join(done.stderr.split())
    assert done.returncode == 0, done.stderr
    assert err.count("it is kept in memory only") == 1, err
    assert "YouTube refused" not in err and "Traceback" not in err
    sends = [r for r in server.state.requests() if r.units]
    assert json.loads(done.stdout)["units_spent"] == len(sends)
    assert not [r for r in sends if r.status >= 400 and r.status != 401]
