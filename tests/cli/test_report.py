"""``report``: the latest job's failed and skipped items, as a table, JSON and CSV."""

from __future__ import annotations

import csv
import json
import os
import pty
import select as io_select
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync import ledger
from ytsync.cli.app import main
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import Category, Playlist, SyncError, SyncJob, SyncOperation, Video

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEADER = ["stage", "entity_type", "entity_id", "message", "timestamp"]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seed(sessions: sessionmaker[Session]) -> None:
    """An older job with one error, then the latest job with every kind of problem."""
    with transaction(sessions) as session:
        old = SyncJob(workflow_id="ytsync-job-old", stage="completed")
        job = SyncJob(workflow_id="ytsync-job-new", stage="completed")
        private = Video(youtube_id="vidPrivate1", title="Hidden", availability="private")
        gone = Video(youtube_id="vidDeleted1", title="Gone", availability="available")
        twice = Video(youtube_id="vidTwice001", title="In two", availability="available")
        fine = Video(youtube_id="vidFine0001", title="Fine", availability="available")
        music = Category(name="Music [live]")
        talks = Category(name="Talks")
        old_list = Playlist(youtube_id="PLoldList01", title="Old list")
        session.add_all([old, job, private, gone, twice, fine, music, talks, old_list])
        session.flush()
        session.add(
            SyncError(
                job_id=old.id,
                stage="add_videos",
                entity_type="video",
                entity_id="vidFromOldJob",
                message="should not be listed",
                timestamp=at(-60),
            )
        )

        def op(kind: str, key: str, status: str, minute: int, **fields: object) -> SyncOperation:
            row = SyncOperation(
                job_id=job.id, kind=kind, op_key=key, status=status, updated_at=at(minute), **fields
            )
            session.add(row)
            return row

        def error(stage: str, entity_type: str, entity_id: str, message: str, minute: int) -> None:
            session.add(
                SyncError(
                    job_id=job.id,
                    stage=stage,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    message=message,
                    timestamp=at(minute),
                )
            )

        # Failures the sync recorded: each has its error row (one video fails twice).
        op("add_video", f"add:{music.id}:{private.id}", "failed", 1, video_id=private.id,
           category_id=music.id, error="video is private")  # fmt: skip
        error("add_videos", "video", "vidPrivate1", "video is private; not added", 1)
        for cat, minute in ((music, 2), (talks, 3)):
            op("add_video", f"add:{cat.id}:{twice.id}", "failed", minute, video_id=twice.id,
               category_id=cat.id, error="HTTP 404 videoNotFound")  # fmt: skip
            error("add_videos", "video", "vidTwice001", "HTTP 404 videoNotFound: gone", minute)
        # A failure without an error row, and a skip (which never gets one).
        op("add_video", f"add:{talks.id}:{gone.id}", "failed", 4, video_id=gone.id,
           category_id=talks.id, error="HTTP 400 failedPrecondition")  # fmt: skip
        op("delete_playlist", f"delete:{old_list.id}", "skipped", 5, playlist_id=old_list.id)
        op("create_playlist", f"create:{music.id}", "failed", 6, category_id=music.id)
        # Settled or open rows are not problems.
        op("add_video", f"add:{music.id}:{fine.id}", "completed", 7, video_id=fine.id,
           category_id=music.id)  # fmt: skip
        op("add_video", f"add:{talks.id}:{fine.id}", "pending", 7, video_id=fine.id,
           category_id=talks.id)  # fmt: skip


EXPECTED: list[tuple[str, str, str, str, datetime]] = [
    ("add_videos", "video", "vidPrivate1", "video is private; not added", at(1)),
    ("add_videos", "video", "vidTwice001", "HTTP 404 videoNotFound: gone", at(2)),
    ("add_videos", "video", "vidTwice001", "HTTP 404 videoNotFound: gone", at(3)),
    ("add_videos", "video", "vidDeleted1", "HTTP 400 failedPrecondition", at(4)),
    ("delete_playlists", "playlist", "PLoldList01", "skipped (no reason was recorded)", at(5)),
    ("create_playlists", "category", "Music [live]", "failed (no reason was recorded)", at(6)),
]
SOURCES = ["error", "error", "error", "operation", "operation", "operation"]


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line, whatever the terminal
    return database_url


def test_json_lists_every_problem_of_the_latest_job_once(
    sessions: sessionmaker[Session], cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sessions)
    assert main(["report", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workflow_id"] == "ytsync-job-new"
    assert data["job_stage"] == "completed"
    assert data["count"] == len(EXPECTED)
    got = [[i[k] for k in HEADER] for i in data["items"]]
    assert got == [[*row[:4], row[4].isoformat()] for row in EXPECTED]
    assert [i["source"] for i in data["items"]] == SOURCES


def test_table_shows_stage_entity_reason_and_time(
    sessions: sessionmaker[Session], cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sessions)
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for stage, entity_type, entity_id, message, moment in EXPECTED:
        local = moment.astimezone().strftime("%Y-%m-%d %H:%M")
        assert any(
            all(part in line for part in (stage, entity_type, entity_id, message, local))
            for line in lines
        ), f"no row for {entity_id}: {message}"
    assert "vidFromOldJob" not in out
    assert "Music [live]" in out  # brackets are text, not rich markup
    assert f"{len(EXPECTED)} item(s)" in out


def test_csv_is_written_and_never_overwritten_without_force(
    sessions: sessionmaker[Session],
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(sessions)
    target = tmp_path / "report.csv"
    assert main(["report", "--csv", str(target)]) == 0
    assert "Wrote 6 item(s)" in capsys.readouterr().out
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == HEADER
    assert rows[1:] == [[*row[:4], row[4].isoformat()] for row in EXPECTED]

    target.write_text("keep me\n")
    assert main(["report", "--csv", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_text() == "keep me\n"
    assert main(["report", "--csv", str(target), "--force"]) == 0
    assert target.read_text().splitlines()[0] == ",".join(HEADER)

    assert main(["report", "--csv", str(tmp_path / "no-such-dir" / "r.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_csv_and_json_together_keep_stdout_pure_json(
    sessions: sessionmaker[Session],
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(sessions)
    assert main(["report", "--json", "--csv", str(tmp_path / "r.csv")]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["count"] == len(EXPECTED)
    assert "Wrote 6 item(s)" in captured.err


def test_a_clean_job_reports_nothing(
    sessions: sessionmaker[Session],
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with transaction(sessions) as session:
        session.add(SyncJob(workflow_id="ytsync-job-clean", stage="add_videos"))
    assert main(["report"]) == 0
    assert "no failed or skipped items" in capsys.readouterr().out
    assert main(["report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    target = tmp_path / "empty.csv"
    assert main(["report", "--csv", str(target)]) == 0
    assert target.read_text(encoding="utf-8").splitlines() == [",".join(HEADER)]


def test_no_job_is_a_friendly_line_and_exit_0(
    sessions: sessionmaker[Session],
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["report"]) == 0
    assert "No sync job yet" in capsys.readouterr().out
    assert main(["report", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) is None
    assert "No sync job yet" in captured.err
    target = tmp_path / "none.csv"
    assert main(["report", "--csv", str(target)]) == 0
    assert "No sync job yet" in capsys.readouterr().out
    assert not target.exists()


# ``status``: the human view and ``--watch``, straight from the database ------------------
# (Here rather than in a file of their own: they seed jobs the same way as the report.)

UNREACHABLE_TEMPORAL = "127.0.0.1:9"  # the discard port: nothing answers gRPC there


def seed_job(sessions: sessionmaker[Session], **fields: object) -> int:
    results = {
        "backup": {"succeeded": 0, "failed": 0, "skipped": 0, "open": 0},
        "create_playlists": {"succeeded": 3, "failed": 0, "skipped": 0, "open": 0},
        "add_videos": {"succeeded": 40, "failed": 2, "skipped": 1, "open": 57},
        "delete_playlists": {"succeeded": 0, "failed": 0, "skipped": 0, "open": 0},
    }
    with transaction(sessions) as session:
        job = SyncJob(
            workflow_id="ytsync-job-watch",
            stage_results=results,
            progress_done=46,
            progress_total=103,
            quota_used=2_400,
            **fields,
        )
        session.add(job)
        session.flush()
        for n in range(2):
            session.add(
                SyncError(
                    job_id=job.id,
                    stage="add_videos",
                    entity_type="video",
                    entity_id=f"vidBroken{n:02d}",
                    message="HTTP 404 videoNotFound",
                )
            )
        return job.id


@pytest.fixture
def status_env(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("YTSYNC_TEMPORAL_ADDRESS", UNREACHABLE_TEMPORAL)
    return cli_env


def test_watch_of_a_finished_job_prints_once_and_exits_0(
    sessions: sessionmaker[Session], status_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = seed_job(sessions, stage="completed", completed_at=at(90))
    assert main(["status", "--watch", "--interval", "0.2"]) == 0
    out = capsys.readouterr().out
    assert out.count(f"ytsync job {job_id}") == 1
    assert "The job is completed." in out
    assert "43 / 100" in out  # add_videos: settled of planned
    assert "2 item(s) failed" in out and "python starter.py report" in out


def test_status_works_from_the_database_when_temporal_is_unreachable(
    sessions: sessionmaker[Session], status_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_job(sessions, stage="add_videos")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Temporal unreachable" in out
    assert "46 / 103" in out and "43 / 100" in out
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # The contract's keys, unchanged by the richer human view.
    assert {
        "job_id",
        "workflow_id",
        "stage",
        "paused_at_stage",
        "pause_reason",
        "resume_at",
        "progress",
        "stage_results",
        "quota_used",
        "errors",
        "quota_today",
        "workflow",
    } <= set(data)
    assert data["workflow"] is None
    assert data["progress"] == {"done": 46, "total": 103}
    assert main(["status", "--watch", "--json"]) == 2


def test_paused_views_say_when_it_resumes_and_how_to_sign_in_again(
    sessions: sessionmaker[Session],
    status_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # the view speaks the user's local time
    time.tzset()
    try:
        resume = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
        seed_job(
            sessions,
            stage="paused",
            paused_at_stage="add_videos",
            pause_reason="quota_exhausted",
            resume_at=resume,
        )
        with transaction(sessions) as session:
            period = Settings(database_url=status_env).quota_clock.period_start(datetime.now(UTC))
            ledger.charge(session, period, 1_234)
        assert main(["status"]) == 0
        out = capsys.readouterr().out
        assert "paused (quota_exhausted) at add_videos" in out
        assert resume.astimezone().strftime("%Y-%m-%d %H:%M JST") in out
        assert "1,234 units used" in out
        assert "sign in again" not in out.lower()

        with transaction(sessions) as session:
            job = session.scalars(select(SyncJob)).one()
            job.pause_reason, job.resume_at = "auth_required", None
        assert main(["status"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "paused (auth_required)" in text
        assert "python starter.py auth --client-secrets FILE" in text
        assert "python starter.py resume" in text

        # The job's own words name no command: status adds the way out.
        with transaction(sessions) as session:
            job = session.scalars(select(SyncJob)).one()
            job.pause_message = "the YouTube sign-in expired or was revoked"
        assert main(["status"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "the YouTube sign-in expired or was revoked; fix that" in text
        assert "python starter.py auth --client-secrets FILE" in text
        assert "then run 'python starter.py resume'" in text
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_ctrl_c_ends_a_watch_with_130_and_no_traceback(
    sessions: sessionmaker[Session], cli_env: str, tmp_path: Path
) -> None:
    seed_job(sessions, stage="add_videos")
    # On a terminal the watch draws each refresh, so the test can wait for the first
    # frame and interrupt a watch that is provably in its loop, as a person would.
    master, slave = pty.openpty()
    # Bound, never listening: connecting is refused at once, Temporal is "down".
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        env = {
            **os.environ,
            "YTSYNC_DATABASE_URL": cli_env,
            "YTSYNC_TEMPORAL_ADDRESS": f"127.0.0.1:{closed.getsockname()[1]}",
            "PYTHONPATH": str(REPO),
            "TERM": "xterm",
            "COLUMNS": "120",
        }
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "starter.py"), "status", "--watch", "--interval", "0.3"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
        )
        os.close(slave)
        screen = b""
        try:
            deadline = time.monotonic() + 120
            while b"Temporal unreachable" not in screen and time.monotonic() < deadline:
                screen += _read_some(master)
            assert b"Temporal unreachable" in screen, screen.decode(errors="replace")
            proc.send_signal(signal.SIGINT)
            # Keep draining the terminal: a child blocked on a full pty cannot exit.
            while proc.poll() is None and time.monotonic() < deadline:
                screen += _read_some(master)
            assert proc.stderr is not None
            err = proc.stderr.read().decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            os.close(master)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def _read_some(fd: int) -> bytes:
    ready, _, _ = io_select.select([fd], [], [], 0.2)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the child closed the terminal (EIO on Linux)
        return b""
