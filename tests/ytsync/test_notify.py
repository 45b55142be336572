"""Notifications without Temporal: a step records each event's message once, in its own
transaction; the sender claims and delivers it, tries a notifier that is down a few
times, and gives up with a log line; the URLs' secrets never show."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.support.harness import Installation, install
from tests.support.webhook import webhook
from ytsync.channels import Channel, Channels, Hooks
from ytsync.config import Settings
from ytsync.db.models import Notification
from ytsync.jobs import create_job
from ytsync.logs import mask
from ytsync.notify import outbox
from ytsync.notify.sender import Sender
from ytsync.notify.service import Notifier
from ytsync.sync.batches import Attempt, ChannelJob
from ytsync.wire import PauseReason, Stage, StageUpdate
from ytsync.youtube.tokens import EXPIRY_FIELD

NO_WAIT = (timedelta(0), timedelta(0))


def wall_clock() -> datetime:
    return datetime.now(UTC)


def notifying(settings: Settings, url: str) -> Settings:
    return Settings.model_validate({**settings.model_dump(), "notify": SecretStr(url)})


def small_job(tmp_path: Path, database_url: str, url: str) -> tuple[Installation, Settings, int]:
    inst = install(tmp_path, database_url, wall_clock, videos=40, playlists=3, seed=3)
    settings = notifying(inst.settings, url)
    job_id = create_job(settings, inst.sessions, wall_clock()).id
    return inst, settings, job_id


def step(inst: Installation, settings: Settings, job_id: int, hooks: Hooks) -> ChannelJob:
    attempt = Attempt(None, 1, lambda: None, lambda: False, time.sleep, lambda: None)
    channel = Channel(settings.channel, settings, inst.sessions, hooks=hooks)
    return ChannelJob.on(channel, job_id, wall_clock, attempt)


def events(inst: Installation, job_id: int) -> list[str]:
    with inst.sessions() as session:
        return list(
            session.scalars(
                select(Notification.event)
                .where(Notification.job_id == job_id)
                .order_by(Notification.id)
            )
        )


def pause_for_sign_in(job_id: int) -> StageUpdate:
    return StageUpdate(
        job_id,
        Stage.PAUSED,
        Stage.ADD_VIDEOS,
        PauseReason.AUTH,
        message="the sign-in was revoked or has expired",
    )


def test_a_retried_stage_change_records_its_message_once(tmp_path: Path, database_url: str) -> None:
    inst, settings, job_id = small_job(tmp_path, database_url, "json://127.0.0.1:9/")
    woken = threading.Event()
    job = step(inst, settings, job_id, Hooks(notified=woken.set))
    job.set_stage(StageUpdate(job_id, Stage.ADD_VIDEOS))
    assert events(inst, job_id) == [] and not woken.is_set()

    job.set_stage(pause_for_sign_in(job_id))
    assert woken.is_set(), "the sender is woken when a message is recorded"
    woken.clear()
    # The activity retried after its commit (its answer lost): nothing new.
    job.set_stage(pause_for_sign_in(job_id))
    assert events(inst, job_id) == ["auth_required:1"]
    assert not woken.is_set()
    # Resumed without a new sign-in, the job needs the user again: news again.
    job.set_stage(StageUpdate(job_id, Stage.ADD_VIDEOS))
    job.set_stage(pause_for_sign_in(job_id))
    job.set_stage(StageUpdate(job_id, Stage.FAILED, message="unknown channel 'x'"))
    job.set_stage(StageUpdate(job_id, Stage.FAILED, message="unknown channel 'x'"))
    assert events(inst, job_id) == ["auth_required:1", "auth_required:2", "failed"]
    with inst.sessions() as session:
        row = session.scalars(select(Notification).where(Notification.event == "failed")).one()
    assert "unknown channel 'x'" in row.body and f"job {job_id}" in row.title


def test_without_notifications_nothing_is_recorded(tmp_path: Path, database_url: str) -> None:
    inst = install(tmp_path, database_url, wall_clock, videos=40, playlists=3, seed=3)
    job_id = create_job(inst.settings, inst.sessions, wall_clock()).id
    job = step(inst, inst.settings, job_id, Hooks())
    job.set_stage(pause_for_sign_in(job_id))
    assert events(inst, job_id) == []


def test_two_senders_deliver_a_message_once(tmp_path: Path, database_url: str) -> None:
    with webhook() as hook:
        inst, settings, job_id = small_job(tmp_path, database_url, hook.url)
        step(inst, settings, job_id, Hooks()).set_stage(pause_for_sign_in(job_id))
        channels = Channels.single(settings, inst.sessions)
        channels.get(None)
        senders = [Sender(channels) for _ in range(4)]
        threads = [threading.Thread(target=sender.deliver_due) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(hook.delivered()) == 1
        (message,) = hook.delivered()
        assert "sign in again" in message["title"]
        assert "revoked or has expired" in message["message"]
        # Every sender sees it sent: a later scan sends nothing.
        senders[0].deliver_due()
        assert hook.seen() == 1
        with inst.sessions() as session:
            row = session.scalars(select(Notification)).one()
            assert (row.status, row.attempts) == (outbox.SENT, 1)


def test_a_notifier_that_is_down_is_tried_a_few_times_then_given_up(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with webhook("down") as hook:
        inst, settings, job_id = small_job(tmp_path, database_url, hook.url)
        step(inst, settings, job_id, Hooks()).set_stage(pause_for_sign_in(job_id))
        sender = Sender(Channels.single(settings, inst.sessions), backoff=NO_WAIT)
        sender._channels.get(None)

        def status() -> str:
            with inst.sessions() as session:
                return session.scalars(select(Notification.status)).one()

        with caplog.at_level(logging.INFO, logger="ytsync.notify"):
            for _ in range(10):
                sender.deliver_due()
                if status() == outbox.FAILED:
                    break
        assert status() == outbox.FAILED
        # Three tries (the first and one per wait), then given up: no more.
        assert hook.seen() == 3
        sender.deliver_due()
        assert hook.seen() == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not sent after 3 tries, given up" in line for line in warnings), warnings
    assert f"{hook.port}" not in " ".join(r.getMessage() for r in caplog.records)


def test_notification_urls_are_masked_and_checked_without_showing_them() -> None:
    token = "x0AbCdEfGhIjKlMnOpQrStUv"
    url = f"discord://1234567890/{token} ntfy://alice:s3cr3t-pass@ntfy.example.com/topic"
    settings = Settings(notify=SecretStr(url))
    assert token not in repr(settings) and "s3cr3t" not in str(settings.model_dump())
    leaked = f"POST to https://discord.com/api/webhooks/1234567890/{token} failed; auth s3cr3t-pass"
    assert token not in mask(leaked) and "s3cr3t-pass" not in mask(leaked)
    with pytest.raises(Exception) as refused:
        Notifier(f"json://127.0.0.1:1/ nosuchservice://{token}")
    assert "URL 2 (nosuchservice://...)" in str(refused.value)
    assert token not in str(refused.value)


def test_a_sign_in_ending_within_a_week_is_told_once(tmp_path: Path, database_url: str) -> None:
    inst, settings, job_id = small_job(tmp_path, database_url, "json://127.0.0.1:9/")
    token = json.loads(settings.token_file.read_text())
    job = step(inst, settings, job_id, Hooks())
    job.set_stage(StageUpdate(job_id, Stage.CREATE_PLAYLISTS))
    assert events(inst, job_id) == [], "a sign-in Google gave no end to is never warned of"
    ends = wall_clock() + timedelta(days=8)
    settings.token_file.write_text(json.dumps(token | {EXPIRY_FIELD: ends.isoformat()}))
    job.set_stage(StageUpdate(job_id, Stage.ADD_VIDEOS))
    assert events(inst, job_id) == [], "more than a week away"
    ends = wall_clock() + timedelta(days=6)
    settings.token_file.write_text(json.dumps(token | {EXPIRY_FIELD: ends.isoformat()}))
    job.set_stage(StageUpdate(job_id, Stage.PAUSED, Stage.ADD_VIDEOS, PauseReason.QUOTA))
    job.set_stage(StageUpdate(job_id, Stage.ADD_VIDEOS))
    (event,) = events(inst, job_id)
    assert event == f"token_expiry:{ends.isoformat(timespec='minutes')}"
    with inst.sessions() as session:
        body = session.scalars(select(Notification.body)).one()
    assert "Testing" in body and "ytsync auth" in body
