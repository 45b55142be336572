"""The token file, shared by the worker and every command: written safely, read safely.

Each refresh of the access token writes the file back. These tests refresh for real
(google-auth against the emulator's token endpoint) through the real command line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ytsync import files
from ytsync.cli.app import main
from ytsync.errors import UserError
from ytsync.youtube.tokens import read_token_file
from ytsync_emulator.credentials import issue_token_file
from ytsync_emulator.sample import generate_library
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import EmulatorState

ROOT = Path(__file__).resolve().parents[3]
WARNING = "cannot write the refreshed token"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    # Access tokens that live one second: google-auth refreshes before every request,
    # so each command writes the token file many times.
    state = EmulatorState(seed=5, access_token_ttl=1)
    generate_library(state, videos=60, playlists=3, seed=5)
    server = EmulatorServer(state)
    server.start()
    yield server
    server.stop()


def environment(server: EmulatorServer, token: Path, database_url: str) -> dict[str, str]:
    return {
        "YTSYNC_DATABASE_URL": database_url,
        "YTSYNC_TOKEN_FILE": str(token),
        "YTSYNC_YOUTUBE_API_ENDPOINT": server.base_url,
        "YTSYNC_OAUTH_TOKEN_URI": server.token_uri,
    }


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def refreshes(server: EmulatorServer) -> int:
    return len(server.state.requests("oauth.token"))


def test_a_planted_symlink_at_a_temporary_name_never_receives_the_token(
    emulator: EmulatorServer,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "attacker"
    home.mkdir()
    elsewhere.mkdir()
    token = issue_token_file(emulator.state, home / "token.json", base_url=emulator.base_url)
    victim = elsewhere / "victim"
    victim.write_text("untouched")
    # Links at the old fixed name and at the names the writer will draw: dangling ones
    # (a file would be created through them) and one to an existing file.
    planted = {
        ".token.json.tmp": elsewhere / "fixed",
        ".token.json.aaaa.tmp": elsewhere / "dangling",
        ".token.json.bbbb.tmp": victim,
    }
    for name, target in planted.items():
        (home / name).symlink_to(target)
    drawn = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(files, "random_suffix", lambda: next(drawn, os.urandom(8).hex()))
    use(monkeypatch, environment(emulator, token, database_url))

    assert main(["import", "--json"]) == 0
    assert refreshes(emulator) > 1
    saved = json.loads(token.read_text())
    assert saved["token"].startswith("ya29.")
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim"]
    assert victim.read_text() == "untouched"
    for name, target in planted.items():
        assert (home / name).readlink() == target, "a planted link was replaced or followed"
    # Nothing left behind but the links and the writers' lock.
    assert sorted(p.name for p in home.iterdir() if p.name not in planted) == [
        ".token.json.lock",
        "token.json",
    ]


def test_a_planted_symlink_at_the_lock_name_is_not_followed(
    emulator: EmulatorServer,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = issue_token_file(emulator.state, tmp_path / "token.json", base_url=emulator.base_url)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / ".token.json.lock").symlink_to(victim)
    use(monkeypatch, environment(emulator, token, database_url))
    with caplog.at_level(logging.WARNING):
        assert main(["import", "--json"]) == 0
    assert victim.read_text() == "keep me"
    assert [r.getMessage() for r in caplog.records].count(_warning_for(token)) == 1
    assert "YouTube refused" not in capsys.readouterr().err


def _warning_for(token: Path) -> str:
    return (
        f"{WARNING} to {token} (Too many levels of symbolic links); it is kept in memory "
        "only, and this process refreshes it again when it expires"
    )


# One process of the race: refresh for real and write the file back, for some seconds.
REFRESHER = """
import sys, time
from pathlib import Path
from google.auth.transport.requests import Request
from ytsync.youtube.tokens import TokenStore
store = TokenStore(Path(sys.argv[1]), sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
end = time.monotonic() + float(sys.argv[3])
count = 0
while time.monotonic() < end:
    store.credentials.refresh(Request())
    store.save_if_refreshed()
    count += 1
print(count, flush=True)
"""


def test_two_processes_refreshing_at_once_never_show_a_partial_file(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    token = issue_token_file(emulator.state, tmp_path / "token.json", base_url=emulator.base_url)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", REFRESHER, str(token), emulator.token_uri, "4"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    reads, corrupt, seen = 0, 0, set()
    while any(writer.poll() is None for writer in writers):
        try:
            info = read_token_file(token)  # the reading path every client takes
        except UserError:
            corrupt += 1
            continue
        reads += 1
        seen.add(info.get("token"))
    written = [int(writer.communicate()[0].split()[-1]) for writer in writers]
    assert all(writer.returncode == 0 for writer in writers)
    assert min(written) > 20, "both processes kept refreshing"
    assert reads > 100 and len(seen) > 10, "the reader saw the file change many times"
    assert corrupt == 0
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_a_token_file_readable_by_others_is_made_private_with_a_warning(
    emulator: EmulatorServer,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = issue_token_file(emulator.state, tmp_path / "token.json", base_url=emulator.base_url)
    token.chmod(0o644)
    use(monkeypatch, environment(emulator, token, database_url))
    with caplog.at_level(logging.WARNING):
        assert main(["import", "--json"]) == 0
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"token file {token} was readable by group or others (mode 644); set it to 0600"
    ]


@pytest.mark.parametrize(
    ("content", "kind"),
    [("[]", "an array"), ('["x"]', "an array"), ('"token"', "a string"), ("42", "a number")],
)
def test_a_token_file_that_is_not_a_json_object_is_exit_2_naming_it(
    emulator: EmulatorServer,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
    kind: str,
) -> None:
    token = tmp_path / "token.json"
    token.write_text(content)
    use(monkeypatch, environment(emulator, token, database_url))
    assert main(["import"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"token file {token} is not an authorized-user token (its JSON is {kind}" in err
    assert "sign in again with 'python starter.py auth --client-secrets FILE'" in err
    assert "Traceback" not in err and "AttributeError" not in err
    assert emulator.state.requests() == []


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder"])
def test_a_token_file_that_is_not_a_regular_file_is_exit_2(
    emulator: EmulatorServer,
    tmp_path: Path,
    database_url: str,
    special: str,
) -> None:
    token = Path(special)
    if special == "fifo":
        token = tmp_path / "token.json"
        os.mkfifo(token)
    elif special == "folder":
        token = tmp_path / "token.json"
        token.mkdir()
    env = {**os.environ, **environment(emulator, token, database_url)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "import"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang on the FIFO or an endless read of /dev/zero fails here
    )
    assert done.returncode == 2, done.stderr
    err = " ".join(done.stderr.split())  # undo rich's line wrapping
    assert f"token file {token} is " in err
    assert "not a regular file" in err or "is a folder" in err


# --------------------------------------------------------------------------- read-only


def _without_root_powers() -> list[str]:
    """A command prefix under which permission bits bind, even for root (whose
    CAP_DAC_OVERRIDE would write into a read-only folder regardless)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv(1): cannot make a folder read-only")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_a_read_only_token_folder_works_with_one_warning(
    emulator: EmulatorServer, database_url: str
) -> None:
    # Not under pytest's tmp_path: the folder must be read-only to the command only.
    base = Path(tempfile.mkdtemp(prefix="ytsync-ro-"))
    try:
        secrets = base / "secrets"
        secrets.mkdir()
        token = issue_token_file(emulator.state, secrets / "token.json", base_url=emulator.base_url)
        before = token.read_bytes()
        secrets.chmod(0o555)  # like a mounted secret: nothing can be created beside it
        work = base / "work"
        work.mkdir()
        db = database_url
        if db.startswith("sqlite"):
            db = f"sqlite:///{work / 'ytsync.db'}"
        done = subprocess.run(
            [*_without_root_powers(), sys.executable, str(ROOT / "starter.py"), "import", "--json"],
            cwd=work,
            env={**os.environ, **environment(emulator, token, db)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["playlists"] == 3
        assert refreshes(emulator) > 3, "the command refreshed several times"
        lines = done.stderr.splitlines()
        assert [line for line in lines if WARNING in line] == [
            f"WARNING ytsync.youtube.tokens: {WARNING} to {token} (Permission denied); "
            "it is kept in memory only, and this process refreshes it again when it expires"
        ]
        assert "YouTube refused" not in done.stderr
        assert token.read_bytes() == before
    finally:
        (base / "secrets").chmod(0o755)
        shutil.rmtree(base)


def test_auth_refuses_a_token_destination_that_is_not_a_regular_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "client_secret.json"
    client = {
        "client_id": "id",
        "client_secret": "GOCSPX-s3cr3t",
        "auth_uri": "http://127.0.0.1:9/auth",
        "token_uri": "http://127.0.0.1:9/token",
    }
    secrets.write_text(json.dumps({"installed": client}))
    fifo = tmp_path / "token.json"
    os.mkfifo(fifo)
    monkeypatch.setenv("YTSYNC_TOKEN_FILE", str(fifo))
    monkeypatch.setenv("YTSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["auth", "--client-secrets", str(secrets), "--no-browser"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"the token file {fifo} is not a regular file" in err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_refresh_never_overwrites_a_newer_sign_in(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    from google.auth.transport.requests import Request

    from ytsync.youtube.tokens import TokenStore

    token = issue_token_file(emulator.state, tmp_path / "token.json", base_url=emulator.base_url)
    running = TokenStore(token, emulator.token_uri)  # a worker, signed in with the old grant
    issue_token_file(emulator.state, token, base_url=emulator.base_url)  # 'auth' again
    newer = json.loads(token.read_text())["refresh_token"]
    running.credentials.refresh(Request())  # type: ignore[no-untyped-call]
    running.save_if_refreshed()
    assert json.loads(token.read_text())["refresh_token"] == newer
    # A process on the newer grant writes its refreshes as usual.
    current = TokenStore(token, emulator.token_uri)
    current.credentials.refresh(Request())  # type: ignore[no-untyped-call]
    current.save_if_refreshed()
    saved = json.loads(token.read_text())
    assert (saved["refresh_token"], saved["token"]) == (newer, current.credentials.token)
