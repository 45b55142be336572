"""Short CLI processes against a live job: does every one exit with its own code?

    python bench/cli_exits.py [--status 200] [--pairs 50] [--plain-exit]

Setup: a sample library on the emulator (in this process), imported into a SQLite file
and planned; a real ``temporal server start-dev`` and ``python worker.py`` in processes
of their own; one job started with ``starter.py start --yes --json``.  Its quota is
small and its period an hour, so the job stays alive (running or sleeping) throughout.

Then, one process each: ``--status`` runs of ``starter.py status --json`` and ``--pairs``
pairs of ``pause --json`` / ``resume --json``.  A run counts as a crash when it ends by
a signal or with another code than 0 (SIGSEGV, SIGABRT from "PyGILState_Release": the
Temporal core's threads outliving interpreter shutdown, sdk-python #300).

``--plain-exit`` runs the commands the way ``starter.py`` ended before: ``sys.exit`` and
a normal interpreter shutdown, for the "before" figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import benchkit
from benchkit import figure, heading

from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox

# The old ending of starter.py: main()'s code through sys.exit and interpreter shutdown.
PLAIN_EXIT = "import sys; from ytsync.cli.app import main; sys.exit(main(sys.argv[1:]))"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--status", type=int, default=200, help="status --json runs")
    parser.add_argument("--pairs", type=int, default=50, help="pause/resume pairs")
    parser.add_argument("--plain-exit", action="store_true", help="the old sys.exit ending")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def command(plain: bool, *argv: str) -> list[str]:
    if plain:
        return [sys.executable, "-c", PLAIN_EXIT, *argv]
    return [sys.executable, str(benchkit.ROOT / "starter.py"), *argv]


def start_worker(tmp: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log_path = tmp / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(benchkit.ROOT / "worker.py")],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 60
    while b"worker on task queue" not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return process


def outcome(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit {code}"


async def main_async(args: argparse.Namespace) -> int:
    ending = "sys.exit (before)" if args.plain_exit else "starter.py (exit_now)"
    heading(f"CLI exits: {args.status} status, {args.pairs} pause/resume pairs; {ending}")
    with benchkit.workdir("ytsync-bench-exits-") as tmp, ExitStack() as stack:
        state, rows, _counts = benchkit.library_for_writes(
            600,
            seed=args.seed,
            videos_per_playlist=40,
            emulator=lambda: EmulatorState(daily_limit=None),
        )
        emulator = stack.enter_context(sandbox.running_emulator(state, tmp / "token.json"))
        dev = stack.enter_context(benchkit.dev_server(tmp))
        await benchkit.connect_when_up(dev.address, dev.process)
        settings = sandbox.settings_for(
            emulator,
            f"sqlite:///{tmp / 'ytsync.db'}",
            temporal_address=dev.address,
            # About 30 writes an hour: the job lives through every run below.
            daily_quota=2500,
            quota_reserve=1000,
            quota_period_seconds=3600,
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")},
            **sandbox.settings_env(
                settings,
                *sandbox.SANDBOX_FIELDS,
                "temporal_address",
                "daily_quota",
                "quota_reserve",
                "quota_period_seconds",
            ),
        }
        engine, _sessions = sandbox.prepare(settings, rows, tmp / "plan.csv")
        engine.dispose()
        worker = start_worker(tmp, env)
        stack.callback(worker.wait)
        stack.callback(worker.terminate)

        results: Counter[str] = Counter()
        crashes: Counter[str] = Counter()
        seconds: list[float] = []

        def run(*argv: str) -> str:
            began = time.perf_counter()
            done = subprocess.run(
                command(args.plain_exit, *argv),
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            seconds.append(time.perf_counter() - began)
            results[f"{argv[0]}: {outcome(done.returncode)}"] += 1
            if done.returncode != 0:
                crashes[f"{argv[0]}: {outcome(done.returncode)}"] += 1
                tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
                print(f"  {' '.join(argv)}: {outcome(done.returncode)}: {tail[0]}")
            return done.stdout

        started = json.loads(run("start", "--yes", "--json"))
        figure("job", started["job_id"])
        for _ in range(args.status):
            run("status", "--json")
        for _ in range(args.pairs):
            run("pause", "--json")
            run("resume", "--json")

        runs = sum(results.values())
        figure("processes", runs)
        for key, count in sorted(results.items()):
            figure(f"  {key}", count)
        figure("crashes (not exit 0)", sum(crashes.values()))
        figure("crash rate", f"{100 * sum(crashes.values()) / runs:.1f}", "%")
        figure("mean wall time per process", f"{sum(seconds) / len(seconds):.2f}", "s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
