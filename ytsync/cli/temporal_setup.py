"""``temporal setup``: register ytsync's search attributes in the configured namespace.

The dev server and the demo register them at start, and the compose file's setup job
does (deploy/temporal-setup.sh); this is the step for any other cluster.  Without it
every job still runs, but the Web UI cannot filter jobs by stage or channel.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ytsync.cli.context import Context

if TYPE_CHECKING:
    # Loaded when the command runs: every other command would pay for the client.
    from temporalio.client import Client
    from temporalio.service import RPCError


class SetupRefused(Exception):
    """The namespace cannot take the attributes as ytsync needs them (exit code 1)."""


@dataclass
class SetupResult:
    namespace: str
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    temporal = commands.add_parser("temporal", help="prepare a Temporal namespace for ytsync")
    actions = temporal.add_subparsers(
        dest="temporal_command", required=True, metavar="COMMAND", parser_class=_SetupParser
    )
    setup = actions.add_parser(
        "setup", help="register ytsync's search attributes in the namespace (safe to run again)"
    )
    setup.set_defaults(handler=run_setup)


class _SetupParser(argparse.ArgumentParser):
    """Names the attributes only when asked for help: the list loads temporalio, which
    every other command would pay for at start."""

    def format_help(self) -> str:
        self.description = (
            f"Registers {_wanted()} in the namespace ytsync connects to, so the Web UI can "
            "list jobs by stage, channel, progress or resume time. What is registered "
            "already is left as it is."
        )
        return super().format_help()


def _wanted() -> str:
    from ytsync.search_attributes import ALL, type_name

    return ", ".join(f"{key.name} ({type_name(key)})" for key in ALL)


def run_setup(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.temporal import connect

    async def go() -> SetupResult:
        return await register_search_attributes(await connect(ctx.settings))

    try:
        result = asyncio.run(go())
    except SetupRefused as exc:
        ctx.err.print(f"error: {exc}", markup=False)
        return 1
    if result.added:
        ctx.out.print(
            f"Registered {', '.join(result.added)} in namespace {result.namespace}.", markup=False
        )
    if result.present:
        ctx.out.print(
            f"Already registered in namespace {result.namespace}: {', '.join(result.present)}.",
            markup=False,
        )
    return 0


async def register_search_attributes(client: Client) -> SetupResult:
    """Add the attributes the namespace lacks; SetupRefused when it has one of another
    type, or refuses to list or add them."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from ytsync.search_attributes import ALL, type_name

    namespace = client.namespace
    result = SetupResult(namespace)
    registered = await _listed(client)
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key in ALL:
        have = registered.get(key.name)
        if have is None:
            missing[key.name] = IndexedValueType.ValueType(int(key.indexed_value_type))
        elif have == int(key.indexed_value_type):
            result.present.append(key.name)
        else:
            other = (
                IndexedValueType.Name(IndexedValueType.ValueType(have))
                .removeprefix("INDEXED_VALUE_TYPE_")
                .title()
            )
            raise SetupRefused(
                f"namespace {namespace} has {key.name} as {other}, and ytsync sets it as "
                f"{type_name(key)}: remove it (temporal operator search-attribute remove "
                f"--name {key.name}) and run this again"
            )
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            # Someone else added them meanwhile: what was wanted is there.
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise SetupRefused(_refusal(namespace, "add", exc)) from None
        result.added = list(missing)
    return result


async def _listed(client: Client) -> Mapping[str, int]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.service import RPCError

    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as exc:
        raise SetupRefused(_refusal(client.namespace, "list", exc)) from None
    return dict(response.custom_attributes)


def _refusal(namespace: str, verb: str, exc: RPCError) -> str:
    return (
        f"Temporal would not {verb} the search attributes of namespace {namespace} "
        f"({exc.status.name}: {exc.message}). Register them with an account that may "
        f"(on Temporal Cloud: the Cloud UI or tcld): {_wanted()}"
    )
