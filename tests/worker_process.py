"""A ytsync worker in its own process, on the time-skipping server's clock.

Tests SIGKILL it mid-batch, the way a machine dies, then start another.  Settings come
from the YTSYNC_* environment like the real worker; the server address from argv, and
optionally how many workflows to cache (default 0, see below; ``bench/scale.py`` caches).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from google.protobuf.empty_pb2 import Empty
from temporalio.client import Client

from worker import build_worker
from ytsync.config import load_settings


async def main(target: str, cached_workflows: int = 0) -> None:
    client = await Client.connect(target)
    loop = asyncio.get_running_loop()

    def clock() -> datetime:
        future = asyncio.run_coroutine_threadsafe(
            client.test_service.get_current_time(Empty()), loop
        )
        return future.result(timeout=30).time.ToDatetime(tzinfo=UTC)

    # No sticky queue by default: the time-skipping test server never hands a dead
    # worker's sticky workflow task back to the normal queue, so a killed worker would
    # strand the job.
    async with build_worker(
        client, load_settings(), clock=clock, max_cached_workflows=cached_workflows
    ):
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], *(int(arg) for arg in sys.argv[2:3])))
