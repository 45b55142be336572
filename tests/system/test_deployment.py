"""docker-compose.yml and its setup jobs: the layout of temporalio/samples-server's
compose/ (plain server image, one-shot admin-tools jobs), every service pinned, checked
and wired in order.  No Docker engine runs here, so the wiring is read from the file;
the setup job's script runs for real against a Temporal dev server with the same
``temporal`` CLI."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from tests.support.harness import BIN, ROOT
from ytsync.devserver import running_dev_server
from ytsync.search_attributes import ALL, type_name

NAMESPACE = "ytsync"
# What ytsync's workflows upsert (issue 14): name -> type.
SEARCH_ATTRIBUTES = {
    "YtsyncStage": "Keyword",
    "YtsyncChannel": "Keyword",
    "YtsyncProgress": "Int",
    "YtsyncResumeAt": "Datetime",
}
SERVICES = {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "worker"}
ONE_SHOT = {"temporal-schema", "temporal-setup"}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def script_of(service: dict[str, Any]) -> str:
    """The text of the deploy/ script a one-shot job runs (mounted at /deploy)."""
    assert "./deploy:/deploy:ro" in service["volumes"]
    (command,) = service["command"]
    command = str(command)
    assert command.startswith("/deploy/")
    return (ROOT / "deploy" / command.removeprefix("/deploy/")).read_text()


def test_services_follow_the_maintained_layout() -> None:
    found = services()
    assert set(found) == SERVICES
    assert found["temporal"]["image"].startswith("temporalio/server:")
    for job in ONE_SHOT:
        assert found[job]["image"].startswith("temporalio/admin-tools:")
    assert found["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert not any("auto-setup" in s.get("image", "") for s in found.values())


def test_images_are_pinned() -> None:
    for name, service in services().items():
        if name == "worker":
            assert service["build"] == "."
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+", image), f"{name}: {image} is not pinned"
    # Server and admin tools of one release.
    found = services()
    assert (
        found["temporal"]["image"].split(":")[1] == found["temporal-setup"]["image"].split(":")[1]
    )


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        if name in ONE_SHOT:
            assert service["restart"].startswith("on-failure"), name
            continue
        assert service["healthcheck"]["test"], f"{name} has no healthcheck"


def test_services_start_in_order() -> None:
    found = services()

    def waits_for(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in found[name]["depends_on"].items()}

    assert waits_for("temporal-schema") == {"postgresql": "service_healthy"}
    assert waits_for("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert waits_for("temporal-setup") == {"temporal": "service_healthy"}
    assert waits_for("temporal-ui") == {"temporal": "service_healthy"}
    assert waits_for("worker") == {
        "postgresql": "service_healthy",
        "temporal-setup": "service_completed_successfully",
    }


def test_the_schema_job_sets_up_both_databases() -> None:
    found = services()
    job = found["temporal-schema"]
    script = script_of(job)
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert f"sql {step}" in script
    assert "for db in temporal temporal_visibility" in script
    assert "--plugin postgres12" in script
    # The job and the server look for the same database.
    for key in ("DB", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD"):
        assert job["environment"][key] == found["temporal"]["environment"][key]
    assert job["environment"]["SQL_PASSWORD"] == job["environment"]["POSTGRES_PWD"]
    assert found["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgresql"


def test_the_workflow_sets_the_attributes_the_setup_job_registers() -> None:
    assert {key.name: type_name(key) for key in ALL} == SEARCH_ATTRIBUTES


def test_the_setup_job_names_the_namespace_and_every_search_attribute() -> None:
    found = services()
    job = found["temporal-setup"]
    assert job["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert job["environment"]["YTSYNC_NAMESPACE"] == NAMESPACE
    script = script_of(job)
    assert "namespace create --namespace" in script
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"{name}:{kind}" in script
    # The worker and the Web UI use the namespace the job creates.
    assert found["worker"]["environment"]["YTSYNC_TEMPORAL_NAMESPACE"] == NAMESPACE
    assert found["temporal-ui"]["environment"]["TEMPORAL_DEFAULT_NAMESPACE"] == NAMESPACE
    dynamic = found["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert (ROOT / "deploy" / "dynamicconfig" / Path(dynamic).name).is_file()


def test_worker_reaches_temporal_and_postgres_by_service_name() -> None:
    found = services()
    env = found["worker"]["environment"]
    assert env["YTSYNC_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "@postgresql:5432/" in env["YTSYNC_DATABASE_URL"]
    assert env["YTSYNC_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert found["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["YTSYNC_TOKEN_FILE"] == "/secrets/token.json"
    assert env["YTSYNC_LOG_FORMAT"] == "json"
    metrics_port = env["YTSYNC_METRICS_ADDRESS"].rsplit(":", 1)[1]
    assert f"127.0.0.1:{metrics_port}:{metrics_port}" in found["worker"]["ports"]
    assert f":{metrics_port}/metrics" in " ".join(found["worker"]["healthcheck"]["test"])


def test_published_ports_bind_to_loopback_only() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the world"


def test_dockerfile_runs_the_worker_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["ytsync-worker"]' in dockerfile
    assert "USER ytsync" in dockerfile


def test_the_worker_has_time_to_hand_its_lanes_over_when_stopped() -> None:
    """`docker compose stop` sends SIGTERM, then SIGKILL after the grace period: long
    enough for a write in flight (the request timeout, 60 s by default)."""
    worker = services()["worker"]
    grace = worker["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) > 60
    assert "YTSYNC_NOTIFY" in worker["environment"]


def test_pip_install_gives_the_commands(tmp_path: Path) -> None:
    """What `pip install .` (and `pipx install .`) leaves in a fresh venv: the `ytsync`
    and `ytsync-worker` commands, running the installed copy.  The wheel is built from
    the files the Dockerfile copies; ytsync's dependencies come from this test's venv
    (a .pth file), so nothing is downloaded (PIP_NO_INDEX)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("ytsync", "workflows", "activities"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "YTSYNC_"))}
    environ |= {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(a) for a in argv],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
        return done

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-cache-dir", "-w", tmp_path / "dist", source)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("ytsync-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    fresh = venv / "bin" / "python"
    site = run(fresh, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout
    (Path(site.strip()) / "ytsync-test-dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n"
    )
    run(fresh, "-m", "pip", "install", "--no-cache-dir", wheel)

    usage = run(venv / "bin" / "ytsync", "--help").stdout
    assert usage.startswith("usage: ytsync ")
    for command in ("import", "start", "status", "notify"):
        assert command in usage
    worker = run(venv / "bin" / "ytsync-worker", "--help").stdout
    assert worker.startswith("usage: ytsync-worker")
    where = run(fresh, "-c", "import ytsync; print(ytsync.__file__)").stdout
    assert Path(where.strip()).is_relative_to(venv), where


def test_the_worker_image_and_the_wheel_leave_out_the_emulator_and_the_demo() -> None:
    """The emulator and the demo are the second distribution (sandbox/): the image copies
    only the product, and the main wheel's packages are the product's alone."""
    from setuptools import find_namespace_packages

    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copied and not [c for c in copied if "sandbox" in c or c == "."], copied
    assert "./sandbox" not in dockerfile
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_namespace_packages(str(ROOT), include=found["packages"]["find"]["include"])
    assert {"ytsync", "ytsync.cli", "workflows", "activities"} <= set(packages)
    outside = [p for p in packages if p.split(".")[0] not in {"ytsync", "workflows", "activities"}]
    assert not outside, outside
    assert not [p for p in packages if "emulator" in p or "sandbox" in p], packages
    assert not (ROOT / "ytsync" / "demo.py").exists()


def test_the_setup_script_sets_up_a_real_server_and_can_run_again(tmp_path: Path) -> None:
    """deploy/temporal-setup.sh with the `temporal` CLI against a dev server: the
    namespace and every search attribute with its type; a second run changes nothing."""

    async def run() -> tuple[dict[str, int], timedelta, list[str]]:
        async with running_dev_server(db_file=tmp_path / "temporal.db", headless=True) as server:
            env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
            env |= {"TEMPORAL_ADDRESS": server.address, "PATH": f"{BIN}:{env['PATH']}"}
            outputs = []
            for _ in range(2):
                done = await asyncio.to_thread(
                    subprocess.run,
                    ["sh", str(ROOT / "deploy" / "temporal-setup.sh")],
                    env=env | {"YTSYNC_SETUP_ATTEMPTS": "30"},
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, done.stderr
                outputs.append(done.stdout)
            client = await Client.connect(server.address)
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=NAMESPACE)
            )
            described = await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=NAMESPACE)
            )
            retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
            return dict(listed.custom_attributes), retention, outputs

    attributes, retention, outputs = asyncio.run(run())
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert attributes.get(name) == IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
    assert retention == timedelta(days=30)
    first, second = outputs
    assert "successfully registered" in first
    assert "registered" not in second and "added" not in second
