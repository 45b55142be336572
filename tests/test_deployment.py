"""docker-compose.yml: every service the README names is there and wired together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_are_all_there() -> None:
    assert set(compose()["services"]) == {"postgresql", "temporal", "temporal-ui", "worker"}


def test_worker_reaches_temporal_and_postgres_by_service_name() -> None:
    services = compose()["services"]
    env = services["worker"]["environment"]
    assert env["YTSYNC_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "@postgresql:5432/" in env["YTSYNC_DATABASE_URL"]
    assert env["YTSYNC_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert {"postgresql", "temporal"} <= set(services["worker"]["depends_on"])
    assert env["YTSYNC_LOG_FORMAT"] == "json"
    metrics_port = env["YTSYNC_METRICS_ADDRESS"].rsplit(":", 1)[1]
    assert f"127.0.0.1:{metrics_port}:{metrics_port}" in services["worker"]["ports"]


def test_published_ports_bind_to_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the world"


def test_dockerfile_runs_the_worker_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "worker.py"]' in dockerfile
    assert "USER ytsync" in dockerfile
