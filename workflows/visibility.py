"""The job's search attributes: what the Web UI's workflow list can filter on.

Only the attributes the namespace has are set (see activities.visibility), and each
only when its value changes, so that a job's history gains a handful of upsert events
per run, not one per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from ytsync.search_attributes import ALL, CHANNEL, PROGRESS, RESUME_AT, STAGE


class SearchAttributes:
    def __init__(self, usable: Iterable[str]) -> None:
        self._usable = frozenset(usable)
        # A continued run starts with the attributes of the run before (Temporal copies
        # them): what it already shows needs no upsert.
        current = workflow.info().typed_search_attributes
        self._shown: dict[str, Any] = {key.name: current.get(key) for key in ALL}

    def publish(
        self,
        *,
        stage: str,
        channel: str | None,
        done: int,
        total: int,
        resume_at: datetime | None,
    ) -> None:
        wanted: list[tuple[SearchAttributeKey[Any], Any]] = [
            (STAGE, stage),
            (CHANNEL, channel),
            (PROGRESS, 100 * done // total if total else 0),
            (RESUME_AT, resume_at),
        ]
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in wanted:
            if key.name not in self._usable or self._shown.get(key.name) == value:
                continue
            updates.append(key.value_unset() if value is None else key.value_set(value))
            self._shown[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
