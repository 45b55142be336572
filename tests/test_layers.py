"""The layer rules of DESIGN.md, as pyproject.toml states them for import-linter: `./run
test` runs `lint-imports`, and a forbidden import fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SANDBOX = ROOT / "sandbox"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120
    )


def test_the_code_keeps_its_layers() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout
    assert "5 kept, 0 broken" in result.stdout


def test_a_domain_module_importing_a_workflow_breaks_the_build(tmp_path: Path) -> None:
    """A module of the domain that imports the workflows (directly or through the
    activities) is named, with the line, and lint-imports exits 1.  In a copy of the
    code: the test above may be running at the same time, and must not see the probe."""
    for package in ("ytsync", "workflows", "activities"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    name = f"_layer_probe_{uuid.uuid4().hex[:8]}"
    probe = tmp_path / "ytsync" / f"{name}.py"
    probe.write_text("from workflows.sync import SyncWorkflow\n\nSyncWorkflow\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "The domain imports no flow, effects or face BROKEN" in result.stdout
    assert f"ytsync.{name} -> workflows.sync (l.1)" in result.stdout


def probe(package: Path, source: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    """lint-imports with one more module, ``source``, in ``package``; (its name, result)."""
    name = f"_layer_probe_{uuid.uuid4().hex[:8]}"
    path = package / f"{name}.py"
    path.write_text(source)
    try:
        return name, lint_imports()
    finally:
        path.unlink()


def test_the_emulator_importing_ytsync_breaks_the_build() -> None:
    """The emulator keeps its own cost table: an import of the product's is named."""
    name, result = probe(
        SANDBOX / "ytsync_emulator", "from ytsync.quota import WRITE_COST\n\nWRITE_COST\n"
    )
    assert result.returncode == 1
    assert "The emulator imports nothing of ytsync BROKEN" in result.stdout
    assert f"ytsync_emulator.{name} -> ytsync.quota (l.1)" in result.stdout


def test_the_product_importing_the_emulator_breaks_the_build() -> None:
    """What ships (the domain here) may not import the second distribution."""
    name, result = probe(ROOT / "ytsync", "from ytsync_emulator.quota import COSTS\n\nCOSTS\n")
    assert result.returncode == 1
    assert "The product imports neither the emulator nor the sandbox BROKEN" in result.stdout
    assert f"ytsync.{name} -> ytsync_emulator.quota (l.1)" in result.stdout
