"""``notify test``: send a test message to the services of ``YTSYNC_NOTIFY`` (or of the
channel's ``notify`` in the channels file), as the worker would send a job's."""

from __future__ import annotations

import argparse
import socket

from ytsync.cli.context import Context
from ytsync.errors import UserError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = commands.add_parser("notify", help="notifications (YTSYNC_NOTIFY, Apprise URLs)")
    actions = notify.add_subparsers(dest="notify_command", required=True, metavar="COMMAND")
    test = actions.add_parser(
        "test", help="send a test message to every notification service configured"
    )
    test.add_argument("--json", action="store_true", help="print the outcome as JSON")
    test.set_defaults(handler=run_test)


def run_test(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.notify.service import Notifier

    settings = ctx.settings
    if settings.notify is None:
        raise UserError(
            "YTSYNC_NOTIFY is not set: give it one or more Apprise URLs "
            "(e.g. ntfy://ntfy.sh/TOPIC, mailto://USER:PASSWORD@example.com)"
        )
    notifier = Notifier(settings.notify.get_secret_value())
    sent = notifier.send(
        "ytsync: test message",
        f"A test message from ytsync on {socket.gethostname()} (channel {settings.channel}): "
        "jobs will tell you here when they need you, fail, hold playlists back or complete.",
    )
    services = ", ".join(notifier.schemes)
    if args.json:
        ctx.print_json({"sent": sent.ok, "services": notifier.schemes, "problems": sent.problems})
    elif sent.ok:
        ctx.out.print(
            f"Sent a test message to {len(notifier.schemes)} service(s): {services}.",
            markup=False,
            soft_wrap=True,
        )
    else:
        why = "; ".join(sent.problems) or "no service accepted it"
        ctx.err.print(
            f"error: the test message did not go through ({services}): {why}",
            markup=False,
            soft_wrap=True,
        )
    return 0 if sent.ok else 1
