"""The fault suite: whole syncs through crashes, lost answers and refusals, then every
invariant checked against the emulator's state and request log.

Each case runs a real ``temporal server start-dev`` (restartable on its port and state
file), a worker in its own process on the wall clock, the emulator in this process and
a fresh PostgreSQL database.  Faults come from the emulator's seeded fault rules and from
a chaos controller that fires at exact emulator writes: it SIGKILLs the worker (the
write in flight applied or not), crashes the Temporal server, cuts the worker's
database connections, burns quota from outside and expires every access token.

Run it alone with ``pytest -m faults``; seeds with ``--fault-seeds 1,2,3`` or
``YTSYNC_FAULT_SEEDS=random:5`` (CI runs the fixed ``faultkit.CI_SEEDS``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from tests.support.faultkit import (
    RUNS,
    Action,
    Chaos,
    DevServerProcess,
    RunRecord,
    WorkerProcess,
    describe,
    fault_seeds,
    log_tail,
    observed_faults,
    owner_saves,
    planned_work,
    wall_clock,
    worker_environ,
)
from tests.support.harness import Installation, install
from ytsync.cli.jobctl import start_job
from ytsync.db.models import Category, CategoryVideo, Video
from ytsync.devserver import free_ports
from ytsync.quota import WRITE_COST
from ytsync.wire import JobProgress
from ytsync_emulator.faults import FaultKind
from ytsync_sandbox.invariants import RunFacts, check_fault_run

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

# Short heartbeats, so a killed worker's batch is retried within seconds; small batches,
# so a batch that keeps hitting faults does not climb far up the retry backoff.  Each
# attempt of a batch fails at its first fault: at about 12 % of writes faulted (the
# everything case) an attempt of 5 writes fails about half the time, and the backoff a
# batch may expect (1, 2, 4 s ... per attempt, 10 * 2**attempt s after a rate limit)
# all but diverges; with 3 writes it fails a third of the time.  Same faults, same
# writes, fewer activities sitting out a long backoff alone at the end of the job.
JOB_OPTIONS = {"heartbeat_timeout_seconds": 3.0, "batch_size": 3}
LANES = 4
CASE_LIMIT = 240.0  # seconds for one job; pytest's own timeout is 300


@dataclass(frozen=True)
class Case:
    name: str
    # Fired by the chaos controller at random emulator writes.
    worker_kills: int = 0
    server_restarts: int = 0
    db_drops: int = 0
    quota_burns: int = 0
    token_expiries: int = 0
    # The owner saves a video to an old playlist on youtube.com during the adds: the
    # playlist must be held back and named, and the video never lost.
    owner_saves: int = 0
    # The emulator's own fault rules (probability per request, drawn from the seed).
    lost: float = 0.0
    errors_5xx: float = 0.0
    conflicts: float = 0.0
    rate_limits: int = 0  # one 429 and one 403 rateLimitExceeded each, at random
    # 409 for inserts within this many seconds of a playlist's creation, like YouTube.
    conflict_window: float = 0.0
    token_ttl: float = 3600.0
    # Quota: a short real period makes the job sleep on durable timers.
    period_seconds: int | None = None
    daily_quota: int = 1_000_000
    quota_reserve: int = 1_000
    videos: int = 200
    playlists: int = 6
    # YouTube's lists show writes late: the emulator's default, and longer where
    # answers are lost (the case that most needs a settled look), by an amount drawn
    # per list call up to ``jitter`` more.  ytsync waits a second longer than the lag
    # before it judges a write, unless ``settle`` says otherwise: shorter than the lag,
    # its checks must wait for the lists to catch up, and never send a write twice.
    list_lag: float = 2.0
    jitter: float = 0.4
    settle: float | None = None


# The longest case first: started last, it would run on alone after the others.
CASES = [
    Case(
        "everything",
        worker_kills=4,
        server_restarts=1,
        db_drops=3,
        quota_burns=1,
        token_expiries=2,
        lost=0.03,
        errors_5xx=0.02,
        conflicts=0.02,
        rate_limits=1,
        conflict_window=1.0,
        token_ttl=4.0,
        period_seconds=6,
        daily_quota=4_000,
        quota_reserve=500,
    ),
    Case("worker_kills", worker_kills=6, owner_saves=2),
    Case("lost_responses", lost=0.05, list_lag=5.0, jitter=3.0, settle=3.0),
    Case("api_errors", errors_5xx=0.02, conflicts=0.02, rate_limits=1, conflict_window=1.0),
    Case(
        "tokens_and_quota",
        token_ttl=3.0,
        token_expiries=3,
        quota_burns=1,
        period_seconds=5,
        daily_quota=3_000,
        quota_reserve=500,
    ),
    Case("server_restarts", server_restarts=2),
    Case("db_drops", db_drops=6),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fault_seed" in metafunc.fixturenames:
        seeds = fault_seeds(metafunc.config.getoption("--fault-seeds", default=None))
        metafunc.parametrize("fault_seed", seeds, ids=[f"seed{s}" for s in seeds])


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sync_through_faults(
    case: Case, fault_seed: int, database_url: str, tmp_path: Path
) -> None:
    print(f"\nfault case {case.name} seed {fault_seed}", flush=True)
    counts: Counter[str] = Counter()
    record = RunRecord(case.name, fault_seed, counts, 0, 0.0, False)
    RUNS.append(record)
    began = time.monotonic()
    try:
        record.invariants = asyncio.run(run_case(case, fault_seed, database_url, tmp_path, counts))
        record.passed = True
    except Exception as exc:
        replay = f"YTSYNC_FAULT_SEEDS={fault_seed} pytest -m faults -k {case.name}"
        raise AssertionError(
            f"fault case {case.name}, seed {fault_seed} (replay: {replay}); "
            f"faults so far: {describe(counts)}\n{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        record.seconds = time.monotonic() - began
    print(f"fault case {case.name} seed {fault_seed}: {describe(counts)}", flush=True)


async def run_case(
    case: Case, seed: int, database_url: str, tmp_path: Path, counts: Counter[str]
) -> int:
    inst = await asyncio.to_thread(
        install,
        tmp_path,
        database_url,
        wall_clock,
        videos=case.videos,
        playlists=case.playlists,
        seed=seed,
        daily_quota=case.daily_quota,
        quota_reserve=case.quota_reserve,
        emulator_limit=case.daily_quota,
        period_seconds=case.period_seconds,
        unavailable_fraction=0.04,
        access_token_ttl=case.token_ttl,
        conflict_after_create_seconds=case.conflict_window,
        list_lag_seconds=case.list_lag,
        list_lag_jitter_seconds=case.jitter,
        settle_seconds=case.list_lag + 1.0 if case.settle is None else case.settle,
    )
    try:
        return await _run(case, seed, inst, database_url, tmp_path, counts)
    finally:
        inst.server.stop()


async def _run(
    case: Case,
    seed: int,
    inst: Installation,
    database_url: str,
    tmp_path: Path,
    counts: Counter[str],
) -> int:
    state = inst.state
    rng = random.Random(seed)
    state.faults.reseed(seed)
    # Planned videos that went private or were deleted after the import: YouTube
    # refuses them at the write, and the job must report them like the known ones.
    made_unavailable = _videos_gone_since_import(inst, rng)
    add_fault_rules(inst, case)
    system_lists = {pid: state.playlist_items(pid) for pid in ("WL", "LL", state.uploads_id)}
    work = planned_work(inst)

    server = DevServerProcess(tmp_path / "temporal.db", tmp_path / "temporal.log", free_ports(1)[0])
    await server.start()
    worker = WorkerProcess(server.address, worker_environ(inst, database_url), tmp_path)
    chaos = Chaos(
        inst,
        server,
        worker,
        database_name=str(make_url(database_url).database),
        admin_url=database_url,
        loop=asyncio.get_running_loop(),
    )
    actions = (
        [Action("worker_kill", rng.choice(["lose", "ignore"])) for _ in range(case.worker_kills)]
        + [Action("server_restart")] * case.server_restarts
        + [Action("db_drop")] * case.db_drops
        + [
            Action("quota_burn", units=int(case.daily_quota * rng.uniform(0.4, 0.8)))
            for _ in range(case.quota_burns)
        ]
        + [Action("token_expiry")] * case.token_expiries
    )
    # Spread over the writes the job will make, the last ones near the end of the adds.
    chaos.plan(rng, actions, first=3, last=work.creates + work.adds * 9 // 10)
    # During the adds, so at least a settle delay (longer than the lists' lag) before
    # the delete stage reads the old playlists.
    saves = owner_saves(inst, rng, case.owner_saves)
    chaos.plan(rng, saves, first=work.creates + 1, last=work.creates + work.adds * 9 // 10)
    try:
        await asyncio.to_thread(worker.spawn)
        state.write_hook = chaos.hook
        supervisor = asyncio.create_task(chaos.supervise())
        try:
            client = await Client.connect(server.address)
            started = await start_job(
                inst.settings, inst.sessions, client, now=wall_clock(), **JOB_OPTIONS
            )
            result = await _finish(started.handle, supervisor, server, worker)
        finally:
            chaos.stop()
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
    finally:
        state.write_hook = None
        worker.kill()
        server.kill()
        counts.update(chaos.counts)
        counts.update(state.faults.summary())
        counts.update(observed_faults(state.requests()))
        counts["made_unavailable"] += len(made_unavailable)

    # The run proves something only if the faults it was built for really happened.
    assert chaos.pending == 0, f"{chaos.pending} planned faults never fired"
    missing = [kind for kind in expected_kinds(case) if not counts[kind]]
    assert not missing, f"faults that never fired: {missing}"
    if case.period_seconds:
        periods = quota_periods(inst)
        assert periods >= 2, f"the job wrote in {periods} quota period: it never slept for quota"
    facts = RunFacts(
        job_id=started.job_id,
        workflow_stage=result.stage,
        system_lists=system_lists,
        burnt=chaos.burnt_per_period(),
        lanes=LANES,
    )
    return check_fault_run(inst, facts)


async def _finish(
    handle: WorkflowHandle[Any, Any],
    supervisor: asyncio.Task[None],
    server: DevServerProcess,
    worker: WorkerProcess,
) -> JobProgress:
    """The workflow's result, through server restarts, within the case's deadline."""
    deadline = time.monotonic() + CASE_LIMIT
    while True:
        if supervisor.done():
            supervisor.result()  # a restart that failed: raise its error
            raise AssertionError("the supervisor stopped early")
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"the job did not finish within {CASE_LIMIT:.0f} s\n  last worker log:\n"
                f"{log_tail(worker.log_file())}\n  server log:\n{log_tail(server.log_file)}"
            )
        try:
            progress: JobProgress = await asyncio.wait_for(handle.result(), timeout=min(left, 10))
            return progress
        except (RPCError, TimeoutError):
            # The server is restarting: ask again once it answers.
            await asyncio.sleep(0.2)


def expected_kinds(case: Case) -> list[str]:
    """The fault counts that must be non-zero after a run of this case."""
    kinds = {
        "worker_kill": case.worker_kills,
        "server_restart": case.server_restarts,
        "db_drop": case.db_drops,
        "quota_burn": case.quota_burns,
        "token_expiry": case.token_expiries,
        "owner_save": case.owner_saves,
        "lose_response": case.lost,
        "lose_response_reset": case.lost,
        "error_5xx": case.errors_5xx,
        "conflict_409": case.conflicts,
        "rate_limit_429": case.rate_limits,
        "rate_limit_403": case.rate_limits,
    }
    return [kind for kind, wanted in kinds.items() if wanted]


def quota_periods(inst: Installation) -> int:
    """Quota periods in which the job wrote to YouTube."""
    clock = inst.settings.quota_clock
    return len(
        {
            clock.period_start(r.time)
            for r in inst.state.requests()
            if r.units >= WRITE_COST and r.status < 300
        }
    )


def add_fault_rules(inst: Installation, case: Case) -> None:
    """The emulator's seeded rules.  Each kind first fires once among the early
    requests it matches (so a run never misses it by bad luck), then at its rate."""
    faults = inst.state.faults
    early = 0.2
    if case.lost:
        # Applied, then the answer is lost: by a clean close or a reset connection.
        faults.add(method="playlists.insert", kind="lose_response", count=1)
        faults.add(
            method="playlistItems.insert", kind="lose_response_reset", count=1, probability=early
        )
        for method in ("playlistItems.insert", "playlists.insert", "playlists.delete"):
            faults.add(method=method, kind="lose_response", probability=case.lost)
            faults.add(method=method, kind="lose_response_reset", probability=case.lost)
    if case.rate_limits:
        rate_limits: tuple[FaultKind, ...] = ("rate_limit_429", "rate_limit_403")
        for kind in rate_limits:
            faults.add(
                method="playlistItems.insert",
                kind=kind,
                count=case.rate_limits,
                probability=0.05,
            )
    if case.conflicts:
        faults.add(method="playlistItems.insert", kind="conflict_409", count=1, probability=early)
        faults.add(method="playlistItems.insert", kind="conflict_409", probability=case.conflicts)
    if case.errors_5xx:
        faults.add(method="*", kind="error_5xx", count=1, probability=early)
        faults.add(method="*", kind="error_5xx", probability=case.errors_5xx)
        faults.add(method="*", kind="error_5xx", status=503, probability=case.errors_5xx)


def _videos_gone_since_import(inst: Installation, rng: random.Random) -> list[str]:
    """Two planned, available videos of someone else: one deleted, one made private."""
    with inst.sessions() as session:
        candidates = sorted(
            session.scalars(
                select(Video.youtube_id)
                .join(CategoryVideo, CategoryVideo.video_id == Video.id)
                .join(Category, Category.id == CategoryVideo.category_id)
                .where(Category.is_protected.is_(False), Video.availability == "available")
            )
        )
    state = inst.state
    with state.lock:
        others = [v for v in candidates if state.videos[v].owner_channel_id != state.channel_id]
    gone = rng.sample(others, 2)
    state.set_video(gone[0], deleted=True)
    state.set_video(gone[1], privacy="private")
    return gone


def test_seeds_come_from_the_option_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YTSYNC_FAULT_SEEDS", raising=False)
    from tests.support.faultkit import CI_SEEDS

    assert fault_seeds(None) == list(CI_SEEDS)
    assert fault_seeds("3, 5") == [3, 5]
    monkeypatch.setenv("YTSYNC_FAULT_SEEDS", "random:3")
    assert len(fault_seeds(None)) == 3
    assert fault_seeds("9") == [9]  # the option wins
