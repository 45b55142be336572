"""How fast a short CLI command starts: ``starter.py status --json`` with no job yet.

    python bench/cli_startup.py [--runs 15] [--root CHECKOUT]

Setup: a fresh SQLite file in a temporary directory, upgraded once (so the runs time
the command, not the first migration).  Then ``--runs`` processes of ``starter.py status
--json``, one after the other: the median and spread of their wall time; then one run
under ``python -X importtime``: the cumulative import time of the heaviest top-level
modules, and whether any workflow, activity or API client code was loaded.

``--root`` times another checkout's ``starter.py`` with this virtualenv (for a "before"
figure: ``git archive COMMIT | tar -x -C DIR``); on a busy machine, run both in turn.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a status with no job has no use for: the workflows and activities (they pull in
# the YouTube client and google-api-python-client) and the Temporal client.
HEAVY = ("workflows", "activities", "googleapiclient", "ytsync.youtube.client", "temporalio")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="processes to time")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to time")
    return parser.parse_args(argv)


def run(root: Path, env: dict[str, str], *python_flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *python_flags, str(root / "starter.py"), "status", "--json"]
    result = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True)
    if result.returncode != 0 or result.stdout.strip() != "null":
        raise SystemExit(f"status --json failed ({result.returncode}): {result.stderr}")
    return result


def import_times(stderr: str) -> dict[str, int]:
    """Cumulative microseconds per module, from ``-X importtime``'s lines."""
    times: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split("|"))
        times[name] = int(cumulative)
    return times


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "YTSYNC_DATABASE_URL": f"sqlite:///{Path(tmp) / 'ytsync.db'}"}
        # A database at the checkout's newest schema, made by the checkout itself (its
        # status made one before 'import' became the only command that may).
        upgrade = "from ytsync.db.engine import make_engine, upgrade; import os; "
        upgrade += "upgrade(make_engine(os.environ['YTSYNC_DATABASE_URL']))"
        subprocess.run([sys.executable, "-c", upgrade], env=env, cwd=args.root, check=True)
        run(args.root, env)
        walls = []
        for _ in range(args.runs):
            began = time.perf_counter()
            run(args.root, env)
            walls.append(time.perf_counter() - began)
        times = import_times(run(args.root, env, "-X", "importtime").stderr)
    print(f"{args.root}: status --json, no job, {args.runs} processes:")
    print(f"  wall time median {statistics.median(walls):.3f} s")
    print(f"  min {min(walls):.3f} s, max {max(walls):.3f} s")
    top = sorted(
        ((name, micros) for name, micros in times.items() if "." not in name),
        key=lambda item: -item[1],
    )
    print("cumulative import time, top-level modules (-X importtime):")
    for name, micros in top[:8]:
        print(f"  {name:<24} {micros / 1e6:.3f} s")
    context = times.get("ytsync.cli.context")
    if context is not None:
        print(f"  ytsync.cli.context       {context / 1e6:.3f} s")
    loaded = sorted(
        name for name in times if any(name == h or name.startswith(h + ".") for h in HEAVY)
    )
    print(
        f"heavy modules loaded: {len(loaded)}"
        + (f" ({', '.join(loaded[:6])}, ...)" if loaded else "")
    )


if __name__ == "__main__":
    main()
