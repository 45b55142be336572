"""The layer rules of DESIGN.md, as pyproject.toml states them for import-linter: `./run
test` runs `lint-imports`, and a forbidden import fails it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_code_keeps_its_layers() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout
    assert "3 kept, 0 broken" in result.stdout


def test_a_domain_module_importing_a_workflow_breaks_the_build() -> None:
    """A module of the domain that imports the workflows (directly or through the
    activities) is named, with the line, and lint-imports exits 1."""
    name = f"_layer_probe_{uuid.uuid4().hex[:8]}"
    probe = ROOT / "ytsync" / f"{name}.py"
    probe.write_text("from workflows.sync import SyncWorkflow\n\nSyncWorkflow\n")
    try:
        result = lint_imports()
    finally:
        probe.unlink()
    assert result.returncode == 1
    assert "The domain imports no flow, effects or face BROKEN" in result.stdout
    assert f"ytsync.{name} -> workflows.sync (l.1)" in result.stdout
