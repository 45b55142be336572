"""``ytsync ...`` (or ``python starter.py ...``): the command line a user types."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ytsync.cli.context import Context
from ytsync.cli.hints import with_hint
from ytsync.errors import UserError

# Loaded here, not when an error is printed: under a low limit of open files (ulimit
# -n) the error may be just that, and loading a module then fails too.
from ytsync.logs import mask
from ytsync.safetext import visible

if TYPE_CHECKING:
    from ytsync.youtube.errors import ApiFailure

AUTH_HINT = "; sign in again with 'python starter.py auth --client-secrets FILE'"

Handler = Callable[[argparse.Namespace, Context], int]


def build_parser() -> argparse.ArgumentParser:
    from ytsync.cli import (
        auth,
        backups,
        completion,
        demo,
        jobs,
        library,
        notify,
        planning,
        report,
        schedules,
        temporal_setup,
    )

    parser = argparse.ArgumentParser(
        # `ytsync`, or `starter.py` when run as the script.
        prog=os.path.basename(sys.argv[0]) or "ytsync",
        description="Reorganize a YouTube library into category playlists.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        auth,
        library,
        planning,
        jobs,
        schedules,
        report,
        backups,
        notify,
        demo,
        temporal_setup,
        completion,
    ):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("YTSYNC_DEBUG") else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        # Inside the try: a Ctrl-C while the commands import is still a clean exit.
        args = build_parser().parse_args(argv)  # bad usage: argparse exits 2
        handler: Handler = args.handler
        return handler(args, Context())
    except UserError as exc:
        _stderr(f"error: {with_hint(exc)}")
        return 2
    except ConnectionError as exc:
        _stderr(f"error: {with_hint(exc)}")
        return 1
    except KeyboardInterrupt:
        _stderr("interrupted")
        return 130
    except Exception as exc:
        failure = _classified(exc)
        if failure is not None:
            _stderr(f"error: {explain(failure)}")
            return 1
        # Not the user's fault: say what failed in one line; the traceback is for
        # whoever runs with YTSYNC_DEBUG=1.
        logging.getLogger("ytsync").debug("command failed", exc_info=True)
        _stderr(f"error: {describe_failure(exc)}")
        return 1


def _classified(exc: Exception) -> ApiFailure | None:
    try:
        # Here, not at the top: it loads the API client, which most commands never use.
        from ytsync.youtube.errors import classify
    except Exception:  # e.g. no file descriptor left to read the module with
        return None
    return classify(exc)


def describe_failure(exc: BaseException) -> str:
    """One line for a failure nobody foresaw.  A database's error without its
    statement or parameters: they hold library titles."""
    statement_error = getattr(sys.modules.get("sqlalchemy.exc"), "StatementError", None)
    if statement_error is not None and isinstance(exc, statement_error):
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        return f"the database refused: {lines[0] if lines else type(cause).__name__}"
    return f"{type(exc).__name__}: {exc}"


def run() -> None:
    """The ``ytsync`` command."""
    from ytsync.cli.exiting import exit_now

    exit_now(main())


def explain(failure: ApiFailure) -> str:
    """One line that says whose fault a failed call was: YouTube's answer, the network's,
    or this machine's."""
    from ytsync.youtube.errors import Outcome

    if failure.unreadable:
        return failure.describe()
    if failure.outcome is Outcome.LOCAL:
        return f"a problem on this machine, not YouTube's answer: {failure.describe()}"
    if failure.outcome is Outcome.UNKNOWN_RESULT:
        return f"no answer from YouTube (the connection failed): {failure.describe()}"
    if failure.outcome is Outcome.AUTH_REQUIRED:
        return f"YouTube refused the request: {failure.sign_in_problem()}{AUTH_HINT}"
    return f"YouTube refused the request: {failure.describe()}"


def _stderr(message: str) -> None:
    text = mask(message)
    try:
        from ytsync.cli.console import SafeConsole

        SafeConsole(stderr=True, highlight=False).print(text, markup=False)
    except Exception:
        # rich cannot load (no file descriptor left, say): the message still goes out.
        sys.stderr.write(visible(text) + "\n")
