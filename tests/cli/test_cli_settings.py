"""Every bad setting stops every command (and the worker) with exit code 2 and a message
naming the setting; nothing is created or changed. Passwords never show."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment

from tests.support.databases import postgres_database
from tests.support.harness import TEST_SERVER
from ytsync.cli import worker
from ytsync.cli.app import main
from ytsync.config import load_settings
from ytsync.db.engine import make_engine, session_factory, upgrade
from ytsync.db.models import Category
from ytsync.logs import mask, remember_url_password
from ytsync_emulator.credentials import issue_token_file
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import EmulatorState

ROOT = Path(__file__).resolve().parents[2]


def flat(text: str) -> str:
    return " ".join(text.split())  # undo rich's line wrapping


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No YTSYNC_* from outside; the working directory is a fresh folder."""
    for name in list(os.environ):
        if name.startswith("YTSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


BAD_SETTINGS = [
    ("YTSYNC_QUOTA_PERIOD_SECONDS", "100000000000000000", "less than or equal to 31622400"),
    ("YTSYNC_QUOTA_PERIOD_SECONDS", "1e17", "valid integer"),
    ("YTSYNC_DAILY_QUOTA", "100000000000000", "less than or equal to 1000000000"),
    ("YTSYNC_QUOTA_RESERVE", "-1", "greater than or equal to 0"),
    ("YTSYNC_YOUTUBE_TIMEOUT_SECONDS", "inf", "finite number"),
    ("YTSYNC_YOUTUBE_TIMEOUT_SECONDS", "nan", "finite number"),
    ("YTSYNC_YOUTUBE_TIMEOUT_SECONDS", "1e300", "less than or equal to 3600"),
    ("YTSYNC_TEMPORAL_ADDRESS", "::bad", "is not host:port"),
    ("YTSYNC_TEMPORAL_ADDRESS", "localhost:99999", "is not host:port"),
    ("YTSYNC_TEMPORAL_ADDRESS", "http://localhost:7233", "is not host:port"),
    ("YTSYNC_TEMPORAL_ADDRESS", "localhost", "is not host:port"),
    ("YTSYNC_METRICS_ADDRESS", "9464", "is not host:port"),
    ("YTSYNC_TEMPORAL_NAMESPACE", " ", "non-empty name"),
    ("YTSYNC_TASK_QUEUE", "ytsync\x1b[2J", "non-empty name"),
    ("YTSYNC_DATABASE_URL", "postgresql+asyncpg://u:pw@localhost/db", "driver 'asyncpg'"),
    ("YTSYNC_DATABASE_URL", "postgresql+psycopg2://localhost/db", "driver 'psycopg2'"),
    ("YTSYNC_DATABASE_URL", "sqlite+aiosqlite:///x.db", "driver 'aiosqlite'"),
    ("YTSYNC_DATABASE_URL", "mysql://localhost/db", "sqlite:/// or postgresql+psycopg://"),
    ("YTSYNC_DATABASE_URL", "postgresql+psycopg://u:pw@localhost:abc/db", "not a database URL"),
    ("YTSYNC_DATABASE_URL", "ytsync.db", "not a database URL"),
    ("YTSYNC_YOUTUBE_API_ENDPOINT", "youtube.googleapis.com", "is not an http(s) URL"),
    ("YTSYNC_YOUTUBE_API_ENDPOINT", "http://[::1", "is not a URL"),
    ("YTSYNC_YOUTUBE_API_ENDPOINT", "http://youtube.example.com", "must be an https:// URL"),
    ("YTSYNC_YOUTUBE_API_ENDPOINT", "http://10.0.0.8:8080", "must be an https:// URL"),
    ("YTSYNC_OAUTH_TOKEN_URI", "http://oauth2.example.com/token", "must be an https:// URL"),
    ("YTSYNC_OAUTH_TOKEN_URI", "ftp://oauth2.googleapis.com/token", "is not an http(s) URL"),
    ("YTSYNC_QUOTA_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ("YTSYNC_LOG_FORMAT", "xml", "'text' or 'json'"),
    ("YTSYNC_CHANNEL", "../etc", "is not a channel name"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_SETTINGS)
def test_a_bad_setting_is_exit_2_naming_it(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    for argv in (["status", "--json"], ["preview"], ["plan", "apply", "plan.csv"]):
        assert main(argv) == 2
        err = flat(capsys.readouterr().err)
        assert f"{name}:" in err and message in err, err
        assert "Traceback" not in err
    assert worker.main() == 2
    err = flat(capsys.readouterr().err)
    assert f"{name}:" in err and message in err
    assert list(clean_env.iterdir()) == [], "nothing may be created"


@pytest.mark.parametrize(
    "endpoint",
    ["http://localhost:8080", "http://127.0.0.1:9", "http://127.8.9.10", "http://[::1]:8080"],
)
def test_plain_http_is_allowed_to_this_machine_only(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("YTSYNC_YOUTUBE_API_ENDPOINT", endpoint)
    monkeypatch.setenv("YTSYNC_OAUTH_TOKEN_URI", endpoint + "/token")
    settings = load_settings()
    assert (settings.youtube_api_endpoint, settings.oauth_token_uri) == (
        endpoint,
        endpoint + "/token",
    )


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorState(seed=2))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("YTSYNC_YOUTUBE_API_ENDPOINT", "not a url"),
        ("YTSYNC_YOUTUBE_API_ENDPOINT", "127.0.0.1:8080"),
        ("YTSYNC_OAUTH_TOKEN_URI", "http://oauth.example.com/token"),
    ],
)
def test_a_bad_endpoint_is_exit_2_before_any_request(
    clean_env: Path,
    database_url: str,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
) -> None:
    token = issue_token_file(emulator.state, clean_env / "token.json", base_url=emulator.base_url)
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("YTSYNC_TOKEN_FILE", str(token))
    monkeypatch.setenv("YTSYNC_YOUTUBE_API_ENDPOINT", emulator.base_url)
    monkeypatch.setenv("YTSYNC_OAUTH_TOKEN_URI", emulator.token_uri)
    monkeypatch.setenv(name, value)
    assert main(["import"]) == 2
    err = flat(capsys.readouterr().err)
    assert f"{name}:" in err and "YouTube refused" not in err
    assert emulator.state.requests() == [], "not one request, not one unit"


# --------------------------------------------------------------------------- channels


def channels_file(folder: Path, alice_url: str, **alice: str) -> Path:
    path = folder / "channels.json"
    entries = {
        "alice": {"database_url": alice_url, "token_file": "alice.json", **alice},
        "bob": {"database_url": "sqlite:///bob.db", "token_file": "bob.json"},
    }
    path.write_text(json.dumps({"channels": entries}))
    return path


def category_names(url: str) -> list[str]:
    engine = make_engine(url)
    upgrade(engine)
    try:
        with session_factory(engine)() as session:
            return sorted(c.name for c in session.query(Category))
    finally:
        engine.dispose()


def test_a_channel_missing_from_the_channels_file_is_exit_2_listing_the_known_ones(
    clean_env: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    own = f"sqlite:///{clean_env / 'own.db'}"
    monkeypatch.setenv("YTSYNC_DATABASE_URL", own)
    monkeypatch.setenv("YTSYNC_CHANNELS_FILE", str(channels_file(clean_env, database_url)))
    (clean_env / "plan.csv").write_text("category,video_id\nMusic,dQw4w9WgXcQ\n")
    monkeypatch.setenv("YTSYNC_CHANNEL", "alcie")
    for argv in (["plan", "apply", "plan.csv"], ["status", "--json"], ["preview"]):
        assert main(argv) == 2
        err = flat(capsys.readouterr().err)
        assert "YTSYNC_CHANNEL: there is no channel 'alcie' in YTSYNC_CHANNELS_FILE" in err
        assert "known channels: 'alice', 'bob', 'default'" in err
    assert worker.main() == 2
    assert "there is no channel 'alcie'" in flat(capsys.readouterr().err)
    assert not (clean_env / "own.db").exists(), "the default database was not touched"
    # The right name works, on that channel's database.
    monkeypatch.setenv("YTSYNC_CHANNEL", "alice")
    assert category_names(database_url) == []
    assert main(["status", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "null"
    assert not (clean_env / "own.db").exists()


def test_without_a_channels_file_another_channel_needs_its_own_database(
    clean_env: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("YTSYNC_CHANNEL", "alcie")
    assert main(["status", "--json"]) == 2
    err = flat(capsys.readouterr().err)
    assert "YTSYNC_CHANNEL: channel 'alcie' is not described anywhere" in err
    assert "YTSYNC_DATABASE_URL is not set" in err
    assert list(clean_env.iterdir()) == [], "the default ytsync.db was not created"
    # Described by the environment (one worker per channel): fine.
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    assert main(["status", "--json"]) == 0
    assert load_settings().channel == "alcie"
    monkeypatch.setenv("YTSYNC_CHANNEL", "default")
    monkeypatch.delenv("YTSYNC_DATABASE_URL")
    assert load_settings().database_url == "sqlite:///ytsync.db"


@pytest.mark.parametrize(
    ("alice_url", "bob_url", "shown"),
    [
        ("sqlite:///shared.db", "sqlite:///./shared.db", "shared.db"),
        (
            "postgresql+psycopg://alice:s3cretA@DB.example.com/library",
            "postgresql://bob:s3cretB@db.example.com:5432/library",
            "library on db.example.com:5432",
        ),
    ],
)
def test_two_channels_on_one_database_are_exit_2_naming_both(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    alice_url: str,
    bob_url: str,
    shown: str,
) -> None:
    """One channel's import would mark the other's playlists deleted: refused at once,
    by every command and the worker, however the two URLs spell the one database."""
    path = clean_env / "channels.json"
    entries = {
        "alice": {"database_url": alice_url, "token_file": "alice.json"},
        "bob": {"database_url": bob_url, "token_file": "bob.json"},
    }
    path.write_text(json.dumps({"channels": entries}))
    monkeypatch.setenv("YTSYNC_CHANNELS_FILE", str(path))
    monkeypatch.setenv("YTSYNC_DATABASE_URL", f"sqlite:///{clean_env / 'own.db'}")
    for channel in ("alice", "default"):
        monkeypatch.setenv("YTSYNC_CHANNEL", channel)
        assert main(["status", "--json"]) == 2
        err = flat(capsys.readouterr().err)
        assert "channels 'alice' and 'bob' use the same database" in err
        assert shown in err
        assert "s3cret" not in err
    assert worker.main() == 2
    assert "channels 'alice' and 'bob' use the same database" in flat(capsys.readouterr().err)
    assert sorted(p.name for p in clean_env.iterdir()) == ["channels.json"]
    # The environment's own channel counts too.
    monkeypatch.setenv("YTSYNC_DATABASE_URL", alice_url)
    entries["bob"]["database_url"] = "sqlite:///bob.db"
    path.write_text(json.dumps({"channels": entries}))
    assert main(["status", "--json"]) == 2
    assert "channels 'alice' and 'default' use the same database" in flat(capsys.readouterr().err)


def test_channels_on_one_oauth_client_must_give_one_quota(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Channels signed in through one client spend one Cloud project's quota: a channels
    file giving them different daily quotas is refused (exit 2), naming both."""
    state = EmulatorState(seed=4)
    client_id, secret, refresh = state.issue_credentials()
    for name in ("alice", "bob"):
        issue_token_file(
            state, clean_env / f"{name}.json", base_url="http://127.0.0.1:9", client_id=client_id
        )
    path = clean_env / "channels.json"
    entries: dict[str, dict[str, object]] = {
        "alice": {"database_url": "sqlite:///alice.db", "token_file": "alice.json"},
        "bob": {"database_url": "sqlite:///bob.db", "token_file": "bob.json", "daily_quota": 5000},
    }
    path.write_text(json.dumps({"channels": entries}))
    monkeypatch.setenv("YTSYNC_CHANNELS_FILE", str(path))
    assert main(["status", "--json"]) == 2
    err = flat(capsys.readouterr().err)
    assert "channels 'alice' and 'bob' are signed in through one OAuth client" in err
    assert "daily_quota (10000 and 5000)" in err
    assert secret not in err and refresh not in err
    # The same figures: one ledger, in alice's database (the first by name).
    del entries["bob"]["daily_quota"]
    path.write_text(json.dumps({"channels": entries}))
    monkeypatch.setenv("YTSYNC_CHANNEL", "bob")
    settings = load_settings()
    assert settings.quota_ledger_url == "sqlite:///alice.db"
    assert settings.quota_shared_with == ["alice"]
    assert main(["status", "--json"]) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("youtube_api_endpoint", "http://youtube.example.com", "must be an https:// URL"),
        ("oauth_token_uri", "http://oauth2.example.com/token", "must be an https:// URL"),
        ("youtube_api_endpoint", "nonsense", "'nonsense' is not an http(s) URL"),
        ("database_url", "postgresql+asyncpg://h/db", "the driver 'asyncpg' is not"),
        ("daily_quota", 10**12, "Input should be less than or equal to 1000000000"),
    ],
)
def test_a_bad_field_in_the_channels_file_is_exit_2_naming_it(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: object,
    message: str,
) -> None:
    path = clean_env / "channels.json"
    entry = {"database_url": "sqlite:///alice.db", "token_file": "alice.json", field: value}
    path.write_text(json.dumps({"channels": {"alice": entry}}))
    monkeypatch.setenv("YTSYNC_CHANNELS_FILE", str(path))
    assert main(["status", "--json"]) == 2
    err = flat(capsys.readouterr().err)
    assert f"YTSYNC_CHANNELS_FILE ({path}): channels.alice.{field}: {message}" in err
    assert worker.main() == 2
    assert f"channels.alice.{field}" in flat(capsys.readouterr().err)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder"])
def test_a_channels_file_that_is_not_a_regular_file_is_exit_2(
    clean_env: Path, special: str
) -> None:
    path = Path(special)
    if special == "fifo":
        path = clean_env / "channels.json"
        os.mkfifo(path)
    elif special == "folder":
        path = clean_env / "channels.json"
        path.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "status", "--json"],
        cwd=clean_env,
        env={**environ, "YTSYNC_CHANNELS_FILE": str(path)},
        capture_output=True,
        text=True,
        timeout=120,  # an endless read or a blocked open fails here
    )
    assert done.returncode == 2, done.stderr
    err = flat(done.stderr)
    assert (
        f"YTSYNC_CHANNELS_FILE {path} is a " in err
        or f"YTSYNC_CHANNELS_FILE ({path}): cannot read it: Is a directory" in err
    )
    assert "not a regular file" in err or "Is a directory" in err


# --------------------------------------------------------------------------- passwords

# '@', ':' and '/' in a password, written bare (which URL parsers misread) or escaped.
PASSWORD = "p@ss:w/rd"
ESCAPED = "p%40ss%3Aw%2Frd"
FRAGMENTS = (PASSWORD, ESCAPED, "p@ss", "ss:w", "w/rd", "%40ss", "ss%3A")


def assert_no_password(text: str) -> None:
    for fragment in FRAGMENTS:
        assert fragment not in text, f"{fragment!r} leaked into: {text}"


def test_the_logging_mask_hides_passwords_whatever_they_hold() -> None:
    for url in (
        f"postgresql+psycopg://ytsync:{PASSWORD}@db.example.com:5432/ytsync",
        f"postgresql+psycopg://ytsync:{ESCAPED}@db.example.com:5432/ytsync",
        "postgresql+psycopg://ytsync:p@ss@db.example.com/ytsync",
    ):
        masked = mask(f"cannot open {url}: refused")
        assert_no_password(masked)
        assert masked.startswith("cannot open postgresql+psycopg://ytsync:***@db.example.com")
        assert masked.endswith("/ytsync: refused")
    assert mask("host=db password=p@ss:w/rd dbname=x") == "host=db password=*** dbname=x"
    # Once a URL was given to ytsync, its password is masked wherever it appears,
    # cut out of its URL too (as a driver may quote it).
    remember_url_password(f"postgresql+psycopg://ytsync:{PASSWORD}@db/ytsync")
    assert mask(f"login as ytsync with {PASSWORD} failed") == "login as ytsync with *** failed"
    assert mask(f"login as ytsync with {ESCAPED} failed") == "login as ytsync with *** failed"
    # A password that is a word of other text too is masked as a word, not inside words.
    remember_url_password("postgresql+psycopg://ytsync:secret@db/ytsync")
    hint = "secret refused; sign in with 'auth --client-secrets FILE'"
    assert mask(hint) == "*** refused; sign in with 'auth --client-secrets FILE'"


def test_a_bare_at_sign_in_the_password_is_exit_2_and_never_shown(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:5432/postgres"
    monkeypatch.setenv("YTSYNC_DATABASE_URL", url)
    assert main(["status", "--json"]) == 2
    err = flat(capsys.readouterr().err)
    assert "YTSYNC_DATABASE_URL:" in err and "write it as %40" in err
    assert_no_password(err)
    assert worker.main() == 2
    assert_no_password(capsys.readouterr().err)


def test_cli_errors_about_the_database_never_show_its_password(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 1: the command fails opening the database.
    url = f"postgresql+psycopg://postgres:{ESCAPED}@127.0.0.1:1/ytsync"
    monkeypatch.setenv("YTSYNC_DATABASE_URL", url)
    assert main(["status", "--json"]) == 2
    err = flat(capsys.readouterr().err)
    assert "cannot open the database" in err
    assert_no_password(err)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.mark.postgres
def test_the_worker_log_never_shows_a_database_password(tmp_path: Path, postgres_url: str) -> None:
    # PostgreSQL here trusts local connections: any password opens the database.
    url = make_url(postgres_url).set(password=PASSWORD)
    own = url.render_as_string(hide_password=False)
    assert ESCAPED in own
    channels = tmp_path / "channels.json"
    bare = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:5432/other"
    # Another database on the same server: two channels may not share one.
    theirs = url.set(database=f"{url.database}_other").render_as_string(hide_password=False)
    channels.write_text(
        json.dumps({"channels": {"other": {"database_url": theirs, "token_file": "t.json"}}})
    )

    async def run_worker() -> tuple[int, str]:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER)
        ) as env:
            target = env.client.service_client.config.target_host
            environ = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
            environ.update(
                YTSYNC_DATABASE_URL=own,
                YTSYNC_CHANNELS_FILE=str(channels),
                YTSYNC_TEMPORAL_ADDRESS=target,
                YTSYNC_LOG_FORMAT="text",
            )
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                cwd=tmp_path,
                env=environ,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert process.stderr is not None
            lines = []
            for line in process.stderr:
                lines.append(line)
                if "channel other:" in line:
                    break
            process.terminate()
            rest = process.communicate(timeout=60)[1]
            return process.wait(), "".join(lines) + rest

    code, log = asyncio.run(run_worker())
    assert code == 0, log
    assert "channel default (own): database postgresql+psycopg://postgres:***@" in log
    assert "channel other: database postgresql+psycopg://postgres:***@" in log
    assert_no_password(log)
    # And a bare '@' in a channel's password stops the worker, without showing it.
    channels.write_text(
        json.dumps({"channels": {"other": {"database_url": bare, "token_file": "t.json"}}})
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")],
        cwd=tmp_path,
        env={**environ, "YTSYNC_CHANNELS_FILE": str(channels)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "channels.other.database_url" in done.stderr
    assert_no_password(done.stderr + done.stdout)


def test_worker_text_logs_show_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    from ytsync.logs import configure

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("text")
        logging.getLogger("ytsync.test").warning("video %s failed", "A\x1b]0;pwned\x07\x9b")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x9b" not in err and "\x07" not in err
    assert "video A\\x1b]0;pwned\\x07\\x9b failed" in err
