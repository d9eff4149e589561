"""Command lines that look right but are not: typos, abbreviations, a glob the shell expanded.

argparse alone would accept `--out` as an abbreviation of `--output`, report
`--ouput` as "missing --output", and hand `clips/b.mp4 clips/c.mp4` (what the
shell made of an unquoted `--input clips/*.mp4`) to Beam as stray arguments.
Flags are checked against both clipindex's and Beam's option names before
argparse runs, so the one line on stderr names the mistake and the fix.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import os
from typing import Optional


def command_flags(parser: argparse.ArgumentParser, command: Optional[str]) -> set[str]:
    """The option strings of `command`'s parser (the top-level parser's when None)."""
    if command is not None:
        for action in parser._actions:  # argparse keeps subparsers here, not in a public attribute
            if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                parser = action.choices[command]
    return {flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")}


@functools.lru_cache(maxsize=1)
def _beam_parser() -> argparse.ArgumentParser:
    # The parser Beam itself builds in PipelineOptions.get_all_options: every option class.
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    classes: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        classes.setdefault(str(cls), cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)
    return parser


def beam_flags() -> set[str]:
    return {flag for flag in _beam_parser()._option_string_actions if flag.startswith("--")}


COMMANDS = ("synth", "index", "reconcile")


def unknown_command(command: str) -> Optional[str]:
    """A one-line problem when the first word is no clipindex command (None when it is one)."""
    if command in COMMANDS:
        return None
    close = difflib.get_close_matches(command, COMMANDS, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else f" (commands: {', '.join(COMMANDS)})"
    return f"unknown command {command!r}{hint}"


def unknown_flag(argv: list[str], known: set[str], with_beam: bool) -> Optional[str]:
    """A one-line problem for the first flag neither clipindex nor (with_beam) Beam knows."""
    for token in argv:
        if token == "--":
            break
        if not token.startswith("--"):
            continue
        name = token.split("=", 1)[0]
        if name in known or (with_beam and name in beam_flags()):
            continue
        candidates = sorted(known | (beam_flags() if with_beam else set()))
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        longer = [flag for flag in candidates if flag.startswith(name)]
        guess = close[0] if close else (longer[0] if longer else None)
        if guess:
            return f"unknown option {name}; did you mean {guess}?"
        what = "a clipindex option nor a Beam pipeline option" if with_beam else "a clipindex option"
        return f"unknown option {name}: not {what}"
    return None


def stray_arguments(beam_args: list[str]) -> list[str]:
    """Words among the flags handed to Beam that no flag takes as its value."""
    if not any(not arg.startswith("-") for arg in beam_args):
        return []
    _, unknown = _beam_parser().parse_known_args(beam_args)
    return [arg for arg in unknown if not arg.startswith("-")]


def stray_problem(strays: list[str]) -> str:
    more = f" (and {len(strays) - 1} more)" if len(strays) > 1 else ""
    first = strays[0]
    if os.path.lexists(first) or "/" in first or "." in os.path.basename(first):
        return (f"unexpected argument {first!r}{more}: it looks like the shell expanded a pattern into "
                "file names; quote the pattern so clipindex sees it, e.g. --input 'clips/**/*.mp4'")
    return f"unexpected argument {first!r}{more}"
