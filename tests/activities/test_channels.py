"""Several channels, each with its own database and sign-in, served by one worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.support.databases import postgres_database
from tests.support.harness import TEST_SERVER, Installation, env_clock, install
from tests.support.jobs import all_runs, assert_no_secrets
from ytsync.cli import worker
from ytsync.cli.app import main as cli_main
from ytsync.cli.jobctl import settle_abandoned, start_job
from ytsync.config import (
    DEFAULT_CHANNEL,
    Settings,
    load_channels,
    load_channels_file,
    load_environment,
    load_settings,
)
from ytsync.db.models import SyncJob
from ytsync.errors import UserError
from ytsync_emulator.server import EmulatorServer
from ytsync_sandbox.invariants import assert_library_as_planned, expected_playlists

# --------------------------------------------------------------------------- the file


def test_a_channels_file_in_json_or_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_json = tmp_path / "channels.json"
    as_json.write_text(
        json.dumps(
            {
                "channels": {
                    "alice": {"database_url": "sqlite:///alice.db", "token_file": "alice.json"},
                    "bob": {
                        "database_url": "postgresql+psycopg://u:hunter2@db/bob",
                        "token_file": "/run/secrets/bob.json",
                        "youtube_api_endpoint": "http://127.0.0.1:9",
                        "daily_quota": 5000,
                    },
                }
            }
        )
    )
    as_toml = tmp_path / "channels.toml"
    as_toml.write_text(
        '[channels.alice]\ndatabase_url = "sqlite:///alice.db"\ntoken_file = "alice.json"\n\n'
        '[channels.bob]\ndatabase_url = "postgresql+psycopg://u:hunter2@db/bob"\n'
        'token_file = "/run/secrets/bob.json"\nyoutube_api_endpoint = "http://127.0.0.1:9"\n'
        "daily_quota = 5000\n"
    )
    assert load_channels_file(as_json) == load_channels_file(as_toml)

    monkeypatch.setenv("YTSYNC_CHANNELS_FILE", str(as_toml))
    monkeypatch.setenv("YTSYNC_DATABASE_URL", "sqlite:///own.db")
    monkeypatch.setenv("YTSYNC_QUOTA_RESERVE", "500")
    env = load_environment()
    channels = load_channels(env)
    assert sorted(channels) == ["alice", "bob", DEFAULT_CHANNEL]
    assert channels[DEFAULT_CHANNEL].database_url == "sqlite:///own.db"
    bob = channels["bob"]
    assert (bob.channel, bob.token_file, bob.daily_quota) == (
        "bob",
        Path("/run/secrets/bob.json"),
        5000,
    )
    assert bob.youtube_api_endpoint == "http://127.0.0.1:9"
    assert bob.quota_reserve == 500, "what a channel does not set comes from the environment"
    assert bob.safe_database_url == "postgresql+psycopg://u:***@db/bob"
    assert channels["alice"].daily_quota == 10_000
    assert channels["alice"].youtube_api_endpoint == env.youtube_api_endpoint

    # A command works on the channel YTSYNC_CHANNEL names: the file's entry for it.
    monkeypatch.setenv("YTSYNC_CHANNEL", "bob")
    assert load_settings() == bob
    # A name the file does not know is a mistake, not the environment's own channel.
    monkeypatch.setenv("YTSYNC_CHANNEL", "carol")
    with pytest.raises(UserError, match="known channels: 'alice', 'bob', 'default'"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "cannot read it"),
        ("bad.json", "{not json", "not valid JSON"),
        ("bad.toml", "[channels.a\n", "not valid TOML"),
        ("flat.json", '{"alice": {"database_url": "sqlite:///a.db"}}', "channels: Field required"),
        (
            "nourl.json",
            '{"channels": {"a": {"database_url": "mysql://x/y", "token_file": "t"}}}',
            "channels.a.database_url: must be a sqlite:/// or postgresql+psycopg:// URL",
        ),
        (
            "typo.json",
            '{"channels": {"a": {"database_url": "sqlite:///a.db", "tokenfile": "t"}}}',
            "channels.a.tokenfile: Extra inputs are not permitted",
        ),
        (
            "name.json",
            '{"channels": {"a b": {"database_url": "sqlite:///a.db", "token_file": "t"}}}',
            "'a b' is not a channel name",
        ),
        (
            "quota.json",
            '{"channels": {"a": {"database_url": "sqlite:///a.db", "token_file": "t", '
            '"daily_quota": 1000}}}',
            "channel 'a'",
        ),
    ],
)
def test_a_bad_channels_file_is_exit_code_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("YTSYNC_CHANNELS_FILE", str(path))
    with pytest.raises(UserError, match="YTSYNC_CHANNELS_FILE"):
        load_channels(load_environment())
    # Both the worker and every command stop before doing anything, with the reason.
    assert worker.main() == 2
    assert message in capsys.readouterr().err
    monkeypatch.setenv("YTSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    assert cli_main(["status", "--json"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "YTSYNC_CHANNELS_FILE" in err and message in err
    assert not (tmp_path / "never.db").exists()


def test_a_bad_channel_name_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YTSYNC_CHANNEL", "../etc")
    with pytest.raises(UserError, match=r"YTSYNC_CHANNEL: '\.\./etc' is not a channel name"):
        load_settings()


# --------------------------------------------------------------------------- one worker


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def assert_only_its_own(inst: Installation) -> None:
    """The channel's account holds its planned playlists and nothing of another's."""
    titles = set(inst.state.playlists_by_title())
    assert titles == set(expected_playlists(inst)), "a playlist crossed between channels"
    with inst.sessions() as session:
        jobs = session.scalars(select(SyncJob)).all()
    assert [(j.id, j.stage) for j in jobs] == [(1, "completed")]


@pytest.mark.postgres
def test_three_channels_sync_at_once_on_one_worker(tmp_path: Path, postgres_url: str) -> None:
    async def scenario() -> None:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER)
        ) as env:
            clock = env_clock(env, asyncio.get_running_loop())
            server = EmulatorServer()  # one address for every account, as on Google
            server.start()
            queue = f"ytsync-test-{uuid.uuid4().hex[:8]}"
            databases = {
                "alice": f"sqlite:///{tmp_path / 'alice.db'}",
                "bob": postgres_url,
                "carol": f"sqlite:///{tmp_path / 'carol.db'}",
                "nobody": f"sqlite:///{tmp_path / 'nobody.db'}",
            }
            insts: dict[str, Installation] = {}
            for seed, (name, url) in enumerate(databases.items(), start=41):
                (tmp_path / name).mkdir()
                inst = await asyncio.to_thread(
                    install,
                    tmp_path / name,
                    url,
                    clock,
                    videos=30 if name == "nobody" else 160,
                    playlists=2 if name == "nobody" else 5,
                    seed=seed,
                    server=server,
                    channel=name,
                    # Every insert must succeed below; the 404 right after a creation
                    # has its own test.
                    not_found_after_create_seconds=0,
                )
                inst.settings = inst.settings.model_copy(update={"task_queue": queue})
                insts[name] = inst
            try:
                # The worker's own channel is alice (its environment); bob and carol come
                # from its channels; nobody is unknown to it.
                served = {n: insts[n].settings for n in ("bob", "carol")}
                own = insts["alice"].settings
                async with worker.build_worker(env.client, own, clock=clock, channels=served):
                    now = await env.get_current_time()
                    started = {
                        name: await start_job(inst.settings, inst.sessions, env.client, now=now)
                        for name, inst in insts.items()
                    }
                    assert {s.job_id for s in started.values()} == {1}, "ids repeat per database"
                    # The three run at once; their results are awaited one by one: each
                    # wait unlocks the time-skipping server's clock once, and concurrent
                    # waits would unlock it more than it is locked, letting time skip
                    # while tasks run (workflow tasks expire, a run times out).
                    results = [await started[n].handle.result() for n in ("alice", "bob", "carol")]
                    assert [r.stage for r in results] == ["completed"] * 3
                    with pytest.raises(WorkflowFailureError) as failure:
                        await started["nobody"].handle.result()
                    histories = [
                        h.to_json() for s in started.values() for h in await all_runs(env, s.handle)
                    ]
                    # What 'status' and 'start' do with a job whose workflow ended alone.
                    assert await settle_abandoned(env.client, insts["nobody"].sessions)
                message = str(failure.value.cause)
                assert "unknown channel 'nobody'" in message
                assert "'alice', 'bob', 'carol'" in message
                with insts["nobody"].sessions() as session:
                    job = session.get_one(SyncJob, 1)
                    assert job.stage == "failed"
                    assert "unknown channel 'nobody'" in (job.failure_message or "")
                assert insts["nobody"].state.requests("playlists.insert") == []
                for name in ("alice", "bob", "carol"):
                    inst = insts[name]
                    assert assert_library_as_planned(inst) > 5
                    assert_only_its_own(inst)
                    assert_no_secrets(inst, histories)
                    writes = inst.state.requests("playlistItems.insert")
                    assert writes and all(r.status < 300 for r in writes)
            finally:
                server.stop()

    asyncio.run(scenario())


def test_jobs_started_before_channels_run_on_the_workers_own_channel() -> None:
    """Old inputs have no channel: they decode, and mean the worker's own one."""
    from temporalio.converter import DataConverter

    from ytsync.wire import BatchInput, StageUpdate, SyncInput

    converter = DataConverter.default
    for cls, old in (
        (SyncInput, {"job_id": 3, "stage": "add_videos", "runs": 2}),
        (BatchInput, {"job_id": 3, "max_writes": 50, "category_id": 7}),
        (StageUpdate, {"job_id": 3, "stage": "backup"}),
    ):
        payload = converter.payload_converter.to_payloads([old])
        [decoded] = converter.payload_converter.from_payloads(payload, [cls])
        assert isinstance(decoded, cls)
        assert decoded.channel is None
    assert Settings().channel == DEFAULT_CHANNEL
