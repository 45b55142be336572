"""Hostile input: the whole table, both probes, and the second probe's cases run as a
new user meets them.

``TABLE`` lists every hostile input the two probes tried (issues "Hostile input" one
and two) with what ytsync does about it and the test that shows it; the next probe
starts from here.  ``test_every_row_points_at_a_test`` keeps the pointers honest.

The tests below are the second probe's findings, each through the real command line
or worker in a process of its own, asserting its exit code, its message, and that
nothing changed: database rows, files, and nothing sent to a remote host.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.hostile import (
    NO_TEMPORAL,
    ROOT,
    Done,
    files,
    listening,
    on_youtube,
    outward_address,
    run,
)
from tests.support.waiting import eventually
from ytsync.backup import take_snapshot
from ytsync.db.engine import make_engine, session_factory, transaction, upgrade
from ytsync.db.models import Base, Playlist, PlaylistItem, SyncError, SyncJob, Video
from ytsync_sandbox.sandbox import sample_library


@dataclass(frozen=True)
class Case:
    probe: int  # 1: the first hardening pass; 2: issue 19
    item: str  # the item of the probe's issue (round two's numbering)
    hostile: str  # what a user (or YouTube, or a setting) does
    answer: str  # what ytsync does
    test: str  # path::test that shows it


def _c(probe: int, item: str, hostile: str, answer: str, test: str) -> Case:
    return Case(probe, item, hostile, answer, test)


FILES = "tests/cli/test_cli_files.py"
SETTINGS = "tests/cli/test_cli_settings.py"
TEMPORAL = "tests/ytsync/test_temporal_config.py"
TOKENS = "tests/ytsync/youtube/test_token_file.py"
PLAN = "tests/ytsync/test_plan.py"
OUTPUT = "tests/cli/test_cli_output.py"
HOSTILE = "tests/system/test_hostile.py"
RESPONSES = "tests/ytsync/youtube/test_responses.py"

TABLE = [
    # ---------------------------------------------------------------- first probe
    _c(1, "-", "plan file that is /dev/zero, /dev/urandom, a FIFO or a folder",
       "exit 2 at once: 'not a regular file' / 'it is a directory'",
       f"{FILES}::test_plan_apply_refuses_what_is_not_a_regular_file"),
    _c(1, "-", "client-secrets file that is a device, FIFO or folder", "exit 2, no token written",
       f"{FILES}::test_auth_refuses_client_secrets_that_are_not_a_regular_file"),
    _c(1, "-", "channels file that is a device, FIFO or folder", "exit 2 naming it",
       f"{SETTINGS}::test_a_channels_file_that_is_not_a_regular_file_is_exit_2"),
    _c(1, "-", "token file that is a device or FIFO", "exit 2 naming it",
       f"{TOKENS}::test_a_token_file_that_is_not_a_regular_file_is_exit_2"),
    _c(1, "-", "dev-server --db-file that is a device or folder", "exit 2",
       f"{FILES}::test_dev_server_refuses_a_state_file_that_is_not_a_file"),
    _c(1, "-", "a plan file over 256 MiB", "refused before it is read",
       f"{PLAN}::test_a_file_too_big_to_be_a_plan_is_refused_before_reading"),
    _c(1, "-", "a giant CSV cell", "named with its line, nothing applied",
       f"{PLAN}::test_a_giant_cell_is_named_with_its_line"),
    _c(1, "-", "a NUL in a plan cell", "exit 2 naming line and cell",
       f"{FILES}::test_a_nul_in_a_plan_cell_is_refused_with_its_line"),
    _c(1, "-", "a plan saved as UTF-16 without a byte-order mark", "exit 2 naming UTF-16",
       f"{FILES}::test_utf16_without_a_byte_order_mark_is_named"),
    _c(1, "-", "category names YouTube refuses as titles (<, >, U+2028, > 150)",
       "exit 2 per line, nothing applied",
       f"{PLAN}::test_plan_apply_refuses_names_youtube_would_refuse_as_titles"),
    _c(1, "-", "a category of more than 5,000 videos", "exit 2: split it",
       f"{PLAN}::test_more_than_5000_videos_in_a_category"),
    _c(1, "-", "titles starting with = + - @ in exports (CSV injection)",
       "a leading quote, taken off again by apply",
       f"{FILES}::test_plan_export_neutralises_formulas_and_apply_reads_them_back"),
    _c(1, "-", "error messages starting with = in report --csv", "a leading quote",
       f"{FILES}::test_report_csv_neutralises_formulas"),
    _c(1, "-", "an export target that is a symlink (even dangling)", "exit 2, link untouched",
       f"{FILES}::test_backup_export_refuses_a_symlink"),
    _c(1, "-", "plan export / report --csv through a symlink", "exit 2",
       f"{FILES}::test_other_exports_refuse_a_symlink_too"),
    _c(1, "-", "an export target that is a FIFO or device", "exit 2, the FIFO stays",
       f"{FILES}::test_exports_never_replace_a_fifo_or_device"),
    _c(1, "-", "backup export interrupted (disk full)", "the old file stays whole",
       f"{FILES}::test_backup_export_interrupted_leaves_the_old_file_whole"),
    _c(1, "-", "backup export readable by others", "written 0600 in one rename",
       f"{FILES}::test_backup_export_is_private_and_replaces_the_file_in_one_step"),
    _c(1, "-", "secret files (client secrets, tokens, lock and temp files) in git",
       ".gitignore covers them", f"{FILES}::test_gitignore_covers_secret_files"),
    _c(1, "-", "YTSYNC_* values: huge, inf/nan, negative, bad address, bad URL, bad driver, "
       "unknown time zone, control characters", "exit 2 naming the variable, nothing created",
       f"{SETTINGS}::test_a_bad_setting_is_exit_2_naming_it"),
    _c(1, "-", "a token URI or API endpoint over http to another host",
       "exit 2 before any request",
       f"{SETTINGS}::test_a_bad_endpoint_is_exit_2_before_any_request"),
    _c(1, "-", "a misspelt YTSYNC_CHANNEL", "exit 2 listing the known channels",
       f"{SETTINGS}::test_a_channel_missing_from_the_channels_file_is_exit_2_listing_the_known_ones"),
    _c(1, "-", "a channel described nowhere", "exit 2, the default database untouched",
       f"{SETTINGS}::test_without_a_channels_file_another_channel_needs_its_own_database"),
    _c(1, "-", "a bad field in the channels file", "exit 2 naming channel and field",
       f"{SETTINGS}::test_a_bad_field_in_the_channels_file_is_exit_2_naming_it"),
    _c(1, "-", "a database password with a bare '@'", "exit 2, the password never shown",
       f"{SETTINGS}::test_a_bare_at_sign_in_the_password_is_exit_2_and_never_shown"),
    _c(1, "-", "a database that cannot be reached", "exit 2, the password never shown",
       f"{SETTINGS}::test_cli_errors_about_the_database_never_show_its_password"),
    _c(1, "-", "database passwords in the worker's log", "masked",
       f"{SETTINGS}::test_the_worker_log_never_shows_a_database_password"),
    _c(1, "-", "bearer and refresh tokens in log lines", "masked",
       "tests/cli/test_worker_ops.py::test_secrets_are_masked_in_log_lines"),
    _c(1, "-", "terminal escapes (ESC, OSC, CSI, C1) in titles", "shown as \\x1b, never obeyed",
       f"{OUTPUT}::test_views_show_control_characters_instead_of_sending_them"),
    _c(1, "-", "terminal escapes in plan messages", "shown escaped",
       f"{OUTPUT}::test_plan_messages_show_control_characters"),
    _c(1, "-", "terminal escapes in the worker's text log", "shown escaped",
       f"{SETTINGS}::test_worker_text_logs_show_control_characters"),
    _c(1, "-", "a token file that is not a JSON object", "exit 2 naming it",
       f"{TOKENS}::test_a_token_file_that_is_not_a_json_object_is_exit_2_naming_it"),
    _c(1, "-", "a symlink planted at the token's temporary name", "never written through",
       f"{TOKENS}::test_a_planted_symlink_at_a_temporary_name_never_receives_the_token"),
    _c(1, "-", "a symlink planted at the token's lock", "not followed",
       f"{TOKENS}::test_a_planted_symlink_at_the_lock_name_is_not_followed"),
    _c(1, "-", "a token file readable by others", "set to 0600 with a warning",
       f"{TOKENS}::test_a_token_file_readable_by_others_is_made_private_with_a_warning"),
    _c(1, "-", "bad client secrets", "exit 2, nothing written",
       "tests/ytsync/test_auth.py::test_bad_client_secrets_are_exit_2_and_write_nothing"),
    _c(1, "-", "bad TEMPORAL_* settings and profiles", "exit 2 naming the setting, no secret",
       f"{TEMPORAL}::test_bad_settings_name_the_setting"),
    _c(1, "-", "bad Temporal settings for the worker", "exit 2",
       f"{TEMPORAL}::test_the_worker_exits_2_on_a_bad_temporal_setting"),
    _c(1, "-", "a crash at interpreter exit after using the Temporal client", "exit code kept",
       "tests/cli/test_cli_exit.py::test_the_cli_exits_before_interpreter_shutdown"),
    _c(1, "-", "Ctrl-C while signing in", "exit 130, nothing written",
       "tests/ytsync/test_auth.py::test_ctrl_c_while_waiting_is_130_and_writes_nothing"),
    _c(1, "-", "Ctrl-C during status --watch", "exit 130, no traceback",
       "tests/cli/test_report.py::test_ctrl_c_ends_a_watch_with_130_and_no_traceback"),
    # ---------------------------------------------------------------- second probe
    _c(2, "1", "TEMPORAL_CONFIG_FILE or a TLS file that is /dev/zero or a FIFO (CLI, worker)",
       "exit 2 at once naming the setting",
       f"{HOSTILE}::test_a_temporal_file_that_is_a_device_or_fifo_is_exit_2_at_once"),
    _c(2, "2", "TEMPORAL_API_KEY with TEMPORAL_TLS=false to another host (CLI, worker)",
       "exit 2, nothing sent", f"{HOSTILE}::test_an_api_key_never_travels_in_clear_text"),
    _c(2, "2", "the same from a profile; to this machine it is allowed", "exit 2 / connects",
       f"{TEMPORAL}::test_an_api_key_over_a_plain_connection_only_to_this_machine"),
    _c(2, "3", "a YouTube that repeats nextPageToken, or pages without end (import)",
       "exit 1 naming the listing, 2 or 200 pages spent, nothing imported",
       f"{HOSTILE}::test_a_listing_that_would_never_end_stops_the_import"),
    _c(2, "3", "the same in a job's reads", "the batch stops with the reason, every page paid",
       "tests/ytsync/sync/test_reads.py::"
       "test_a_read_that_cannot_be_trusted_stops_the_batch_with_its_reason"),
    _c(2, "3", "the same through the client", "EndlessListing after 2 or 200 pages",
       f"{RESPONSES}::test_a_listing_that_would_never_end_is_stopped"),
    _c(2, "4", "a title holding NUL, a 40-character video id (SQLite and PostgreSQL)",
       "NUL stored as U+FFFD, the item left out and named, exit 0 on both, no SQL shown",
       f"{HOSTILE}::test_youtube_text_postgresql_refuses_imports_alike_on_both"),
    _c(2, "5", "restore 10**23, backup export --snapshot 99999999999", "exit 2",
       f"{HOSTILE}::test_numbers_no_database_holds_are_exit_2"),
    _c(2, "5", "Temporal down: restore 999, pause/resume with no job, start with no plan",
       "exit 2, as with Temporal up",
       f"{HOSTILE}::test_with_temporal_down_bad_input_is_still_exit_2"),
    _c(2, "5", "TEMPORAL_GRPC_META_* with a line break or a bad name (CLI, worker)",
       "exit 2 naming it, no dev-server hint",
       f"{HOSTILE}::test_bad_grpc_metadata_is_exit_2_without_the_dev_server_hint"),
    _c(2, "5", "YTSYNC_DATABASE_URL at /dev/zero, a CSV file, a FIFO (CLI, worker)",
       "exit 2, no SQL printed, the file untouched",
       f"{HOSTILE}::test_a_database_url_at_something_else_is_exit_2"),
    _c(2, "6", "a mistyped SQLite path: status, report, backup list/export, preview, plan "
       "export/apply", "no file created; status null + a note, the others exit 2 naming it",
       f"{HOSTILE}::test_read_only_commands_never_create_a_database"),
    _c(2, "7", "U+202E and U+200B in titles, plan names, error messages: preview, status, "
       "report", "shown as \\u202e", f"{HOSTILE}::test_bidi_and_invisible_text_is_shown_escaped"),
    _c(2, "7", "a category name of U+200B only, or holding a line break",
       "exit 2, nothing applied",
       f"{HOSTILE}::test_category_names_that_would_spoof_the_display_are_refused"),
    _c(2, "8", "plan apply of a .env file holding TEMPORAL_API_KEY", "exit 2, the key not shown",
       f"{HOSTILE}::test_plan_apply_of_a_dotenv_file_never_shows_it"),
    _c(2, "8", "a TOML profile with a secret where a table or boolean belongs (CLI, worker)",
       "exit 2, the value not shown",
       f"{HOSTILE}::test_a_toml_value_in_the_wrong_place_is_not_echoed"),
    _c(2, "9", "ESC, BEL, C1, U+202E from YouTube in plan export, report --csv, backup export",
       "the first two safe to cat; the backup exact with \\u escapes",
       f"{HOSTILE}::test_readable_exports_are_safe_to_cat_and_the_backup_is_exact"),
    _c(2, "10", "titles with NUL, line breaks, only invisible characters: export then apply",
       "the exported plan applies as exported",
       f"{HOSTILE}::test_an_exported_plan_applies_as_exported_whatever_the_titles"),
    _c(2, "11", "ytsync.db-wal/-shm/-journal, channels.toml, backup.json, .env in git",
       ".gitignore covers them", f"{FILES}::test_gitignore_covers_secret_files"),
    _c(2, "12", "a 200 answer that is HTML, or has wrongly typed items (import)",
       "exit 1: YouTube's answer to X could not be read; nothing imported",
       f"{HOSTILE}::test_an_answer_that_is_not_what_the_api_sends_is_one_clear_error"),
    _c(2, "12", "real error bodies sent with a 200", "refused by every model",
       f"{RESPONSES}::test_every_real_error_body_sent_as_a_success_is_refused"),
    _c(2, "12", "captured success bodies, spoilt field by field", "one error naming the field",
       f"{RESPONSES}::test_a_spoilt_body_is_one_error_naming_what_was_asked_and_where"),
    _c(2, "12", "a read answered with HTML or garbage", "sent again, then one clear error",
       f"{RESPONSES}::test_a_read_that_cannot_be_read_is_sent_again_then_fails_clearly"),
    _c(2, "12", "a write answered without its id", "an unknown outcome, never re-sent",
       f"{RESPONSES}::test_a_write_whose_answer_cannot_be_read_is_not_sent_again"),
    _c(2, "13", "ulimit -n 6", "one error line, no traceback",
       f"{HOSTILE}::test_an_error_with_no_file_descriptor_left_is_one_line"),
    _c(2, "13", "backup export with no snapshot", "'there is no snapshot yet'",
       f"{HOSTILE}::test_no_snapshot_is_said_in_plain_words"),
    _c(2, "13", "status of a restore job", "its own stages, no strategy",
       f"{HOSTILE}::test_a_restore_job_shows_its_own_stages"),
]  # fmt: skip


def test_every_row_points_at_a_test() -> None:
    for case in TABLE:
        path, _, name = case.test.partition("::")
        text = (ROOT / path).read_text()
        assert re.search(rf"^(async )?def {name}\(", text, re.M), f"{case.test} is not a test"
    round_two = {int(case.item) for case in TABLE if case.probe == 2}
    assert round_two == set(range(1, 14)), "every item of the second probe has a row"


# --------------------------------------------------------------------------- helpers


def database(url: str) -> sessionmaker[Session]:
    """A database at the newest schema, and sessions on it."""
    engine = make_engine(url)
    upgrade(engine)
    return session_factory(engine)


def rows(url: str) -> dict[str, int]:
    """How many rows each table holds: everything a command could have changed."""
    engine = make_engine(url, create=False)
    try:
        with engine.connect() as connection:
            return {
                table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def assert_clean(done: Done, *secrets: str) -> None:
    """No traceback, no SQL, no library title dumped, no secret."""
    for leak in ("Traceback", "[SQL", "INSERT INTO", "SELECT ", "AttributeError", *secrets):
        assert leak not in done.out + done.err, f"{leak!r} in: {done.said}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The user's working folder, empty."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------- 1


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
@pytest.mark.parametrize("variable", ["TEMPORAL_CONFIG_FILE", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"])
def test_a_temporal_file_that_is_a_device_or_fifo_is_exit_2_at_once(
    home: Path, tmp_path: Path, variable: str, kind: str
) -> None:
    path = Path(kind)
    if kind == "fifo":
        path = tmp_path / "temporal.fifo"
        os.mkfifo(path)
    for script, argv in (("starter.py", ["temporal", "setup"]), ("worker.py", [])):
        done = run(home, *argv, script=script, env={variable: str(path)})
        assert done.code == 2, done.said
        what = "a character device" if kind == "/dev/zero" else "a FIFO (named pipe)"
        assert f"{variable}" in done.said and f"{path} is {what}, not a regular file" in done.said
        assert "dev-server" not in done.said
        assert_clean(done)
    assert files(home) == []


# --------------------------------------------------------------------------- 2


API_KEY = "hostile-api-key-5d1e0b"


def test_an_api_key_never_travels_in_clear_text(home: Path) -> None:
    host = outward_address()
    if host is None:
        pytest.skip("this machine has no address but loopback")
    with listening(host) as listener:
        settings = {
            "TEMPORAL_ADDRESS": listener.address,
            "TEMPORAL_TLS": "false",
            "TEMPORAL_API_KEY": API_KEY,
        }
        for script, argv in (("starter.py", ["temporal", "setup"]), ("worker.py", [])):
            done = run(home, *argv, script=script, env=settings)
            assert done.code == 2, done.said
            assert (
                f"TEMPORAL_API_KEY: the API key would travel in clear text to {host}, since "
                "TLS is off"
            ) in done.said
            assert_clean(done, API_KEY)
        assert listener.received == [], "not a byte was sent to the other host"
        # The listener does hear a connection: the silence above is ytsync's.
        socket.create_connection((host, listener.port), timeout=5).close()
        asyncio.run(eventually(lambda: bool(listener.received), "the listener to hear it"))
        assert listener.received == [b""]
    assert files(home) == []


# --------------------------------------------------------------------------- 3


@pytest.mark.parametrize(
    ("kind", "method", "sent", "said"),
    [
        (
            "repeat_page_token",
            "playlists.list",
            2,
            "YouTube's listing playlists.list does not end: page 2 gives the nextPageToken "
            "of an earlier page, so the listing would never end; stopped after 2 pages",
        ),
        (
            "endless_pages",
            "playlistItems.list",
            200,
            "YouTube's listing playlistItems.list does not end: it goes on past 200 pages, "
            "more than such a listing can have; stopped after 200 pages",
        ),
    ],
)
def test_a_listing_that_would_never_end_stops_the_import(
    home: Path, database_url: str, kind: str, method: str, sent: int, said: str
) -> None:
    state = sample_library(videos=120, playlists=3, daily_limit=None, seed=5)
    state.add_playlist("One more", video_ids=list(state.videos)[:60])  # 2 pages of playlists
    state.faults.add(kind=kind, method=method)  # type: ignore[arg-type]
    database(database_url)
    with on_youtube(state, home) as (_server, youtube):
        done = run(home, "import", YTSYNC_DATABASE_URL=database_url, env=youtube)
    assert done.code == 1, done.said
    assert f"error: {said}" in done.said
    assert_clean(done)
    assert len(state.requests(method)) == sent
    counts = rows(database_url)
    assert (counts["playlists"], counts["playlist_items"], counts["videos"]) == (0, 0, 0)
    # What the reads cost is on the ledger: they were spent.
    assert counts["quota_ledger"] == 1


# --------------------------------------------------------------------------- 4


def test_youtube_text_postgresql_refuses_imports_alike_on_both(
    home: Path, database_url: str
) -> None:
    state = sample_library(videos=20, playlists=1, daily_limit=None, seed=6)
    nul = state.add_video(
        title="Nul\x00in the title", owner_title="Chan\x00nel", owner_channel_id="UC" + "c" * 70
    )
    long_id = state.add_video(video_id="L" * 40, title="An id no column holds")
    state.add_playlist("Odd\x00one", description="a\x00description", video_ids=[nul.id, long_id.id])
    with on_youtube(state, home) as (_server, youtube):
        done = run(home, "import", YTSYNC_DATABASE_URL=database_url, env=youtube)
        assert done.code == 0, done.said
        assert_clean(done, "L" * 40)
        assert "warning: an item of playlist" in done.said
        assert "left out: its video id is 40 characters long; ytsync stores at most 32" in (
            done.said
        )
        again = run(home, "import", "--json", YTSYNC_DATABASE_URL=database_url, env=youtube)
    assert again.code == 0, again.said
    refused = json.loads(again.out)["refused"]
    assert len(refused) == 1 and "its video id is 40 characters long" in refused[0]
    with database(database_url)() as session:
        stored = session.scalars(select(Video).where(Video.youtube_id == nul.id)).one()
        assert (stored.title, stored.channel_title, stored.channel_id) == (
            "Nul\ufffdin the title",
            "Chan\ufffdnel",
            None,  # 72 characters: no channel id is that long
        )
        assert session.scalar(select(Video.id).where(Video.youtube_id == long_id.id)) is None
        odd = session.scalars(select(Playlist).where(Playlist.title.like("Odd%"))).one()
        assert (odd.title, odd.description, odd.item_count) == (
            "Odd\ufffdone",
            "a\ufffddescription",
            1,
        )


# --------------------------------------------------------------------------- 5


def test_numbers_no_database_holds_are_exit_2(home: Path) -> None:
    for argv in (
        ["restore", str(10**23), "--yes"],
        ["restore", "1e23", "--yes"],
        ["backup", "export", "--snapshot", "99999999999", "backup.json"],
        ["restore", "0", "--yes"],
    ):
        done = run(home, *argv)
        assert done.code == 2, done.said
        assert "is not a snapshot id" in done.said
        assert_clean(done)
    assert files(home) == []


def test_with_temporal_down_bad_input_is_still_exit_2(home: Path, database_url: str) -> None:
    database(database_url)
    before = rows(database_url)
    for argv, said in (
        (["restore", "999", "--yes"], "error: there is no snapshot 999"),
        (["restore", "--yes"], "error: there is no snapshot yet"),
        (["pause"], "error: no sync job is running, nothing to pause"),
        (["resume"], "error: no sync job is running, nothing to resume"),
        (["start", "--yes"], "error: there is no plan yet"),
    ):
        done = run(
            home, *argv, YTSYNC_DATABASE_URL=database_url, YTSYNC_TEMPORAL_ADDRESS=NO_TEMPORAL
        )
        assert done.code == 2, done.said
        assert said in done.said
        assert "cannot reach Temporal" not in done.said
        assert_clean(done)
    assert rows(database_url) == before
    assert files(home) == []


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        (
            "TEMPORAL_GRPC_META_X_TOKEN",
            "meta-secret\nInjected: header",
            "TEMPORAL_GRPC_META_X_TOKEN: the value holds line breaks or non-ASCII characters",
        ),
        (
            "TEMPORAL_GRPC_META_BAD:NAME",
            "meta-secret",
            "TEMPORAL_GRPC_META_BAD:NAME: 'bad:name' is not a gRPC header name",
        ),
    ],
)
def test_bad_grpc_metadata_is_exit_2_without_the_dev_server_hint(
    home: Path, variable: str, value: str, said: str
) -> None:
    for script, argv in (("starter.py", ["temporal", "setup"]), ("worker.py", [])):
        done = run(home, *argv, script=script, env={variable: value})
        assert done.code == 2, done.said
        assert said in done.said
        assert "dev-server" not in done.said
        assert_clean(done, "meta-secret")
    assert files(home) == []


@pytest.mark.parametrize("kind", ["/dev/zero", "csv", "fifo"])
def test_a_database_url_at_something_else_is_exit_2(home: Path, tmp_path: Path, kind: str) -> None:
    path = Path(kind)
    if kind == "csv":
        path = tmp_path / "library.csv"
        path.write_text("title,views\nMy video,12\n")
    elif kind == "fifo":
        path = tmp_path / "db.fifo"
        os.mkfifo(path)
    said = {
        "/dev/zero": "the SQLite database /dev/zero is a character device, not a database file",
        "csv": f"{path} is not a SQLite database (it holds other data)",
        "fifo": f"the SQLite database {path} is a FIFO (named pipe), not a database file",
    }[kind]
    before = path.read_bytes() if kind == "csv" else None
    url = f"sqlite:///{path}"
    for script, argv in (
        ("starter.py", ["status", "--json"]),
        ("starter.py", ["preview"]),
        ("starter.py", ["import"]),
        ("worker.py", []),
    ):
        done = run(home, *argv, script=script, YTSYNC_DATABASE_URL=url)
        assert done.code == 2, (argv, done.said)
        assert said in done.said
        assert_clean(done, "My video")
    if before is not None:
        assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name)) == [
        path.name
    ], "no -wal, -shm or -journal beside it"
    assert files(home) == []


# --------------------------------------------------------------------------- 6


def test_read_only_commands_never_create_a_database(home: Path) -> None:
    typo = home / "typo" / "ytsynk.db"
    typo.parent.mkdir()
    url = f"sqlite:///{typo}"
    note = (
        f"there is no database at {typo} yet; 'python starter.py import' creates it "
        "(or set YTSYNC_DATABASE_URL to the database you meant)"
    )
    status = run(home, "status", "--json", YTSYNC_DATABASE_URL=url)
    assert (status.code, status.out.strip()) == (0, "null")
    assert f"note: {note}" in status.said
    shown = run(home, "status", YTSYNC_DATABASE_URL=url)
    assert shown.code == 0 and "No sync job yet" in shown.said and note in shown.said
    (home / "plan.csv").write_text("category,video_id\nMusic,dQw4w9WgXcQ\n")
    for argv in (
        ["report"],
        ["report", "--json"],
        ["backup", "list"],
        ["backup", "export", "backup.json"],
        ["preview"],
        ["plan", "export", "exported.csv"],
        ["plan", "apply", "plan.csv"],
    ):
        done = run(home, *argv, YTSYNC_DATABASE_URL=url)
        assert done.code == 2, (argv, done.said)
        assert f"error: {note}" in done.said
        assert_clean(done)
    assert files(home) == ["plan.csv", "typo"], "no database, no -wal, no -shm"


# --------------------------------------------------------------------------- 7


RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "Cat\u202egpj.exe" shows as "Catexe.jpg"
ZWSP = "\u200b"


@pytest.fixture
def spoofing_library(database_url: str, tmp_path: Path) -> str:
    """A library whose titles, plan and job errors carry bidi and invisible characters."""
    sessions = database(database_url)
    plan = tmp_path / "spoof.csv"
    with transaction(sessions) as session:
        video = Video(youtube_id="vid00000001", title=f"Holiday{RLO}4pm.exe", availability="ok")
        session.add(video)
        session.flush()
        playlist = Playlist(youtube_id="PLspoof", title=f"Old{RLO}mix{ZWSP}", item_count=0)
        session.add(playlist)
    plan.write_text(f"category,video_id\nNew{RLO}cat,vid00000001\n")
    done = run(tmp_path, "plan", "apply", str(plan), YTSYNC_DATABASE_URL=database_url)
    assert done.code == 0, done.said
    with transaction(sessions) as session:
        job = SyncJob(
            workflow_id="ytsync-job-spoof",
            stage="failed",
            failure_message=f"YouTube said: {RLO}gnorw{ZWSP}",
        )
        session.add(job)
        session.flush()
        session.add(
            SyncError(
                job_id=job.id,
                stage="add_videos",
                entity_type="video",
                entity_id=f"vid{RLO}1",
                message=f"YouTube said: {RLO}deliaf{ZWSP}",
            )
        )
    return database_url


def test_bidi_and_invisible_text_is_shown_escaped(home: Path, spoofing_library: str) -> None:
    for argv, shown in (
        (["preview"], ["New\\u202ecat", "Old\\u202emix\\u200b"]),
        (["status"], ["1 item(s) failed", "YouTube said: \\u202egnorw\\u200b"]),
        (["report"], ["vid\\u202e1", "YouTube said: \\u202edeliaf\\u200b"]),
    ):
        done = run(home, *argv, YTSYNC_DATABASE_URL=spoofing_library)
        assert done.code == 0, done.said
        for text in shown:
            assert text in done.said, (argv, text)
        assert RLO not in done.out + done.err and ZWSP not in done.out + done.err
    # --json keeps the exact text, in \u escapes.
    done = run(home, "report", "--json", YTSYNC_DATABASE_URL=spoofing_library)
    assert json.loads(done.out)["items"][0]["message"] == f"YouTube said: {RLO}deliaf{ZWSP}"


def test_category_names_that_would_spoof_the_display_are_refused(
    home: Path, database_url: str
) -> None:
    sessions = database(database_url)
    with transaction(sessions) as session:
        session.add(Video(youtube_id="vid00000001", title="A", availability="available"))
    before = rows(database_url)
    plan = home / "plan.csv"
    plan.write_text(
        f'category,video_id\n{ZWSP}{ZWSP},vid00000001\n"Music\n│ fake │ row",vid00000001\n'
        f"\u3164,vid00000001\n"
    )
    done = run(home, "plan", "apply", str(plan), YTSYNC_DATABASE_URL=database_url)
    assert done.code == 2, done.said
    assert "has 3 problems; nothing was applied" in done.said
    assert "line 2: category '\\u200b\\u200b' has no visible character (only U+200B)" in (done.said)
    assert (
        "line 3: category 'Music\\n│ fake │ row' holds a control character (\\n); a category "
        "name is one line of text"
    ) in done.said
    assert "line 5: category 'ㅤ' has no visible character (only U+3164)" in done.said
    assert_clean(done)
    assert rows(database_url) == before


# --------------------------------------------------------------------------- 8


def test_plan_apply_of_a_dotenv_file_never_shows_it(home: Path, database_url: str) -> None:
    database(database_url)
    before = rows(database_url)
    dotenv = home / ".env"
    dotenv.write_text(f"TEMPORAL_API_KEY={API_KEY}\nYTSYNC_DATABASE_URL=sqlite:///x.db\n")
    done = run(home, "plan", "apply", ".env", YTSYNC_DATABASE_URL=database_url)
    assert done.code == 2, done.said
    assert (
        "line 1: unknown column 1 (its heading is not shown: it is not a column name)"
    ) in done.said
    assert_clean(done, API_KEY, "TEMPORAL_API_KEY")
    assert rows(database_url) == before


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        (f'tls = "{API_KEY}"', "invalid type: a string, expected struct"),
        (f'grpc_meta = "{API_KEY}"', "invalid type: a string, expected a map"),
        (f'[profile.default.tls]\ndisabled = "{API_KEY}"', "invalid type: a string, expected a"),
    ],
)
def test_a_toml_value_in_the_wrong_place_is_not_echoed(
    home: Path, tmp_path: Path, toml: str, said: str
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(f'[profile.default]\naddress = "localhost:7233"\n{toml}\n')
    for script, argv in (("starter.py", ["temporal", "setup"]), ("worker.py", [])):
        done = run(home, *argv, script=script, TEMPORAL_CONFIG_FILE=str(config))
        assert done.code == 2, done.said
        assert f"TEMPORAL_CONFIG_FILE ({config}): TOML parse error at line" in done.said
        assert said in done.said
        assert_clean(done, API_KEY)
    assert files(home) == []


# --------------------------------------------------------------------------- 9


TERMINAL = "A\x1b]0;owned\x07\x1b[2J\x9b31m" + RLO + "B"
# What a terminal would obey: ESC, BEL, the C1 controls, the bidi overrides.
OBEYED = re.compile("[\x07\x1b\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def test_readable_exports_are_safe_to_cat_and_the_backup_is_exact(
    home: Path, database_url: str
) -> None:
    sessions = database(database_url)
    with transaction(sessions) as session:
        video = Video(youtube_id="-vid0000001", title=TERMINAL, availability="available")
        playlist = Playlist(youtube_id="PLterm", title=TERMINAL, description=TERMINAL)
        session.add_all([video, playlist])
        session.flush()
        session.add(
            PlaylistItem(
                playlist_id=playlist.id, video_id=video.id, youtube_item_id="I1", position=0
            )
        )
        job = SyncJob(workflow_id="ytsync-job-term", stage="completed")
        session.add(job)
        session.flush()
        session.add(
            SyncError(
                job_id=job.id,
                stage="add_videos",
                entity_type="video",
                entity_id="-vid0000001",
                message=TERMINAL,
            )
        )
        take_snapshot(session)
    for argv in (
        ["plan", "export", "plan.csv"],
        ["report", "--csv", "report.csv"],
        ["backup", "export", "backup.json"],
    ):
        done = run(home, *argv, YTSYNC_DATABASE_URL=database_url)
        assert done.code == 0, done.said
    for name in ("plan.csv", "report.csv", "backup.json"):
        text = (home / name).read_text(encoding="utf-8")
        assert not OBEYED.search(text), f"{name}: {text!r}"
    plan = (home / "plan.csv").read_text(encoding="utf-8").splitlines()
    assert plan[1].startswith("A ]0;owned  [2J 31mB,'-vid0000001,false"), plan
    report = (home / "report.csv").read_text(encoding="utf-8")
    assert "A\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202eB" in report
    backup = json.loads((home / "backup.json").read_text(encoding="utf-8"))
    assert backup["playlists"][0]["title"] == TERMINAL, "the backup is exact"
    assert backup["playlists"][0]["items"][0]["title"] == TERMINAL
    # The plan applies as exported, its video ids exact.
    done = run(home, "plan", "apply", "plan.csv", YTSYNC_DATABASE_URL=database_url)
    assert done.code == 0, done.said


# --------------------------------------------------------------------------- 10


def test_an_exported_plan_applies_as_exported_whatever_the_titles(
    home: Path, database_url: str
) -> None:
    titles = [
        "Two\nlines",
        ZWSP * 3,
        "\u3164",
        f"{RLO}Mirror",
        "Tab\there",
        "Old <b>bold</b>",
    ]
    if database_url.startswith("sqlite"):
        # An import by an older ytsync may have stored NUL (SQLite takes it).
        titles.append("Nul\x00inside")
    sessions = database(database_url)
    with transaction(sessions) as session:
        for n, title in enumerate(titles):
            video = Video(youtube_id=f"vid{n:08d}", title=f"v{n}", availability="available")
            playlist = Playlist(youtube_id=f"PL{n}", title=title, item_count=1)
            session.add_all([video, playlist])
            session.flush()
            session.add(
                PlaylistItem(
                    playlist_id=playlist.id, video_id=video.id, youtube_item_id=f"I{n}", position=0
                )
            )
    done = run(home, "plan", "export", "plan.csv", YTSYNC_DATABASE_URL=database_url)
    assert done.code == 0, done.said
    applied = run(home, "plan", "apply", "plan.csv", "--json", YTSYNC_DATABASE_URL=database_url)
    assert applied.code == 0, applied.said
    assert json.loads(applied.out)["categories"] == len(titles)


# --------------------------------------------------------------------------- 12


@pytest.mark.parametrize(
    ("kind", "method", "said"),
    [
        (
            "html_answer",
            "playlists.list",
            "error: YouTube's answer to playlists.list could not be read: it is not JSON (an "
            "HTML page or plain text?)",
        ),
        (
            "garbled_answer",
            "playlistItems.list",
            "error: YouTube's answer to playlistItems.list could not be read: items.0: Input "
            "should be a JSON object",
        ),
    ],
)
def test_an_answer_that_is_not_what_the_api_sends_is_one_clear_error(
    home: Path, tmp_path: Path, kind: str, method: str, said: str
) -> None:
    url = f"sqlite:///{tmp_path / 'ytsync.db'}"
    state = sample_library(videos=40, playlists=2, daily_limit=None, seed=7)
    with on_youtube(state, home) as (_server, youtube):
        # A passing fault: sent again, and the import completes.
        state.faults.add(kind=kind, method=method, count=2)  # type: ignore[arg-type]
        done = run(home, "import", "--json", YTSYNC_DATABASE_URL=url, env=youtube)
        assert done.code == 0, done.said
        assert json.loads(done.out)["playlists"] == 2
        before = rows(url)
        # A lasting one: sent again six times (about 31 s of backoff), then one error.
        state.clear_log()
        state.faults.add(kind=kind, method=method)  # type: ignore[arg-type]
        done = run(home, "import", YTSYNC_DATABASE_URL=url, env=youtube)
    assert done.code == 1, done.said
    assert said in done.said
    assert_clean(done)
    assert len(state.requests(method)) == 6
    after = rows(url)
    assert after.pop("quota_ledger") == before.pop("quota_ledger")
    assert after == before, "the library is as the last import left it"


# --------------------------------------------------------------------------- 13


def test_an_error_with_no_file_descriptor_left_is_one_line(home: Path, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the file descriptors run out on SQLite's files")
    database(database_url)

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (6, 6))

    for argv in (["report"], ["preview"], ["backup", "list"]):
        done = run(home, *argv, preexec_fn=few_files, YTSYNC_DATABASE_URL=database_url)
        assert done.code in (1, 2), done.said
        assert done.err.startswith("error: ") and "Too many open files" in done.said
        assert_clean(done)


def test_no_snapshot_is_said_in_plain_words(home: Path, database_url: str) -> None:
    database(database_url)
    done = run(home, "backup", "export", "backup.json", YTSYNC_DATABASE_URL=database_url)
    assert done.code == 2, done.said
    assert (
        "error: there is no snapshot yet (a sync takes one before its first write); see "
        "'python starter.py backup list'"
    ) in done.said
    assert "any" not in done.said
    assert files(home) == []


def test_a_restore_job_shows_its_own_stages(home: Path, database_url: str) -> None:
    sessions = database(database_url)
    with transaction(sessions) as session:
        snapshot = take_snapshot(session)
        session.add(
            SyncJob(
                workflow_id="ytsync-restore-1",
                kind="restore",
                snapshot_id=snapshot.id,
                stage="completed",
                progress_done=5,
                progress_total=5,
                stage_results={
                    "restore_playlists": {"succeeded": 2, "failed": 0, "skipped": 0, "open": 0},
                    "restore_items": {"succeeded": 3, "failed": 0, "skipped": 0, "open": 0},
                },
            )
        )
    data = json.loads(run(home, "status", "--json", YTSYNC_DATABASE_URL=database_url).out)
    assert (data["kind"], data["strategy"], data["snapshot_id"]) == ("restore", None, snapshot.id)
    assert list(data["stage_results"]) == ["restore_playlists", "restore_items"]
    done = run(home, "status", YTSYNC_DATABASE_URL=database_url)
    assert done.code == 0, done.said
    rows_shown = cells(done.out)
    assert ["restores", f"the playlists of snapshot {snapshot.id}"] in rows_shown
    shown = {row[0]: row[1] for row in rows_shown if len(row) == 2}
    assert shown["restore_playlists"].endswith("2 / 2")
    assert shown["restore_items"].endswith("3 / 3")
    assert "strategy" not in shown and "nothing to do" not in done.out
    assert "rebuild" not in done.out


def cells(table: str) -> list[list[str]]:
    """The cells of each row of a rich table, stripped (bars and all)."""
    return [
        [cell.strip().replace("━", "").strip() for cell in line.split("│")[1:-1]]
        for line in table.splitlines()
        if line.count("│") >= 2
    ]
