"""The `clipindex` command: synth, index, reconcile.

Exit codes (for schedulers): 0 success / reconciled; 1 the run failed or
reconciliation found discrepancies; 2 bad usage or bad input, with one line
on stderr and nothing written.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import traceback
from typing import Optional, Sequence

from pipeline import __version__
from pipeline.interrupts import INTERRUPTS
from pipeline.layout import flag_value, prestart_count
from transforms.isolation import prestart
from transforms.storage.gcs_client import use_emulator_credentials

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _VersionAction(argparse.Action):
    """--version, with the libraries' versions looked up only when asked (importing PyAV and
    OpenCV costs a fraction of a second every other command need not pay)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from transforms.launcher.versions import version_lines

        print("\n".join(version_lines(__version__)))
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    # Imported here, not at the top: pipeline.options imports Beam, and the isolated
    # children should be on their way first (see main and transforms.isolation.prestart).
    from pipeline.options import OneLineParser, _positive_float, _positive_int, add_index_arguments

    parser = OneLineParser(
        prog="clipindex",
        description="Index video clips into Parquet with Apache Beam and PyAV, and reconcile the "
                    "totals against what should be there.")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of clipindex, Beam, PyAV (and its FFmpeg), pyarrow, "
                             "OpenCV and Python, and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=OneLineParser)

    synth = commands.add_parser("synth", help="write a synthetic corpus of real MP4 clips and its manifest",
                                description="Write OUT_DIR/clips/**.mp4 (H.264, faststart) and "
                                            "OUT_DIR/manifest.csv; durations add up to --hours exactly.")
    synth.add_argument("out_dir", metavar="OUT_DIR")
    synth.add_argument("--clips", type=_positive_int, required=True, help="number of clips")
    synth.add_argument("--hours", type=_positive_float, required=True, help="total hours of video")
    synth.add_argument("--fps", type=_positive_int, default=30, help="frame rate (default: 30)")
    synth.add_argument("--size", default="160x120", help="frame size WxH (default: 160x120)")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same corpus (default: 0)")
    synth.add_argument("--inject", action="append", default=[], metavar="KIND:CLIP:START_S:SECONDS",
                       help="inject a picture problem (black, frozen or blur) into clip number CLIP "
                            "over whole seconds, e.g. black:0:3:4. Repeatable.")
    synth.add_argument("--reencode", action="append", default=[], metavar="CLIP[:WxH[:BITS_PER_S]]",
                       help="also write a re-encoded copy of clip number CLIP beside it "
                            "(default 96x72 at 40000 bit/s); not in the manifest. Repeatable.")
    synth.add_argument("--force", action="store_true",
                       help="write into a non-empty OUT_DIR, replacing its clips/ and manifest.csv")
    synth.add_argument("--trim", action="append", default=[], metavar="CLIP:START_S:SECONDS",
                       help="also write an excerpt of clip number CLIP (SECONDS from START_S, "
                            "re-encoded) beside it as clip-NNNNNN-excerpt.mp4; not in the manifest. "
                            "Repeatable.")

    index = commands.add_parser("index", help="index clips into DIR/{clips,frames,errors}/*.parquet",
                                description="Index clips with a Beam pipeline. Flags clipindex does not "
                                            "know are passed to Beam (e.g. --project, --temp_location).")
    add_index_arguments(index)

    rec = commands.add_parser("reconcile", help="compare an index with expectations",
                              description="Print totals and every discrepancy. Exit 0 reconciled, "
                                          "1 discrepancies, 2 bad usage or input. See docs/reconcile.md.")
    from pipeline.reconcile_cmd import add_reconcile_arguments

    add_reconcile_arguments(rec)
    return parser


def _fail_usage(message: str) -> int:
    print(f"clipindex: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _clear_synth_target(out_dir: str, force: bool) -> None:
    """A corpus written into another one mixes the two (its manifest then lists only the new clips)."""
    from pipeline.synth import SynthProblem

    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SynthProblem(f"OUT_DIR {out_dir} exists and is not a folder")
    if not os.path.isdir(out_dir) or not [n for n in os.listdir(out_dir) if not n.startswith(".")]:
        return
    if not force:
        raise SynthProblem(f"OUT_DIR {out_dir} is not empty; choose a new folder, or pass --force to "
                           "replace its clips/ and manifest.csv")
    shutil.rmtree(os.path.join(out_dir, "clips"), ignore_errors=True)
    if os.path.exists(os.path.join(out_dir, "manifest.csv")):
        os.unlink(os.path.join(out_dir, "manifest.csv"))


def _cmd_synth(args: argparse.Namespace) -> int:
    from pipeline.synth import Condition, Reencode, SynthProblem, Trim, synth

    def progress(done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            print(f"synth: {done}/{total} clips", file=sys.stderr, flush=True)

    try:
        _clear_synth_target(args.out_dir, args.force)
        plans = synth(args.out_dir, args.clips, args.hours, fps=args.fps, size=args.size, seed=args.seed,
                      progress=progress, conditions=[Condition.parse(c) for c in args.inject],
                      reencode=[Reencode.parse(r) for r in args.reencode],
                      trims=[Trim.parse(t) for t in args.trim])
    except SynthProblem as problem:
        return _fail_usage(str(problem))
    frames = sum(p.frame_count for p in plans)
    print(f"wrote {len(plans)} clips, {frames} frames, {frames / args.fps / 3600:.3f} h to "
          f"{os.path.join(args.out_dir, 'clips')} and {os.path.join(args.out_dir, 'manifest.csv')}")
    return EXIT_OK


def _cmd_index(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.graph import DryRunOnly
    from pipeline.index_cmd import run_index
    from pipeline.options import UsageProblem
    from transforms.manifest.read import ManifestProblem
    from transforms.launcher.find_inputs import MatchProblem
    from transforms.launcher.removal_guard import TooManyRemoved
    from transforms.storage.lock.lease import LockLost
    from transforms.storage.snapshots import OutputProblem
    from transforms.launcher.run_summary import InvariantBroken

    try:
        run = run_index(args, beam_args)
    except DryRunOnly as dry_run:
        print(f"clipindex: {dry_run}", file=sys.stderr)
        return EXIT_OK
    except (MatchProblem, OutputProblem, ManifestProblem, UsageProblem) as problem:
        return _fail_usage(str(problem))
    except (InvariantBroken, LockLost) as broken:
        print(f"clipindex: run failed, nothing committed: {broken}", file=sys.stderr)
        return EXIT_FAILED
    except TooManyRemoved as refused:
        print(f"clipindex: run stopped: {refused}", file=sys.stderr)
        return EXIT_FAILED
    print(f"run {run['run_id']}: matched {run['matched']} = indexed {run['indexed']} + errors "
          f"{run['errors']}; {run['total_hours']:.3f} h, {run['total_frames']} frames, "
          f"{run['total_bytes']} bytes; read {run['reindexed']}"
          + (f", resumed {run['from_checkpoint']} from a checkpoint" if run["from_checkpoint"] else "")
          + f", carried forward {run['carried_forward']}" + _summary_notes(run)
          + f"; {run['wall_s']:.1f} s -> {args.output}")
    return EXIT_OK


def _summary_notes(run: dict) -> str:
    """What the totals leave out and why: skipped files, and duplicates reconcile will not count."""
    from transforms.launcher.selection import describe_counts
    from transforms.reconcile.copies import duplicates_sentence, insufficient_sentence

    notes = [describe_counts(run), duplicates_sentence(run["duplicates"], run["duplicate_hours"], True,
                                                         run.get("excerpts", 0), run.get("excerpt_hours", 0.0)),
             insufficient_sentence(run.get("qa_insufficient_samples") or {})]
    if run.get("storage"):
        storage = run["storage"]
        notes.append(f"gs: {storage['requests_per_clip']:.1f} requests/clip, {storage['mib_per_clip']:.2f} MiB/clip, "
                     f"listing {run['listing_s']:.1f} s")
    return "".join(f"; {note}" for note in notes if note)


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from pipeline.reconcile_cmd import run_reconcile

    return run_reconcile(args)


def _quiet_beam_logs() -> None:
    """Beam's INFO/WARN chatter (worker start-up notes) drowns the progress lines."""
    level = logging.DEBUG if os.environ.get("CLIPINDEX_DEBUG") else logging.ERROR
    for name in ("apache_beam", "apache_beam.runners.portability.local_job_service"):
        logging.getLogger(name).setLevel(level)
    # A DoFn's exception (e.g. ENOSPC writing the output) is logged here with its traceback
    # and then raised: the one-line failure message says it already.
    logging.getLogger("apache_beam.runners.common").setLevel(level if level == logging.DEBUG else logging.CRITICAL)


def _quiet_library_notices() -> None:
    """Google's client libraries warn about Python and grpcio support dates on import (older
    releases within setup.py's ranges do): notices for their developers, not clipindex's users,
    and they would break the promise of one line on stderr. Beam's worker processes inherit it."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google(\.|$)")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Before numpy is imported (through Beam): its OpenBLAS thread pool only competes with
    # the readers for cores here (see transforms.isolation.prestart.child_env).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _quiet_library_notices()
    if argv and argv[0] == "index":
        # Before any thread or child starts, so they inherit the blocked signals (pipeline.interrupts);
        # with --runner, Beam's job-server processes keep theirs (Beam stops them with SIGINT).
        INTERRUPTS.arm(block_in_main_thread=flag_value(argv, "--runner") is None)
    prestart.start(prestart_count(argv))
    use_emulator_credentials()  # a GCS emulator: anonymous access, without google.auth's retries
    try:
        return _main(argv)
    finally:
        prestart.close_unused()  # e.g. bad usage, or nothing to read: never left for a later run
        INTERRUPTS.disarm()


def _hint(detail: str) -> str:
    """What to do about a failure whose cause we know."""
    if "prism binary" in detail.lower():  # Beam downloads Prism from GitHub, which may be out of reach
        return ("; build Prism from Beam's Go module with tools/fetch_prism.sh and pass "
                "--prism_location PATH (docs/runners.md)")
    return ""


def _main(argv: list[str]) -> int:
    from pipeline import usage

    _quiet_beam_logs()
    parser = _parser()
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command is not None and (problem := usage.unknown_command(command)):
        return _fail_usage(problem)  # `clipindex indx --input ...`: the command, not --input, is wrong
    # Before argparse: `--ouput` must be named as a typo, not reported as a missing --output.
    problem = usage.unknown_flag(argv, usage.command_flags(parser, command), with_beam=command == "index")
    if problem:
        return _fail_usage(problem)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "index":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra and (strays := usage.stray_arguments(extra)):
        return _fail_usage(usage.stray_problem(strays))
    try:
        if args.command == "synth":
            return _cmd_synth(args)
        if args.command == "index":
            return _cmd_index(args, extra)
        return _cmd_reconcile(args)
    except KeyboardInterrupt:
        print("clipindex: interrupted; the previous snapshot is untouched", file=sys.stderr)
        return 130
    except Exception as exc:  # the run itself failed: one line, details only on request
        if os.environ.get("CLIPINDEX_DEBUG"):
            traceback.print_exc()
        detail = " ".join(str(exc).split())[:400]
        print(f"clipindex: {args.command} failed: {type(exc).__name__}: {detail}{_hint(detail)} "
              "(set CLIPINDEX_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
