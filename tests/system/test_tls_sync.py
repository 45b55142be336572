"""A real sync over TLS: ``worker.py`` and ``starter.py`` reach a Temporal dev server
only through a TLS-terminating proxy on loopback (tests/support/tls_proxy.py), configured the
way a Temporal Cloud or mTLS cluster user configures them: TEMPORAL_* variables, or a
profile of a Temporal config file.  No secret of that configuration may show in the
worker's log, the CLI's output or the workflow history."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from temporalio.client import Client

from tests.support.faultkit import wall_clock
from tests.support.harness import ROOT, Installation, install
from tests.support.tls_proxy import TLSProxy, tls_proxy
from workflows.sync import SyncWorkflow
from ytsync.devserver import running_dev_server
from ytsync_sandbox.invariants import RunFacts, check_fault_run

API_KEY = "ytsync-tls-test-api-key-8d2e"
SYNC_LIMIT = 120.0


@dataclass(frozen=True)
class Secrets:
    folder: Path
    ca: trustme.CA

    def pem(self, name: str, text: bytes) -> str:
        path = self.folder / name
        path.write_bytes(text)
        return str(path)

    def client(self, name: str) -> tuple[str, str, str]:
        """(certificate path, key path, a line of the key that must never show)."""
        issued = self.ca.issue_cert(name)
        key = issued.private_key_pem.bytes()
        return (
            self.pem(f"{name}.pem", issued.cert_chain_pems[0].bytes()),
            self.pem(f"{name}-key.pem", key),
            key.decode().splitlines()[1],
        )


@dataclass(frozen=True)
class Setup:
    """The Temporal configuration of the worker and of the CLI, and what must stay
    secret."""

    address: str
    worker: dict[str, str]
    cli: dict[str, str]
    secrets: tuple[str, ...]
    client_names: tuple[str, ...] = ()


def server_tls_with_api_key(secrets: Secrets, proxy: TLSProxy) -> Setup:
    """Temporal Cloud's shape: TLS that trusts a CA given as data, a server name that
    differs from the address, an API key; all from TEMPORAL_* variables."""
    env = {
        "TEMPORAL_ADDRESS": proxy.address,
        "TEMPORAL_TLS_SERVER_NAME": "temporal.test",
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA": secrets.ca.cert_pem.bytes().decode(),
        "TEMPORAL_API_KEY": API_KEY,
    }
    return Setup(proxy.address, worker=env, cli=env, secrets=(API_KEY,))


def mtls_profile(secrets: Secrets, proxy: TLSProxy) -> Setup:
    """A self-hosted cluster's shape: mTLS from a config profile with file paths; the
    CLI's own certificate comes from variables, which beat the profile."""
    ca = secrets.pem("ca.pem", secrets.ca.cert_pem.bytes())
    worker_cert, worker_key, worker_secret = secrets.client("ytsync-worker")
    cli_cert, cli_key, cli_secret = secrets.client("ytsync-cli")
    config = secrets.folder / "temporal.toml"
    address = f"localhost:{proxy.port}"
    config.write_text(
        f'[profile.cluster]\naddress = "{address}"\nnamespace = "default"\n'
        f'[profile.cluster.tls]\nserver_ca_cert_path = "{ca}"\n'
        f'client_cert_path = "{worker_cert}"\nclient_key_path = "{worker_key}"\n'
    )
    profile = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "cluster"}
    cli = profile | {
        "TEMPORAL_TLS_CLIENT_CERT_PATH": cli_cert,
        "TEMPORAL_TLS_CLIENT_KEY_PATH": cli_key,
    }
    return Setup(
        address,
        worker=profile,
        cli=cli,
        secrets=(worker_secret, cli_secret),
        client_names=("ytsync-worker", "ytsync-cli"),
    )


CASES: dict[str, tuple[Callable[[Secrets, TLSProxy], Setup], bool, tuple[str, ...]]] = {
    # case: (configuration, proxy demands a client certificate, names on its certificate)
    "server_tls_custom_ca_api_key": (server_tls_with_api_key, False, ("temporal.test",)),
    "mtls_config_profile": (mtls_profile, True, ("localhost", "127.0.0.1")),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_cli_and_worker_sync_through_tls(case: str, tmp_path: Path) -> None:
    inst = install(
        tmp_path,
        f"sqlite:///{tmp_path / 'ytsync.db'}",
        wall_clock,
        videos=30,
        playlists=3,
        # YouTube's 404 for inserts right after a playlist's creation costs a 5 s retry
        # (tests/ytsync/youtube/test_youtube_answers.py is about it); this test is about TLS.
        not_found_after_create_seconds=0.0,
    )
    try:
        asyncio.run(run_case(case, inst, tmp_path))
    finally:
        inst.server.stop()


async def run_case(case: str, inst: Installation, tmp: Path) -> None:
    configure, mutual, server_names = CASES[case]
    secrets_dir = tmp / "secrets"
    secrets_dir.mkdir()
    secrets = Secrets(secrets_dir, trustme.CA())
    system_lists = {
        pid: inst.state.playlist_items(pid) for pid in ("WL", "LL", inst.state.uploads_id)
    }
    async with running_dev_server(
        db_file=tmp / "temporal.db", headless=True, log_file=tmp / "temporal.log"
    ) as server:
        host, port = server.address.rsplit(":", 1)
        with tls_proxy(
            (host, int(port)), secrets.ca, server_names, require_client_cert=mutual
        ) as proxy:
            setup = configure(secrets, proxy)
            worker_log = tmp / "worker.log"
            worker = spawn_worker(environ(inst, setup.worker), worker_log)
            try:
                started = await cli(inst, setup, "start", "--yes", "--json")
                job = json.loads(started)
                # Awaited on the dev server itself, not through the proxy.
                plain = await Client.connect(server.address)
                handle = plain.get_workflow_handle_for(SyncWorkflow.run, job["workflow_id"])
                result = await asyncio.wait_for(handle.result(), SYNC_LIMIT)
                status = json.loads(await cli(inst, setup, "status", "--json"))
                history = (await handle.fetch_history()).to_json()
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
            assert worker.returncode == 0, worker_log.read_text()
            stats = proxy.stats

    assert status["stage"] == "completed"
    facts = RunFacts(job["job_id"], result.stage, system_lists, burnt={}, lanes=4)
    assert check_fault_run(inst, facts) > 0
    # Both processes went through the proxy, over TLS, each with its own certificate.
    log = worker_log.read_text()
    assert f"at {setup.address} (namespace default, TLS)" in log
    assert stats.handshakes >= 2
    assert set(setup.client_names) <= set(stats.client_names)
    shown = log + started + json.dumps(status) + history
    for secret in setup.secrets:
        assert secret not in shown


def environ(inst: Installation, temporal: dict[str, str]) -> dict[str, str]:
    settings = inst.settings
    base = {k: v for k, v in os.environ.items() if not k.startswith(("YTSYNC_", "TEMPORAL_"))}
    return base | {
        "YTSYNC_DATABASE_URL": settings.database_url,
        "YTSYNC_YOUTUBE_API_ENDPOINT": settings.youtube_api_endpoint,
        "YTSYNC_TOKEN_FILE": str(settings.token_file),
        "YTSYNC_OAUTH_TOKEN_URI": settings.oauth_token_uri,
        "YTSYNC_TASK_QUEUE": settings.task_queue,
        # The installation's settle wait, past the emulator's list lag; without it the
        # worker waits the default 30 s twice (after the creates, before the audits).
        "YTSYNC_SETTLE_SECONDS": str(settings.settle_seconds),
        **temporal,
    }


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def cli(inst: Installation, setup: Setup, *args: str) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "starter.py", *args],
        cwd=ROOT,
        env=environ(inst, setup.cli),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"starter.py {' '.join(args)}: {done.stderr}"
    for secret in setup.secrets:
        assert secret not in done.stderr
    return done.stdout
