"""One quota per Google Cloud project: channels signed in through one OAuth client share
one period's units and one reserve, on one ledger, whatever their databases.

Two channels on one emulator address, the second signed in through the first's client
(so the emulator, like Google, counts both on one quota), served by one worker under
the time-skipping test server.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from functools import partial
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import TEST_SERVER, Installation, env_clock, install
from ytsync.cli import worker
from ytsync.cli.jobctl import start_job
from ytsync.cli.views import StatusView, status_view
from ytsync.config import Settings, load_channels
from ytsync.db.models import QuotaLedger, SyncJob
from ytsync.ledger import remaining_for
from ytsync.preview import compute_preview
from ytsync.status import job_status
from ytsync.sync.budget import Budget
from ytsync_emulator.credentials import issue_token_file
from ytsync_emulator.quota import COSTS
from ytsync_emulator.server import EmulatorServer

PERIOD = 60
DAILY = 3_000
RESERVE = 500
USABLE = DAILY - RESERVE


def ledger_units(inst: Installation) -> int:
    with inst.sessions() as session:
        return int(session.scalar(select(func.sum(QuotaLedger.units_used))) or 0)


def channels_of(tmp_path: Path, alice: Installation, bob: Installation) -> dict[str, Settings]:
    """The worker's view: its own (default) channel and a channels file with both."""
    path = tmp_path / "channels.json"
    entries = {
        name: {
            "database_url": inst.settings.database_url,
            "token_file": str(inst.settings.token_file),
        }
        for name, inst in (("alice", alice), ("bob", bob))
    }
    path.write_text(json.dumps({"channels": entries}))
    base = alice.settings.model_copy(
        update={
            "channel": "default",
            "database_url": f"sqlite:///{tmp_path / 'default.db'}",
            "token_file": tmp_path / "no-sign-in-yet.json",
            "channels_file": path,
        }
    )
    return load_channels(base)


def test_two_channels_on_one_client_share_one_quota(tmp_path: Path, database_url: str) -> None:
    """Both jobs charge the ledger in the first channel's database: together they never
    spend more than the one usable quota a period (the project's reserve stays whole,
    YouTube never refuses for quota), and preview and status show the shared figures."""

    async def scenario() -> None:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER)
        ) as env:
            clock = env_clock(env, asyncio.get_running_loop())
            server = EmulatorServer()
            server.start()
            insts: dict[str, Installation] = {}
            for seed, (name, url) in enumerate(
                (("alice", f"sqlite:///{tmp_path / 'alice.db'}"), ("bob", database_url)),
                start=51,
            ):
                (tmp_path / name).mkdir()
                insts[name] = await asyncio.to_thread(
                    install,
                    tmp_path / name,
                    url,
                    clock,
                    videos=80,
                    playlists=4,
                    seed=seed,
                    server=server,
                    channel=name,
                    daily_quota=DAILY,
                    quota_reserve=RESERVE,
                    emulator_limit=DAILY,
                    period_seconds=PERIOD,
                )
            alice, bob = insts["alice"], insts["bob"]
            try:
                # Bob signs in again, through alice's OAuth client: one Cloud project.
                client_id = json.loads(alice.settings.token_file.read_text())["client_id"]
                bob.state.join_project(alice.state, client_id)
                # In a thread: the emulator reads the time-skipping server's clock.
                await asyncio.to_thread(
                    partial(
                        issue_token_file,
                        bob.state,
                        bob.settings.token_file,
                        base_url=server.base_url,
                        client_id=client_id,
                    )
                )
                channels = channels_of(tmp_path, alice, bob)
                assert channels["bob"].quota_ledger_url == alice.settings.database_url
                assert channels["alice"].quota_ledger_url is None
                assert channels["bob"].quota_shared_with == ["alice"]
                assert channels["default"].quota_shared_with == []
                units_before = ledger_units(alice), ledger_units(bob)

                now = await env.get_current_time()
                with bob.sessions() as session:
                    preview = compute_preview(session, channels["bob"], now)
                assert preview.quota_shared_with == ["alice"]

                async with worker.build_worker(
                    env.client, channels["default"], clock=clock, channels=channels
                ):
                    started = {
                        name: await start_job(
                            channels[name], insts[name].sessions, env.client, now=now
                        )
                        for name in ("alice", "bob")
                    }
                    # One wait at a time (see test_channels: concurrent waits let the
                    # time-skipping server skip while activities run).
                    for name in ("alice", "bob"):
                        assert (await started[name].handle.result()).stage == "completed"

                end = await env.get_current_time()
                with alice.sessions() as session:
                    left = remaining_for(
                        channels["alice"], session, channels["alice"].quota_clock.period_start(end)
                    )
                with bob.sessions() as session:
                    job = session.get_one(SyncJob, started["bob"].job_id)
                    status = job_status(session, job, channels["bob"], end)
                    bob_used = job.quota_used
                with alice.sessions() as session:
                    alice_used = session.get_one(SyncJob, started["alice"].job_id).quota_used
                assert status.quota_today.shared_with == ["alice"]
                assert status.quota_today.remaining == left
                console = Console(record=True, width=300)
                console.print(status_view(StatusView(status, end)))
                assert "one OAuth client's quota, shared with channel alice" in (
                    console.export_text()
                )
                # Every unit of both jobs is on alice's ledger, none on bob's.
                assert ledger_units(alice) - units_before[0] == alice_used + bob_used
                assert ledger_units(bob) == units_before[1]

                # Together, within one usable quota a period; YouTube never refused.
                log = alice.state.requests() + bob.state.requests()
                periods = channels["alice"].quota_clock
                spent: Counter[datetime] = Counter()
                early: Counter[datetime] = Counter()
                for r in log:
                    period = periods.period_start(r.time)
                    spent[period] += r.units
                    if (r.time - period).total_seconds() < 2.0:
                        early[period] += r.units
                slack = 2 * 4 * (COSTS["playlistItems.insert"] + COSTS["playlistItems.list"])
                jobs_began = periods.period_start(now)
                busy = {p: units for p, units in spent.items() if p > jobs_began}
                assert len(busy) >= 2, "the jobs never waited for a quota reset"
                for period, units in busy.items():
                    assert units <= USABLE + min(early[period], slack), (period, units)
                refused = [r for r in log if r.status == 403 and r.units == 0]
                assert refused == [], "YouTube refused for quota: the reserve was spent"
            finally:
                server.stop()

    asyncio.run(scenario())


def test_a_budget_charges_its_clients_ledger(tmp_path: Path, database_url: str) -> None:
    """A grouped channel's budget reserves on the first channel's ledger, and what it
    gives back goes there too: the other channel's remaining figure moves with it."""
    server = EmulatorServer()
    server.start()
    try:
        (tmp_path / "alice").mkdir()
        (tmp_path / "bob").mkdir()
        alice = install(
            tmp_path / "alice",
            f"sqlite:///{tmp_path / 'a.db'}",
            videos=20,
            playlists=2,
            seed=61,
            server=server,
            channel="alice",
        )
        bob = install(
            tmp_path / "bob",
            database_url,
            videos=20,
            playlists=2,
            seed=62,
            server=server,
            channel="bob",
        )
        client_id = json.loads(alice.settings.token_file.read_text())["client_id"]
        bob.state.join_project(alice.state, client_id)
        issue_token_file(
            bob.state, bob.settings.token_file, base_url=server.base_url, client_id=client_id
        )
        channels = channels_of(tmp_path, alice, bob)
        now = datetime.now().astimezone()
        period = channels["alice"].quota_clock.period_start(now)

        def left() -> int:
            with alice.sessions() as session:
                return remaining_for(channels["alice"], session, period)

        with bob.sessions() as session, session.begin():
            session.add(SyncJob(workflow_id="w-bob"))
        with bob.sessions() as session:
            job_id = session.scalars(select(SyncJob.id)).one()
        before = left()
        budget = Budget(channels["bob"], bob.sessions, lambda: now, job_id)
        budget.expect_writes(3)
        assert budget.try_spend(50)
        assert left() == before - 150, "bob reserved three writes on alice's ledger"
        budget.release()
        assert left() == before - 50, "and gave two of them back there"
        with bob.sessions() as session:
            assert session.get_one(SyncJob, job_id).quota_used == 50
            assert remaining_for(channels["bob"], session, period) == left()
    finally:
        server.stop()
