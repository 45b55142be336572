"""``backup list`` / ``backup export`` through the command line."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.backup import take_snapshot
from ytsync.cli.app import main
from ytsync.db.engine import transaction
from ytsync.db.models import Playlist, PlaylistItem, SyncJob, Video


def seed(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        video = Video(youtube_id="dQw4w9WgXcQ", title="A song", availability="available")
        playlist = Playlist(youtube_id="PLold", title="Old mix")
        session.add_all([video, playlist])
        session.flush()
        session.add(
            PlaylistItem(
                playlist_id=playlist.id, video_id=video.id, youtube_item_id="item1", position=0
            )
        )
        session.flush()
        take_snapshot(session)


def test_export_writes_the_snapshot_as_json(
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    seed(sessions)
    target = tmp_path / "backup.json"
    assert main(["backup", "export", str(target)]) == 0
    data = json.loads(target.read_text())
    assert data["playlists"][0]["title"] == "Old mix"
    assert data["playlists"][0]["items"] == [{"video_id": "dQw4w9WgXcQ", "title": "A song"}]
    assert main(["backup", "export", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["backup", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["items"] for row in listed] == [1]


def test_export_without_snapshot_is_a_user_error(
    engine: object,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    assert main(["backup", "export", str(tmp_path / "b.json"), "--snapshot", "7"]) == 2
    assert "there is no snapshot 7" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_restore_previews_and_asks_before_it_starts(
    sessions: sessionmaker[Session],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``restore --preview --json`` prints what the restore would write and stops; a
    restore without ``--yes`` and without a terminal to ask on starts nothing."""
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    seed(sessions)
    with transaction(sessions) as session:
        session.scalars(select(Playlist)).one().deleted_from_youtube_at = datetime.now(UTC)
    assert main(["restore", "--preview", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert preview["playlists_to_recreate"]["items"] == [
        {"playlist_id": "PLold", "title": "Old mix", "items": 1}
    ]
    # The creation and its description set back, then the one item.
    assert (preview["writes"], preview["write_units"]) == (3, 150)
    assert preview["orders"]["any"]["writes"] == 3 and preview["undo_sync"] is False
    assert main(["restore", "--preview"]) == 0
    assert "Recreate old playlists" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["restore", "--undo-sync"]) == 2
    assert "run again with --yes" in capsys.readouterr().err
    with sessions() as session:
        assert session.scalars(select(SyncJob)).all() == []
    with pytest.raises(SystemExit) as refused:
        main(["restore", "--order", "sorted"])
    assert refused.value.code == 2
