"""Files a user gives ytsync, and files ytsync writes for the user.

In: only regular files, read with a bound; plain text (no NUL, UTF-8, UTF-16 named).
Out: CSV cells a spreadsheet cannot run, read back exactly by ``plan apply``; a backup
written atomically, private, never through a symlink.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.plans import (
    add_playlist,
    plan_contents,
    seed_videos,
    snapshot,
    vid,
    write_plan,
)
from ytsync.backup import take_snapshot
from ytsync.cli.app import main
from ytsync.db.engine import transaction
from ytsync.db.models import SyncError, SyncJob
from ytsync.safetext import csv_cell, csv_value

ROOT = Path(__file__).resolve().parents[2]
# A video id may start with '-' (11 characters of A-Z a-z 0-9 _ -).
DASH_ID = "-abcdefghij"


def flat(text: str) -> str:
    return " ".join(text.split())  # undo rich's line wrapping


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("YTSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_cells(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# --------------------------------------------------------------------------- CSV


def test_csv_cells_round_trip_exactly() -> None:
    values = ["=1+1", "+1 Mix", "-Dance", "@home", "\tx", "\rx", "'=x", "''-x", "'quoted", "a=b"]
    values += ["", "'", "''", "Plain", DASH_ID, "=", "'''@"]
    for value in values:
        assert csv_value(csv_cell(value)) == value
    assert [csv_cell(v) for v in ("=1+1", "-Dance", "'=x", "'quoted", "a=b")] == [
        "'=1+1",
        "'-Dance",
        "''=x",
        "'quoted",
        "a=b",
    ]


TITLES = ['=HYPERLINK("http://evil","x")', "-Dance", "+1 Mix", "@home", "'quoted", "''=x"]


def test_plan_export_neutralises_formulas_and_apply_reads_them_back(
    cli_env: Path, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [DASH_ID, *(vid(n) for n in range(len(TITLES) - 1))]
    seed_videos(sessions, ids)
    for n, (title, video) in enumerate(zip(TITLES, ids, strict=True)):
        add_playlist(sessions, f"PL{n:09d}", title, [video])
    exported = cli_env / "plan.csv"
    assert main(["plan", "export", str(exported)]) == 0
    rows = read_cells(exported)[1:]
    assert [row[0] for row in rows] == [
        '\'=HYPERLINK("http://evil","x")',
        "'-Dance",
        "'+1 Mix",
        "'@home",
        "'quoted",  # no formula after the quote: as it is
        "'''=x",  # quotes then '=': one quote more, taken off again by apply
    ]
    assert rows[0][1] == "'" + DASH_ID
    for row in rows:
        assert row[0][0] not in "=+-@\t\r"
    capsys.readouterr()

    assert main(["plan", "apply", str(exported)]) == 0
    assert plan_contents(sessions) == {
        title: (False, [video]) for title, video in zip(TITLES, ids, strict=True)
    }
    again = cli_env / "again.csv"
    assert main(["plan", "export", str(again)]) == 0
    assert again.read_bytes() == exported.read_bytes(), "export -> apply -> export is stable"


def test_typed_quotes_follow_the_documented_rule(
    cli_env: Path, sessions: sessionmaker[Session]
) -> None:
    seed_videos(sessions, [vid(0), vid(1), vid(2)])
    plan = write_plan(
        cli_env,
        f"category,video_id\n'quoted,{vid(0)}\n'=typed,{vid(1)}\n\"''-kept\",{vid(2)}\n",
    )
    assert main(["plan", "apply", str(plan)]) == 0
    assert plan_contents(sessions) == {
        "'quoted": (False, [vid(0)]),  # a quote before anything else stays
        "=typed": (False, [vid(1)]),  # a quote before = is the escape
        "'-kept": (False, [vid(2)]),  # two quotes keep one
    }


def test_report_csv_neutralises_formulas(
    cli_env: Path, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    with transaction(sessions) as session:
        job = SyncJob(workflow_id="ytsync-job-1", stage="completed")
        session.add(job)
        session.flush()
        for entity, message in [(DASH_ID, "=cmd|' /C calc'!A0"), ("@x", "+SUM(1)"), ("ok", "ok")]:
            session.add(
                SyncError(
                    job_id=job.id,
                    stage="add_videos",
                    entity_type="video",
                    entity_id=entity,
                    message=message,
                )
            )
    target = cli_env / "errors.csv"
    assert main(["report", "--csv", str(target)]) == 0
    rows = read_cells(target)
    assert [(row[2], row[3]) for row in rows[1:]] == [
        ("'" + DASH_ID, "'=cmd|' /C calc'!A0"),
        ("'@x", "'+SUM(1)"),
        ("ok", "ok"),
    ]
    # --json keeps the values exact.
    capsys.readouterr()
    assert main(["report", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert [item["entity_id"] for item in items] == [DASH_ID, "@x", "ok"]


# --------------------------------------------------------------------------- plan input


def run_starter(cwd: Path, *argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *argv],
        cwd=cwd,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,  # reading /dev/zero to the end, or a FIFO with no writer, fails here
    )


def special(kind: str, folder: Path) -> Path:
    if kind == "fifo":
        path = folder / "in.fifo"
        os.mkfifo(path)
        return path
    if kind == "folder":
        path = folder / "a-folder"
        path.mkdir()
        return path
    return Path(kind)


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/urandom", "fifo", "folder"])
def test_plan_apply_refuses_what_is_not_a_regular_file(
    cli_env: Path, database_url: str, sessions: sessionmaker[Session], kind: str
) -> None:
    seed_videos(sessions, [vid(0)])
    before = snapshot(sessions)
    path = special(kind, cli_env)
    done = run_starter(
        cli_env, "plan", "apply", str(path), env={"YTSYNC_DATABASE_URL": database_url}
    )
    assert done.returncode == 2, done.stderr
    err = flat(done.stderr)
    expected = "it is a directory" if kind == "folder" else "not a regular file"
    assert f"plan file {path}" in err and expected in err
    assert "Traceback" not in err and "MemoryError" not in err
    assert snapshot(sessions) == before


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "folder"])
def test_auth_refuses_client_secrets_that_are_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    path = special(kind, tmp_path)
    done = run_starter(tmp_path, "auth", "--client-secrets", str(path), "--no-browser", env={})
    assert done.returncode == 2, done.stderr
    err = flat(done.stderr)
    expected = "is a folder" if kind == "folder" else "not a regular file"
    assert f"client-secrets file {path}" in err and expected in err
    assert not (tmp_path / "token.json").exists()


def test_a_nul_in_a_plan_cell_is_refused_with_its_line(
    cli_env: Path, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    seed_videos(sessions, [vid(0), vid(1)])
    before = snapshot(sessions)
    plan = write_plan(
        cli_env, f"category,video_id\nMusic,{vid(0)}\nMu\x00sic,{vid(1)}\nTalk,{vid(1)}\x00\n"
    )
    assert main(["plan", "apply", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "line 3: cell 1 holds a NUL character (\\x00)" in err
    assert "line 4: cell 2 holds a NUL character (\\x00)" in err
    assert "line 2" not in err
    assert "\x00" not in err and "INSERT" not in err and "Traceback" not in err
    assert snapshot(sessions) == before


@pytest.mark.parametrize(("codec", "order"), [("utf-16-le", "little"), ("utf-16-be", "big")])
def test_utf16_without_a_byte_order_mark_is_named(
    cli_env: Path,
    sessions: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    codec: str,
    order: str,
) -> None:
    seed_videos(sessions, [vid(0)])
    plan = cli_env / "plan.csv"
    plan.write_bytes(f"category,video_id\nMusique,{vid(0)}\n".encode(codec))
    assert main(["plan", "apply", str(plan)]) == 2
    err = flat(capsys.readouterr().err)
    assert f"is UTF-16 ({order}-endian, without a byte-order mark)" in err
    assert 'save it as UTF-8 ("CSV UTF-8")' in err
    assert plan_contents(sessions) == {}


# --------------------------------------------------------------------------- backup export


@pytest.fixture
def backup(cli_env: Path, sessions: sessionmaker[Session]) -> Path:
    seed_videos(sessions, [vid(0)])
    add_playlist(sessions, "PLold000001", "Old mix", [vid(0)])
    with transaction(sessions) as session:
        take_snapshot(session)
    return cli_env


def test_backup_export_is_private_and_replaces_the_file_in_one_step(
    backup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = backup / "backup.json"
    target.write_text("an older export")
    target.chmod(0o644)
    old_inode = target.stat().st_ino
    assert main(["backup", "export", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["backup", "export", str(target), "--force"]) == 0
    assert json.loads(target.read_text())["playlists"][0]["title"] == "Old mix"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != old_inode, "a new file renamed in place, not rewritten"
    assert sorted(p.name for p in backup.iterdir()) == ["backup.json"]


def test_backup_export_interrupted_leaves_the_old_file_whole(
    backup: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = backup / "backup.json"
    target.write_text("an older export")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ytsync.files.os.fsync", disk_full)
    assert main(["backup", "export", str(target), "--force"]) == 2
    assert "No space left on device" in flat(capsys.readouterr().err)
    assert target.read_text() == "an older export"
    assert sorted(p.name for p in backup.iterdir()) == ["backup.json"], "no temp file left"


@pytest.mark.parametrize("dangling", [True, False])
@pytest.mark.parametrize("force", [False, True])
def test_backup_export_refuses_a_symlink(
    backup: Path, capsys: pytest.CaptureFixture[str], dangling: bool, force: bool
) -> None:
    elsewhere = backup / "elsewhere.json"
    if not dangling:
        elsewhere.write_text("someone else's file")
    link = backup / "backup.json"
    link.symlink_to(elsewhere)
    argv = ["backup", "export", str(link)] + (["--force"] if force else [])
    assert main(argv) == 2
    assert "is a symbolic link" in flat(capsys.readouterr().err)
    assert link.is_symlink() and link.readlink() == elsewhere
    if dangling:
        assert not elsewhere.exists()
    else:
        assert elsewhere.read_text() == "someone else's file"


@pytest.mark.parametrize("argv", [["plan", "export"], ["report", "--csv"]])
def test_other_exports_refuse_a_symlink_too(
    cli_env: Path,
    sessions: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    with transaction(sessions) as session:
        session.add(SyncJob(workflow_id="ytsync-job-1", stage="completed"))
    link = cli_env / "out.csv"
    link.symlink_to(cli_env / "nowhere.csv")
    assert main([*argv, str(link), "--force"]) == 2
    assert "is a symbolic link" in flat(capsys.readouterr().err)
    assert not (cli_env / "nowhere.csv").exists()


# --------------------------------------------------------------------------- git


@pytest.mark.parametrize(
    "name",
    [
        "client_secret.json",
        "client_secret_1234-abc.apps.googleusercontent.com.json",
        "token.json",
        "alice-token.json",
        "secrets/bob_token.json",
        ".token.json.lock",
        ".token.json.0123abcd.tmp",
        ".ytsync/demo/token.json",
        ".ytsync/temporal.db",
        # SQLite's files beside a database: -wal holds recent library data.
        "ytsync.db-wal",
        "ytsync.db-shm",
        "ytsync.db-journal",
        "channels.toml",  # database passwords
        "channels.json",
        "backup.json",  # the whole library
        "backup-2026-01-01.json",
        ".env",  # TEMPORAL_API_KEY and friends
        ".env.production",
    ],
)
def test_gitignore_covers_secret_files(name: str) -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", name], cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0, f"{name} is not ignored"


@pytest.mark.parametrize("argv", [["plan", "export"], ["report", "--csv"], ["backup", "export"]])
def test_exports_never_replace_a_fifo_or_device(
    backup: Path,
    sessions: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    # (A FIFO stands in for /dev/null: renaming over it would replace the device.)
    with transaction(sessions) as session:
        session.add(SyncJob(workflow_id="ytsync-job-1", stage="completed"))
    fifo = special("fifo", backup)
    assert main([*argv, str(fifo), "--force"]) == 2
    assert "a FIFO" in flat(capsys.readouterr().err)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("kind", ["/dev/zero", "folder"])
def test_dev_server_refuses_a_state_file_that_is_not_a_file(tmp_path: Path, kind: str) -> None:
    path = special(kind, tmp_path)
    done = run_starter(tmp_path, "dev-server", "--db-file", str(path), "--port", "1", env={})
    assert done.returncode == 2, done.stderr
    assert "--db-file" in done.stderr and "is not a regular file" in flat(done.stderr)
    assert not Path("/dev/zero.log").exists()
