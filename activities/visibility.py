"""Does the namespace have ytsync's search attributes?  Asked once per workflow run.

A workflow that upserts an attribute its namespace does not have fails its workflow
task, and Temporal retries that task for ever: the job would be wedged.  So the
workflow asks this activity first (the answer lands in history, which keeps replay
deterministic) and sets only what the namespace has.  A namespace without them still
runs every job; the worker says so once in its log, with the way out its face names.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ytsync.search_attributes import usable
from ytsync.wire import Activity

log = logging.getLogger("ytsync.worker")

Lister = Callable[[], Awaitable[Mapping[str, int]]]
# Answers that will not change by asking again: the server cannot list them (an old
# or test server), or this client may not (a key without the operator role).
_FINAL = (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.NOT_FOUND)


class SearchAttributeCheck:
    """The activity, with the worker's own client; ``lister`` replaces the server's
    list (the time-skipping test server registers attributes but cannot list them);
    ``way_out`` ends the warning about missing ones (how to register them)."""

    def __init__(self, client: Client, lister: Lister | None = None, way_out: str = "") -> None:
        self._client = client
        self._lister = lister or self._list
        self._way_out = way_out
        self._warned = False

    async def _list(self) -> Mapping[str, int]:
        response = await self._client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=self._client.namespace)
        )
        return dict(response.custom_attributes)

    @activity.defn(name=Activity.USABLE_SEARCH_ATTRIBUTES.name)
    async def usable_search_attributes(self) -> list[str]:
        """The names of ytsync's attributes the namespace has, with the right type."""
        namespace = self._client.namespace
        try:
            registered = await self._lister()
        except RPCError as exc:
            if exc.status not in _FINAL:
                raise  # a passing outage: Temporal asks again
            self._warn_once(
                f"cannot list the search attributes of namespace {namespace} "
                f"({exc.status.name}: {exc.message}): ytsync jobs run without them, and "
                "the Web UI cannot filter them"
            )
            return []
        found, missing = usable(registered)
        if missing:
            self._warn_once(
                f"search attributes not registered in namespace {namespace} "
                f"({', '.join(missing)}): the Web UI cannot filter ytsync jobs"
                + (f"; {self._way_out}" if self._way_out else "")
            )
        return found

    def _warn_once(self, message: str) -> None:
        # Once per worker, not once per job run: a namespace without them is a fact
        # of the deployment, and the log should say it, not repeat it.  (An async
        # activity: every call runs on the worker's event loop, one at a time.)
        if self._warned:
            return
        self._warned = True
        log.warning(message)
