"""Whole jobs with notifications on, under the time-skipping server: the worker's sender
delivers each event's message once, with the figures `status` shows, and a notifier
that never answers holds nothing up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import Installation, start
from tests.support.jobs import time_skipping
from tests.support.waiting import eventually
from tests.support.webhook import Webhook, webhook
from ytsync.channels import Channels
from ytsync.cli.worker import Service, build_service
from ytsync.config import Settings
from ytsync.db.models import Category, Notification, QuotaLedger, SyncJob
from ytsync.notify import outbox
from ytsync.notify.sender import Sender
from ytsync.status import job_status

NO_WAIT = (timedelta(0), timedelta(0))


@asynccontextmanager
async def notifying_worker(
    env: WorkflowEnvironment, inst: Installation, clock: Any, url: str
) -> AsyncIterator[Service]:
    settings = Settings.model_validate({**inst.settings.model_dump(), "notify": SecretStr(url)})
    inst.settings = settings

    def sender(channels: Channels, wake: Any) -> Sender:
        return Sender(channels, wake=wake, backoff=NO_WAIT, scan_seconds=0.5)

    async with build_service(env.client, settings, clock=clock, sender=sender) as service:
        yield service


def refuse_first_category(inst: Installation) -> str:
    """A title YouTube refuses (written behind plan apply's back): its playlist is
    refused, and the old playlists of its videos are held back."""
    with inst.sessions.begin() as session:
        category = session.scalars(
            select(Category).where(Category.is_protected.is_(False)).order_by(Category.id)
        ).first()
        assert category is not None
        category.name = "<b>Refused</b>"
        return category.name


async def run_job(env: WorkflowEnvironment, inst: Installation) -> tuple[int, dict[str, Any]]:
    started, handle = await start(inst, env.client, await env.get_current_time())
    assert (await handle.result()).stage == "completed"
    with inst.sessions() as session:
        job = session.get_one(SyncJob, started.job_id)
        now: datetime = await env.get_current_time()
        return started.job_id, job_status(session, job, inst.settings, now).model_dump(mode="json")


def rows(inst: Installation, job_id: int) -> dict[str, str]:
    with inst.sessions() as session:
        found = session.execute(
            select(Notification.event, Notification.status).where(Notification.job_id == job_id)
        )
        return {event: status for event, status in found}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_completed_held_back_and_refused_messages_carry_the_figures(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=160, playlists=5, seed=4) as (
            env,
            inst,
            clock,
        ):
            name = refuse_first_category(inst)
            with webhook() as hook:
                async with notifying_worker(env, inst, clock, hook.url):
                    job_id, status = await run_job(env, inst)
                    await eventually(lambda: len(hook.delivered()) == 3, "three messages")
                assert_messages(hook, job_id, status, name)
                assert rows(inst, job_id) == {
                    "completed": outbox.SENT,
                    "held_back": outbox.SENT,
                    next(e for e in rows(inst, job_id) if e.startswith("refused:")): outbox.SENT,
                }

    asyncio.run(scenario())


def assert_messages(hook: Webhook, job_id: int, status: dict[str, Any], name: str) -> None:
    results = status["stage_results"]
    (completed,) = hook.titled(f"job {job_id} on channel default completed")
    body = completed["message"]
    assert f"Videos added: {results['add_videos']['succeeded']:,}" in body
    assert f"{results['add_videos']['failed']:,} failed" in body
    assert f"Category playlists made or updated: {results['create_playlists']['succeeded']}" in body
    deleted = results["delete_playlists"]
    assert f"Old playlists (or items) deleted: {deleted['succeeded']}" in body
    assert f"Old playlists kept (held back): {len(status['held_back'])}" in body
    assert f"Quota used: {status['quota_used']:,} units" in body

    kept = status["held_back"]
    assert kept, "the refused category holds old playlists back"
    (held,) = hook.titled(f"job {job_id} kept {len(kept)} old playlist")
    for playlist in kept:
        count = len(playlist["videos"])
        assert (
            f"- {playlist['title']!r}: {count} video{'' if count == 1 else 's'}"
            in (held["message"])
        )

    (refused,) = hook.titled(f"refused the playlist of category {name!r}")
    (error,) = [e for e in status["errors"] if e["stage"] == "create_playlists"]
    assert error["message"] in refused["message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_notifier_that_never_answers_holds_nothing_up(tmp_path: Path, database_url: str) -> None:
    """The job completes while every send hangs unanswered; the sender tries the
    completion message three times (Apprise's timeouts end each), then gives up."""

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=80, playlists=3, seed=6) as (
            env,
            inst,
            clock,
        ):
            with webhook("hang") as hook:
                url = hook.url + "?cto=1&rto=1"
                async with notifying_worker(env, inst, clock, url):
                    job_id, status = await run_job(env, inst)
                    # The job ended before any send did: nothing was delivered yet.
                    assert hook.delivered() == []
                    assert status["stage"] == "completed"
                    await eventually(
                        lambda: rows(inst, job_id) == {"completed": outbox.FAILED},
                        "the sender to give up",
                    )
                assert hook.seen() == 3
                assert hook.delivered() == []

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_digest_tells_where_the_job_stands_once_each_quota_day(
    tmp_path: Path, database_url: str
) -> None:
    """With YTSYNC_NOTIFY_DIGEST, a job of several quota periods sends one digest in each
    period it works in (told when it starts working there), with its progress; without
    it (the tests above), none."""

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=600, playlists=6, seed=3) as (
            env,
            inst,
            clock,
        ):
            inst.settings = Settings.model_validate(
                {**inst.settings.model_dump(), "notify_digest": True}
            )
            with webhook() as hook:
                async with notifying_worker(env, inst, clock, hook.url):
                    job_id, status = await run_job(env, inst)
                    await eventually(
                        lambda: rows(inst, job_id).get("completed") == outbox.SENT,
                        "the completion message",
                    )
                    digests = sorted(e for e in rows(inst, job_id) if e.startswith("digest:"))
                    await eventually(
                        lambda: (
                            len(hook.titled(f"job {job_id} on channel default: ")) == len(digests)
                        ),
                        "every digest delivered",
                    )
            with inst.sessions() as session:
                periods = session.scalars(select(QuotaLedger.period_start)).all()
                recorded = session.execute(
                    select(Notification.title, Notification.body)
                    .where(Notification.job_id == job_id, Notification.event.startswith("digest:"))
                    .order_by(Notification.id)
                ).all()
            assert len(periods) >= 3, "the job should have needed several quota periods"
            assert len(digests) == len(periods)
            delivered = {(m["title"], m["message"]) for m in hook.titled(": ")}
            assert {(title, body) for title, body in recorded} <= delivered
            done = [
                int(title.rsplit(": ", 1)[1].split(" of ")[0].replace(",", ""))
                for title, _body in recorded
            ]
            assert done == sorted(done) and done[-1] > 0
            assert "Stage: backup" in recorded[0].body
            assert all("Quota used so far" in body for _title, body in recorded)
            assert status["stage"] == "completed"

    asyncio.run(scenario())
