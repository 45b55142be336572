"""Waiting for a condition the system reaches by itself, never for time to pass."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str, limit: float = 60, step: float = 0.05
) -> None:
    """Poll ``check`` (plain or async) until it holds; fail naming ``what`` after
    ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        answer = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(step)
