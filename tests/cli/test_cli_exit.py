"""Every command leaves with its own exit code: output flushed, interpreter shutdown
skipped (temporalio's core threads can crash it: sdk-python #300)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Registered before the command runs: it prints only if the interpreter's shutdown runs,
# which is where the Temporal runtime's threads crash a process.
SHUTDOWN_PROBE = (
    "import atexit, sys; atexit.register(lambda: print('SHUTDOWN-RAN', file=sys.stderr))"
)


def _run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
    # Buffered, as in any script that pipes ytsync's output: an unflushed buffer is lost
    # by os._exit, so this proves the flush.
    environ.pop("PYTHONUNBUFFERED", None)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _starter(*argv: str) -> str:
    return (
        f"{SHUTDOWN_PROBE}; import runpy; sys.argv = ['starter.py', *{list(argv)!r}]; "
        f"sys.path.insert(0, {str(ROOT)!r}); "
        f"runpy.run_path({str(ROOT / 'starter.py')!r}, run_name='__main__')"
    )


def test_exit_now_flushes_buffered_output_and_keeps_the_code(tmp_path: Path) -> None:
    code = (
        f"{SHUTDOWN_PROBE}; import logging; from ytsync.cli.exiting import exit_now; "
        "logging.basicConfig(); logging.getLogger('x').warning('logged'); "
        "sys.stdout.write('o' * 200_000); sys.stderr.write('e' * 5_000); exit_now(3)"
    )
    done = _run(code, tmp_path)
    assert done.returncode == 3
    assert done.stdout == "o" * 200_000
    assert "e" * 5_000 in done.stderr and "logged" in done.stderr
    assert "SHUTDOWN-RAN" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "env", "code", "said"),
    [
        (("status", "--json"), {}, 0, "null"),
        (("status", "--json"), {"YTSYNC_DAILY_QUOTA": "lots"}, 2, "YTSYNC_DAILY_QUOTA"),
    ],
)
def test_the_cli_exits_before_interpreter_shutdown(
    tmp_path: Path, argv: tuple[str, ...], env: dict[str, str], code: int, said: str
) -> None:
    done = _run(_starter(*argv), tmp_path, YTSYNC_DATABASE_URL="sqlite:///cli.db", **env)
    assert done.returncode == code, done.stderr
    assert said in done.stdout + done.stderr
    assert "SHUTDOWN-RAN" not in done.stderr


def test_the_worker_exits_before_interpreter_shutdown(tmp_path: Path) -> None:
    code = (
        f"{SHUTDOWN_PROBE}; import runpy; sys.argv = ['worker.py']; "
        f"sys.path.insert(0, {str(ROOT)!r}); "
        f"runpy.run_path({str(ROOT / 'worker.py')!r}, run_name='__main__')"
    )
    done = _run(code, tmp_path, YTSYNC_QUOTA_RESERVE="-1")
    assert done.returncode == 2
    assert "YTSYNC_QUOTA_RESERVE" in done.stderr
    assert "SHUTDOWN-RAN" not in done.stderr
