"""The custom search attributes ytsync's workflows set, so that the Temporal Web UI (and
``temporal workflow list --query``) can find "every paused job" or "the jobs of bob".

One list for everyone who needs it: the workflow that upserts them, the worker's check
that they are registered, ``starter.py temporal setup``, and the dev server's
``--search-attribute`` flags.  deploy/temporal-setup.sh repeats it for the compose
setup job (tests/system/test_deployment.py checks the two agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("YtsyncStage")
CHANNEL = SearchAttributeKey.for_keyword("YtsyncChannel")
# A whole percent (done * 100 // total): it changes at most 101 times a job, so its
# upserts cost little history; done and total would change with every batch.
PROGRESS = SearchAttributeKey.for_int("YtsyncProgress")
RESUME_AT = SearchAttributeKey.for_datetime("YtsyncResumeAt")
ALL: tuple[SearchAttributeKey[Any], ...] = (STAGE, CHANNEL, PROGRESS, RESUME_AT)

# The type names Temporal's CLI and docs use (`--search-attribute YtsyncStage=Keyword`).
_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}


def type_name(key: SearchAttributeKey[Any]) -> str:
    return _TYPE_NAMES[key.indexed_value_type]


def dev_server_args() -> list[str]:
    """``temporal server start-dev`` flags that register every attribute at start."""
    args: list[str] = []
    for key in ALL:
        args += ["--search-attribute", f"{key.name}={type_name(key)}"]
    return args


def usable(registered: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """Which attributes a namespace has, given its registered custom attributes
    (name -> indexed value type, as Temporal lists them): (usable, missing or of another
    type).  Upserting one that is missing, or a value of the wrong type, fails the
    workflow task."""
    found, missing = [], []
    for key in ALL:
        if registered.get(key.name) == int(key.indexed_value_type):
            found.append(key.name)
        else:
            missing.append(key.name)
    return found, missing
