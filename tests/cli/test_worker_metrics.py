"""ytsync's own metrics on the worker's Prometheus endpoint: after a sync, each of them
is there, labelled by channel, with the values `status` shows; and the Grafana
dashboard in deploy/ names only metrics that exist."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.metrics import TemporalMetrics
from tests.support.harness import ROOT, start
from tests.support.jobs import time_skipping
from ytsync import metrics as m
from ytsync.cli.worker import build_service, make_runtime
from ytsync.db.models import SyncJob
from ytsync.devserver import free_ports
from ytsync.status import job_status
from ytsync.wire import Stage

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"


def scrape(address: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint: (name, labels) -> value."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **want: str
) -> float:
    found = [
        v for (n, labels), v in samples.items() if n == name and set(want.items()) <= set(labels)
    ]
    assert len(found) == 1, f"{name} {want}: {found}"
    return found[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_after_a_sync_match_status(tmp_path: Path, database_url: str) -> None:
    address = f"127.0.0.1:{free_ports(1)[0]}"

    async def scenario() -> tuple[dict[str, Any], Any, int]:
        async with time_skipping(
            tmp_path, database_url, videos=200, playlists=5, seed=11, daily_quota=6_000
        ) as (env, inst, clock):
            # A lost answer: the audit finds the write applied once settled.
            inst.state.faults.add(method="playlistItems.insert", kind="lose_response", count=2)
            runtime = make_runtime(address)
            assert runtime is not None
            target = env.client.service_client.config.target_host
            client = await Client.connect(target, runtime=runtime)
            service = build_service(
                client, inst.settings, clock=clock, metrics=TemporalMetrics(runtime.metric_meter)
            )
            async with service:
                started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
                assert service.pulse is not None
                await asyncio.to_thread(service.pulse.beat)
                with inst.sessions() as session:
                    job = session.get_one(SyncJob, started.job_id)
                    now = await env.get_current_time()
                    status = job_status(session, job, inst.settings, now).model_dump(mode="json")
                samples = await asyncio.to_thread(scrape, address)
                # A request refused with 401 is sent again by google-auth once the access
                # token is refreshed: one write to ytsync, two requests to YouTube.
                sent = sum(
                    1
                    for r in inst.state.requests()
                    if r.method.endswith((".insert", ".delete", ".update")) and r.status != 401
                )
            return status, samples, sent

    status, samples, sent = asyncio.run(scenario())
    channel = "default"
    audit = status["audit"]
    assert value(samples, "ytsync_job_quota_used", channel=channel) == status["quota_used"]
    confirmed = sum(r["succeeded"] for s, r in status["stage_results"].items() if s != "backup")
    assert confirmed > 100
    assert value(samples, "ytsync_writes_confirmed", channel=channel) == confirmed
    assert value(samples, "ytsync_writes_sent_again", channel=channel) == audit["sent_again"]
    assert (
        value(samples, "ytsync_duplicates_removed", channel=channel) == audit["duplicates_removed"]
    )
    assert value(samples, "ytsync_audits", channel=channel) == audit["checks"] > 0
    assert value(samples, "ytsync_audits_clean", channel=channel) == audit["clean"]
    assert value(samples, "ytsync_audit_rounds", channel=channel) == audit["rounds"] > 0
    assert value(samples, "ytsync_playlists_held_back", channel=channel) == len(status["held_back"])
    assert value(samples, "ytsync_jobs", channel=channel, stage=Stage.COMPLETED) == 1
    assert value(samples, "ytsync_jobs", channel=channel, stage=Stage.ADD_VIDEOS) == 0
    # The pulse read the reset from the worker's wall clock, the test from the server's.
    assert value(samples, "ytsync_quota_reset_seconds", channel=channel) > 0
    # What this worker sent: every write the emulator saw (lost answers included), and
    # every unit the job paid for.  A lost answer found applied is never sent again, so
    # the sends may equal the confirmed writes; a "not yet" 404 adds sends.
    writes = value(samples, "ytsync_writes_sent_total", channel=channel)
    assert writes == sent >= confirmed
    units = value(samples, "ytsync_quota_units_total", channel=channel, kind="write") + value(
        samples, "ytsync_quota_units_total", channel=channel, kind="read"
    )
    assert value(samples, "ytsync_quota_units_total", channel=channel, kind="write") == 50 * writes
    assert units == status["quota_used"]
    for metric in m.ALL:
        assert any(name == metric.name for name, _labels in samples), metric.name


def dashboard_expressions() -> list[str]:
    data = json.loads(DASHBOARD.read_text())
    found = []
    for panel in data["panels"]:
        for target in panel.get("targets", []):
            found.append(str(target["expr"]))
    return found


def test_the_grafana_dashboard_names_only_metrics_that_exist() -> None:
    exprs = dashboard_expressions()
    assert exprs
    names = {metric.name for metric in m.ALL}
    used = set()
    for expr in exprs:
        words = re.findall(r"\b([a-z_]+_[a-z_]+)\s*(?:\{|\[|\))", expr)
        assert words, expr
        for word in words:
            assert word in names, f"{word} in {expr!r} is no ytsync metric"
            used.add(word)
    # Every ytsync metric has a panel.
    assert names <= used, names - used
    data = json.loads(DASHBOARD.read_text())
    assert {v["name"] for v in data["templating"]["list"]} >= {"datasource", "channel"}
