"""Which inputs a run reads: patterns or a manifest, and the output kept outside them."""

from __future__ import annotations

import argparse
import glob
import os

from transforms.manifest.read import read_manifest
from transforms.launcher.find_inputs import MatchProblem, select_inputs, select_uris
from transforms.storage.readers import is_remote, local_path
from transforms.launcher.selection import Selection


def _static_prefix(pattern: str) -> str:
    parts = []
    for part in os.path.abspath(os.path.expanduser(local_path(pattern))).split(os.sep):
        if glob.has_magic(part):
            break
        parts.append(part)
    return os.sep.join(parts) or os.sep


def check_output_outside_inputs(output: str, patterns: list[str]) -> None:
    """An index written inside a recursive input would index itself next night.

    Both sides with symlinks resolved: an input folder reached through a link is the same folder.
    """
    if is_remote(output):
        return
    out = os.path.realpath(os.path.expanduser(output))
    for pattern in patterns:
        if is_remote(pattern):
            continue
        prefix = os.path.realpath(_static_prefix(pattern))
        recursive = "**" in pattern or os.path.isdir(local_path(pattern))
        if recursive and (out == prefix or out.startswith(prefix.rstrip(os.sep) + os.sep)):
            raise MatchProblem(f"output {output} is inside input {pattern}; choose an output folder "
                               "outside the inputs")


def matched_inputs(args: argparse.Namespace) -> Selection:
    if bool(args.input) == bool(args.manifest):
        raise MatchProblem("give --input PATTERN (repeatable) or --manifest FILE, not both or neither")
    if args.manifest:
        root = args.manifest_root
        if root and not is_remote(root) and not os.path.isdir(os.path.expanduser(root)):
            raise MatchProblem(f"--manifest-root {root} is not a folder")
        manifest = read_manifest(args.manifest, root=root, can_map=False)
        uris = [u for u in manifest.column("uri").to_pylist() if u]
        if not uris:
            raise MatchProblem(f"manifest {args.manifest} has no `uri` column values; indexing needs "
                               "each clip's uri (clip_id alone is enough only for reconcile)")
        selection = select_uris(uris, args.case_sensitive, args.exclude)
        if not selection.files:
            raise MatchProblem(f"--exclude left none of the {len(uris)} uris of manifest {args.manifest}")
        return selection
    check_output_outside_inputs(args.output, args.input)
    selection = select_inputs(args.input, args.case_sensitive, args.exclude)
    if not selection.files:
        skipped = selection.describe()
        raise MatchProblem("no input matched " + ", ".join(repr(p) for p in args.input)
                           + (f" ({skipped})" if skipped else ""))
    return selection
