"""``completion bash``: a shell completion script for ``ytsync``, written from the
command line's own parser, so it never lags behind a new command or option.

The script is static: pressing Tab runs no Python (a completion that starts the CLI
would take a third of a second a key press), it only looks up the words of the
command typed so far.  zsh runs it through ``bashcompinit``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

from ytsync.cli.context import Context


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script (bash; zsh with bashcompinit)",
        description='Print a completion script: eval "$(ytsync completion bash)" in '
        "~/.bashrc; for zsh, 'autoload -U +X bashcompinit && bashcompinit' first.",
    )
    completion.add_argument("shell", choices=("bash",), help="the shell")
    completion.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from ytsync.cli.app import build_parser

    # Plain text: a console would wrap the long lines of the script.
    print(bash_script(build_parser()), end="")
    return 0


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command path (``()``, ``("plan",)``, ``("plan", "apply")``...) with its
    parser."""
    yield path, parser
    for name, sub in _subcommands(parser).items():
        yield from _commands(sub, (*path, name))


def _words(parser: argparse.ArgumentParser) -> tuple[list[str], bool]:
    """What may follow a command: its subcommands and options, and whether it takes a
    positional argument (a file, most often)."""
    words = list(_subcommands(parser))
    takes_value = False
    for action in parser._actions:
        if action.option_strings:
            words += [o for o in action.option_strings if o.startswith("--")]
        elif not isinstance(action, argparse._SubParsersAction):
            if action.choices:
                words += [str(choice) for choice in action.choices]
            else:
                takes_value = True
    return words, takes_value


def _values(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> Iterator[tuple[str, list[str]]]:
    """``"PATH|--option"`` for each option that takes a value, with its choices (none:
    a file, a name or a number, for which files are offered)."""
    for action in parser._actions:
        if action.option_strings and action.nargs != 0:
            choices = [str(choice) for choice in action.choices or ()]
            for option in action.option_strings:
                yield f"{' '.join(path)}|{option}", choices


def _case(pattern: str, words: list[str], files: bool) -> str:
    return (
        f"        {shlex.quote(pattern)}) words={shlex.quote(' '.join(words))}; "
        f"files={int(files)} ;;"
    )


def bash_script(parser: argparse.ArgumentParser) -> str:
    commands = list(_commands(parser))
    paths = " ".join(shlex.quote(" ".join(path)) for path, _ in commands if path)
    body = "\n".join(_case(" ".join(path), *_words(sub)) for path, sub in commands)
    values = "\n".join(
        _case(key, choices, not choices)
        for path, sub in commands
        for key, choices in _values(path, sub)
    )
    return f"""# ytsync's bash completion, written by 'ytsync completion bash'.
_ytsync() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local path="" word i words="" files=0
    local -a paths=({paths})
    # The command typed so far: the words that extend a known command path (an
    # option's value, such as '--every 1d', extends none).
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        for known in "${{paths[@]}}"; do
            if [[ "${{path:+$path }}$word" == "$known" ]]; then
                path=$known
                break
            fi
        done
    done
    case "$path" in
{body}
    esac
    # After an option that takes a value: its choices, or files.
    case "$path|$prev" in
{values}
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    if [[ $files == 1 && $cur != -* ]]; then
        COMPREPLY+=($(compgen -f -- "$cur"))
    fi
}}
complete -o filenames -F _ytsync ytsync
"""
