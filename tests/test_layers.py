"""The layer rules of DESIGN.md, as pyproject.toml states them for import-linter: `./run
test` runs `lint-imports`, and a forbidden import fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120
    )


def copy_of_the_code(tmp_path: Path) -> Path:
    """The packages and their contracts, where a probe module cannot leak into the run
    of a test in parallel."""
    for package in ("ytsync", "workflows", "activities"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_code_keeps_its_layers() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout
    assert "4 kept, 0 broken" in result.stdout


def test_a_domain_module_importing_a_workflow_breaks_the_build(tmp_path: Path) -> None:
    """A module of the domain that imports the workflows (directly or through the
    activities) is named, with the line, and lint-imports exits 1."""
    name = "_layer_probe"
    root = copy_of_the_code(tmp_path)
    probe = root / "ytsync" / f"{name}.py"
    probe.write_text("from workflows.sync import SyncWorkflow\n\nSyncWorkflow\n")
    result = lint_imports(root)
    assert result.returncode == 1
    assert "The domain imports no flow, effects or face BROKEN" in result.stdout
    assert f"ytsync.{name} -> workflows.sync (l.1)" in result.stdout


def test_a_domain_module_drawing_or_importing_the_cli_breaks_the_build(tmp_path: Path) -> None:
    """rich and the CLI's modules are the face's: a domain module importing either is
    named, with the line."""
    name = "_layer_probe"
    root = copy_of_the_code(tmp_path)
    probe = root / "ytsync" / f"{name}.py"
    probe.write_text("import rich.table\nfrom ytsync.cli import views\n\nrich, views\n")
    result = lint_imports(root)
    assert result.returncode == 1
    assert "The domain imports no face and draws nothing (no rich) BROKEN" in result.stdout
    assert f"ytsync.{name} -> rich (l.1)" in result.stdout
    assert f"ytsync.{name} -> ytsync.cli.views (l.2)" in result.stdout
