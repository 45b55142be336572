"""Text from YouTube or a plan reaches the terminal with its control characters shown,
never obeyed; JSON output keeps it exact.

The commands run as a user runs them, through ``main``, with rich convinced it writes
to a terminal (FORCE_COLOR), so every style and live-display sequence it would send to
one is there, and only those.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from tests.support.plans import write_plan
from ytsync.backup import take_snapshot
from ytsync.cli.app import main
from ytsync.cli.console import SafeConsole
from ytsync.cli.context import Context
from ytsync.db.engine import transaction
from ytsync.db.models import (
    Category,
    CategoryVideo,
    Playlist,
    PlaylistItem,
    SyncError,
    SyncJob,
    Video,
)

# Retitles the terminal (OSC), clears the screen (CSI), and an 8-bit CSI (C1).
EVIL = "Evil\x1b]0;pwned\x07\x1b[2J \x9b31m end"
RAW = ("\x1b]0;pwned", "\x1b[2J", "\x9b", "\x07")
SHOWN = "Evil\\x1b]0;pwned"


def assert_shown_not_obeyed(output: str) -> None:
    for sequence in RAW:
        assert sequence not in output, f"{sequence!r} reached the terminal"
    assert SHOWN in "".join(output.split()), output


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "250")
    return database_url


def seed(sessions: sessionmaker[Session]) -> None:
    """Every place such text lives: titles, a category, a failed job and its errors."""
    with transaction(sessions) as session:
        private = Video(youtube_id="vidPrivate1", title=EVIL, availability="private")
        loose = Video(youtube_id="vidLoose001", title=EVIL, availability="available")
        listed = Video(youtube_id="vidListed01", title="Fine", availability="available")
        old = Playlist(youtube_id="PLold000001", title=EVIL)
        session.add_all([private, loose, listed, old])
        session.flush()
        for position, video in enumerate([private, loose, listed]):
            session.add(
                PlaylistItem(
                    playlist_id=old.id,
                    video_id=video.id,
                    youtube_item_id=f"item{position}",
                    position=position,
                )
            )
        category = Category(name=EVIL, youtube_playlist_id="PLmadeBySync")
        session.add(category)
        session.flush()
        session.add(CategoryVideo(category_id=category.id, video_id=listed.id, position=0))
        take_snapshot(session)
        job = SyncJob(workflow_id="ytsync-job-1", stage="failed", failure_message=EVIL)
        session.add(job)
        session.flush()
        session.add(
            SyncError(
                job_id=job.id,
                stage="add_videos",
                entity_type="video",
                entity_id=EVIL,
                message=EVIL,
                timestamp=datetime(2026, 3, 1, tzinfo=UTC),
            )
        )


@pytest.mark.parametrize("argv", [["preview"], ["status"], ["report"], ["backup", "list"]])
def test_views_show_control_characters_instead_of_sending_them(
    terminal: str,
    sessions: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    seed(sessions)
    assert main(argv) == 0
    out, err = capsys.readouterr()
    if argv == ["backup", "list"]:
        assert "\x1b[" in out, "rich did style it: the output is a terminal's"
        assert not any(sequence in out for sequence in RAW)  # (it shows no titles)
        return
    assert_shown_not_obeyed(out + err)


def test_plan_messages_show_control_characters(
    terminal: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(sessions)
    folder = tmp_path
    # The category with a playlist is dropped: apply warns with its name.
    plan = write_plan(folder, "category,video_id\nFine,vidListed01\n")
    assert main(["plan", "apply", str(plan)]) == 0
    assert_shown_not_obeyed(capsys.readouterr().out)
    # A cell echoed in an error.
    bad = write_plan(folder, f"category,video_id\nFine,{EVIL}\n", name="bad.csv")
    assert main(["plan", "apply", str(bad)]) == 2
    err = capsys.readouterr().err
    for sequence in RAW:
        assert sequence not in err
    assert "is not a YouTube video id" in " ".join(err.split())


def test_json_output_keeps_the_text_exact(
    terminal: str, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sessions)
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["failure_message"] == EVIL
    assert main(["report", "--json"]) == 0
    item = json.loads(capsys.readouterr().out)["items"][0]
    assert (item["entity_id"], item["message"]) == (EVIL, EVIL)
    assert main(["preview", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert preview["playlists_to_delete"]["items"][0]["name"] == EVIL
    assert EVIL in [item["title"] for item in preview["uncategorized_videos"]["items"]]


def test_the_demo_prints_through_the_same_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's live view and report get ``ctx.out`` from the command line."""
    from ytsync.config import Settings
    from ytsync_sandbox.demo import DemoReport, _live_view, _print_report, _Snapshot

    monkeypatch.setenv("FORCE_COLOR", "1")
    assert isinstance(Context().out, SafeConsole) and isinstance(Context().err, SafeConsole)
    buffer = io.StringIO()
    out = SafeConsole(file=buffer, width=250, highlight=False, force_terminal=True)
    snap = _Snapshot(EVIL, None, None, None, 1, 2, 50, 100, 9000, 1)
    out.print(_live_view(snap, waits=0, elapsed=3.0))
    report = DemoReport(
        job_id=1,
        stage="failed",
        failure_message=EVIL,
        failures=[("add_videos", "video", EVIL, EVIL)],
        problems=[f"playlist {EVIL} is missing"],
    )
    _print_report(out, report, Settings(quota_period_seconds=15))
    assert_shown_not_obeyed(buffer.getvalue())
    # The same through a plain rich console: what the demo printed before.
    plain = io.StringIO()
    _print_report(Console(file=plain, width=250, force_terminal=True), report, Settings())
    assert "\x1b[2J" in plain.getvalue()
