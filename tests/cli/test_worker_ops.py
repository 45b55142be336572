"""The worker in operation: Prometheus metrics, structured logs, secrets masked."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.request

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import TEST_SERVER
from ytsync.cli.worker import make_runtime
from ytsync.logs import JsonFormatter, MaskSecrets, mask


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_are_served_for_prometheus() -> None:
    address = f"127.0.0.1:{free_port()}"

    async def scenario() -> str:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER)
        ) as env:
            runtime = make_runtime(address)
            assert runtime is not None
            target = env.client.service_client.config.target_host
            client = await Client.connect(target, runtime=runtime)
            await client.service_client.check_health()
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
                return str(answer.read().decode())

    text = asyncio.run(scenario())
    assert "temporal_request" in text
    assert make_runtime(None) is None


@pytest.mark.parametrize(
    ("raw", "leaked"),
    [
        ("connecting to postgresql+psycopg://ytsync:s3cret@db:5432/ytsync", "s3cret"),
        ("Authorization: Bearer ya29.a0AfH6SMBx-secret", "a0AfH6SMBx-secret"),
        ('{"refresh_token": "1//0gLongRefresh", "client_secret": "GOCSPX-abc"}', "0gLongRefresh"),
        ("client secret GOCSPX-abcdef123", "abcdef123"),
    ],
)
def test_secrets_are_masked_in_log_lines(raw: str, leaked: str) -> None:
    assert leaked not in mask(raw)


def test_json_log_lines_carry_masked_messages() -> None:
    record = logging.LogRecord(
        "ytsync", logging.WARNING, __file__, 1, "db %s failed", ("postgresql://u:pw@h/d",), None
    )
    assert MaskSecrets().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning"
    assert line["message"] == "db postgresql://u:***@h/d failed"
