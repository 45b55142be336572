"""``ytsync completion bash``: the script it prints, run by a real bash as Tab would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ytsync.cli.app import build_parser, main
from ytsync.cli.completion import _subcommands


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "ytsync.bash"
    with pytest.MonkeyPatch.context() as patch:
        lines: list[str] = []
        patch.setattr("builtins.print", lambda text, end="\n": lines.append(text + end))
        assert main(["completion", "bash"]) == 0
    path.write_text("".join(lines))
    return path


def tab(script: Path, line: str, cwd: Path | None = None) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end), in order."""
    words = line.split(" ")
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_ytsync\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile"],
        input=program,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    assert done.stderr == ""
    return [word for word in done.stdout.splitlines() if word]


def test_every_command_is_offered(script: Path) -> None:
    offered = tab(script, "ytsync ")
    assert set(_subcommands(build_parser())) <= set(offered)
    assert tab(script, "ytsync pl") == ["plan"]
    assert set(tab(script, "ytsync plan ")) >= {"apply", "rules", "export"}


def test_a_subcommand_gets_its_own_options_not_its_namesakes(script: Path) -> None:
    # `backup export` is not `plan export`; an option's value is no command.
    assert "--snapshot" in tab(script, "ytsync backup export --")
    assert "--categories" not in tab(script, "ytsync backup export --")
    assert "--categories" in tab(script, "ytsync plan export --")
    assert set(tab(script, "ytsync schedule create --every 1d --")) >= {"--cron", "--rules"}


def test_an_option_offers_its_choices(script: Path) -> None:
    assert tab(script, "ytsync start --strategy ") == ["rebuild", "reuse"]
    assert tab(script, "ytsync restore --order a") == ["any"]


def test_files_where_a_file_is_asked(script: Path, tmp_path: Path) -> None:
    (tmp_path / "plan.csv").write_text("")
    assert tab(script, "ytsync plan apply pl", cwd=tmp_path) == ["plan.csv"]
    assert tab(script, "ytsync schedule create --rules pl", cwd=tmp_path) == ["plan.csv"]
    assert tab(script, "ytsync status pl", cwd=tmp_path) == []
