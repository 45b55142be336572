"""Connecting to Temporal, and how a job's workflow is named and started."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from ytsync.config import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace, runtime=runtime
        )
    except RuntimeError as exc:
        raise ConnectionError(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {exc}. Start it with "
            "'python starter.py dev-server' or set YTSYNC_TEMPORAL_ADDRESS"
        ) from None
