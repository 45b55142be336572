"""The layer rules of DESIGN.md, as pyproject.toml states them for import-linter: `./run
test` runs `lint-imports`, and a forbidden import fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# Where each package of both distributions lives.
PACKAGES = {
    "ytsync": ROOT / "ytsync",
    "workflows": ROOT / "workflows",
    "activities": ROOT / "activities",
    "ytsync_emulator": ROOT / "sandbox" / "ytsync_emulator",
    "ytsync_sandbox": ROOT / "sandbox" / "ytsync_sandbox",
}
PROBE = "_layer_probe"


def lint_imports(root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120
    )


def probe(tmp_path: Path, package: str, source: str) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of the code with one more module, ``source``, in
    ``package``: the keep-check may be running at the same time and must not see it."""
    for name, path in PACKAGES.items():
        shutil.copytree(path, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / package / f"{PROBE}.py").write_text(source)
    return lint_imports(tmp_path)


def test_the_code_keeps_its_layers() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout
    assert "5 kept, 0 broken" in result.stdout


def test_a_domain_module_importing_a_workflow_breaks_the_build(tmp_path: Path) -> None:
    """A module of the domain that imports the workflows (directly or through the
    activities) is named, with the line, and lint-imports exits 1."""
    result = probe(tmp_path, "ytsync", "from workflows.sync import SyncWorkflow\n\nSyncWorkflow\n")
    assert result.returncode == 1
    assert "The domain imports no flow, effects or face, and draws nothing BROKEN" in result.stdout
    assert f"ytsync.{PROBE} -> workflows.sync (l.1)" in result.stdout


def test_a_workflow_importing_an_activity_breaks_the_build(tmp_path: Path) -> None:
    """Workflows call activities by their names in ytsync.wire, never through their code."""
    result = probe(
        tmp_path, "workflows", "from activities.sync import SyncActivities\n\nSyncActivities\n"
    )
    assert result.returncode == 1
    assert "Workflows import no effects or face BROKEN" in result.stdout
    assert f"workflows.{PROBE} -> activities.sync (l.1)" in result.stdout


def test_a_domain_module_drawing_or_importing_the_cli_breaks_the_build(tmp_path: Path) -> None:
    """rich and the CLI's modules are the face's: a domain module importing either is
    named, with the line."""
    result = probe(
        tmp_path, "ytsync", "import rich.table\nfrom ytsync.cli import views\n\nrich, views\n"
    )
    assert result.returncode == 1
    assert "The domain imports no flow, effects or face, and draws nothing BROKEN" in result.stdout
    assert f"ytsync.{PROBE} -> rich (l.1)" in result.stdout
    assert f"ytsync.{PROBE} -> ytsync.cli.views (l.2)" in result.stdout


def test_the_emulator_importing_ytsync_breaks_the_build(tmp_path: Path) -> None:
    """The emulator keeps its own cost table: an import of the product's is named."""
    result = probe(
        tmp_path, "ytsync_emulator", "from ytsync.quota import WRITE_COST\n\nWRITE_COST\n"
    )
    assert result.returncode == 1
    assert "The emulator imports nothing of ytsync BROKEN" in result.stdout
    assert f"ytsync_emulator.{PROBE} -> ytsync.quota (l.1)" in result.stdout


def test_the_product_importing_the_emulator_breaks_the_build(tmp_path: Path) -> None:
    """What ships (the domain here) may not import the second distribution."""
    result = probe(tmp_path, "ytsync", "from ytsync_emulator.quota import COSTS\n\nCOSTS\n")
    assert result.returncode == 1
    assert "The product imports neither the emulator nor the sandbox BROKEN" in result.stdout
    assert f"ytsync.{PROBE} -> ytsync_emulator.quota (l.1)" in result.stdout
