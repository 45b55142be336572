"""``starter.py demo`` end to end, as a person runs it: a subprocess in a fresh directory.

Each run starts a real Temporal dev server, so the library is small and quota periods
are 5 s; a run takes about 15-25 s (the sync, then one organize run).  After every run
no dev server may be left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ytsync.devserver import server_processes

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "starter.py"
ARGS = ["demo", "--videos", "120", "--playlists", "4", "--period-seconds", "5"]
RUN_TIMEOUT = 120


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
    env["PYTHONPATH"] = str(ROOT)
    # Wide enough that no sentence the assertions look for is wrapped.
    env["COLUMNS"] = "200"
    return env


def _demo_db(cwd: Path) -> Path:
    return cwd / ".ytsync" / "demo" / "temporal.db"


def _left_behind(cwd: Path) -> list[str]:
    """Processes whose command line names this directory's demo state: none may survive."""
    marker = str(cwd / ".ytsync").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            words = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {words}")
    return found


def _run_demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STARTER), *ARGS],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def _assert_succeeded(result: subprocess.CompletedProcess[str]) -> None:
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert "completed" in result.stdout, report
    assert "Check against the emulator: OK" in result.stdout, report
    assert "Organize check: OK" in result.stdout, report
    assert "Traceback" not in result.stdout + result.stderr, report


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover processes via /proc")
def test_demo_completes_twice_in_one_directory(tmp_path: Path) -> None:
    first = _run_demo(tmp_path)
    _assert_succeeded(first)
    assert "Web UI" in first.stdout and "http://127.0.0.1:" in first.stdout
    assert not _left_behind(tmp_path)
    assert not server_processes(_demo_db(tmp_path))
    token = tmp_path / ".ytsync" / "demo" / "token.json"
    assert token.stat().st_mode & 0o777 == 0o600

    # The second run wipes the first one's state (its finished job, its Temporal
    # history) and starts over, rather than tripping over it.
    second = _run_demo(tmp_path)
    _assert_succeeded(second)
    assert "Started job 1 " in second.stdout
    assert not _left_behind(tmp_path)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover processes via /proc")
def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, str(STARTER), *ARGS],
        cwd=tmp_path,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    started = threading.Event()
    errors: list[str] = []

    def read_stdout() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            seen.append(line)
            if line.startswith("Started job"):
                started.set()

    def read_stderr() -> None:
        assert demo.stderr is not None
        errors.extend(demo.stderr)

    readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
    for reader in readers:
        reader.start()
    try:
        assert started.wait(RUN_TIMEOUT), "".join(seen) + "".join(errors)
        assert server_processes(_demo_db(tmp_path)), "the dev server should be running"
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    for reader in readers:
        reader.join(timeout=10)
    output = "".join(seen) + "".join(errors)
    assert code == 130, output
    assert "Traceback" not in output, output
    assert "Demo stopped" in output, output
    assert not _left_behind(tmp_path), output
    assert not server_processes(_demo_db(tmp_path))


def test_without_the_sandbox_the_demo_says_how_to_install_it(tmp_path: Path) -> None:
    """A production install (the worker image) has no ytsync-sandbox: the demo command
    names the package and how to install it, exits 2, and shows no traceback."""
    hide = (
        "import runpy, sys; sys.modules['ytsync_sandbox'] = None; "
        f"sys.argv = [{str(STARTER)!r}, 'demo']; "
        f"runpy.run_path({str(STARTER)!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "ytsync-sandbox" in result.stderr
    assert "pip install ./sandbox" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".ytsync").exists()
