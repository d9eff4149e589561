"""Command-line options of `clipindex` and how they become run configuration.

clipindex parses its own flags with argparse (clear one-line errors, real
--help); every flag it does not know is handed to Beam as a pipeline option
(--runner, --project, --temp_location, --flink_master, ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from typing import TYPE_CHECKING, NoReturn, Optional

from pipeline.layout import CHILDREN_PER_SDK_WORKER, DEFAULT_WORKERS, flag_value, local_layout
from pipeline.unattended import add_unattended_arguments
from schemas import IndexConfig, QaOptions

if TYPE_CHECKING:  # Beam is imported by the index command only: reconcile and synth start ~1 s sooner
    from apache_beam.options.pipeline_options import PipelineOptions


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit 2, as schedulers expect.

    No abbreviations: `--out` must not quietly mean `--output` (pipeline.usage names the typo).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _decode_mode(text: str) -> str:
    if text in ("none", "keyframes") or re.fullmatch(r"fps:(\d+(\.\d+)?)", text):
        if text.startswith("fps:") and float(text[4:]) <= 0:
            raise argparse.ArgumentTypeError("fps:N needs N > 0")
        return text
    raise argparse.ArgumentTypeError(f"expected none, keyframes or fps:N, not {text!r}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
        return value
    return parse


_non_negative_int = _int_at_least(0)
_positive_int = _int_at_least(1)


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("inputs (one of)")
    source.add_argument("--input", action="append", default=[], metavar="PATTERN",
                        help="glob of clips, local or gs://, case-insensitive; ** spans folders (also "
                             "zero folders: clips/**/*.mp4 matches clips/a.MP4); sidecar files (.json, "
                             ".vtt, Thumbs.db, ...) are skipped unless named. Quote it. Repeatable.")
    source.add_argument("--manifest", metavar="FILE",
                        help="CSV or Parquet with a `uri` column: index exactly these inputs")
    _add_selection_arguments(parser)
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="index directory: new, empty, or an existing index (updated "
                             "incrementally; an interrupted run is resumed)")
    parser.add_argument("--tier", choices=("auto", "header", "packets"), default="auto",
                        help="timeline source: auto = container index when complete and "
                             "inside the file, else demux packets (default: auto)")
    parser.add_argument("--decode", type=_decode_mode, default="none",
                        help="decode frames for visual QA: none, keyframes or fps:N (default: none)")
    parser.add_argument("--hash", choices=("sha256", "none"), default="sha256",
                        help="content hash of each clip (default: sha256)")
    parser.add_argument("--gap-factor", type=_positive_float, default=1.5,
                        help="a gap is a step longer than this many frame intervals (default: 1.5)")
    parser.add_argument("--clip-timeout-s", type=_positive_float, default=120.0,
                        help="time budget per clip, plus 1 s per 20 MB of file (default: 120)")
    parser.add_argument("--isolation", choices=("process", "none"), default="process",
                        help="read each clip in a supervised child process so a crash or hang "
                             "becomes an error row (default: process)")
    parser.add_argument("--workers", type=_positive_int, default=DEFAULT_WORKERS,
                        help="clips read at once on the local runner: isolated indexing "
                             f"processes, {CHILDREN_PER_SDK_WORKER} per Beam SDK worker; with "
                             f"--isolation none, Beam SDK worker processes (default: {DEFAULT_WORKERS})")
    parser.add_argument("--gcs-inflight", type=_int_at_least(0), default=16, metavar="N",
                        help="gs:// inputs: clips whose first bytes and moov each worker fetches "
                             "ahead, N at a time, while its readers parse (0: each reader fetches "
                             "its own; default: 16)")
    parser.add_argument("--runner", default=None,
                        help="Beam runner; default: the local FnApiRunner (Beam's own local "
                             "runner, named explicitly). E.g. DataflowRunner, FlinkRunner, "
                             "PrismRunner.")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--device-from-path", type=device_pattern, metavar="REGEX",
                        help="store the device of each clip (clips.device_id), found in its uri by "
                             "this regular expression's named group device_id, e.g. "
                             "'/(?P<device_id>[^/]+)/\\d{4}-\\d{2}-\\d{2}/' (see docs/reconcile.md)")
    _add_qa_arguments(parser)
    add_unattended_arguments(parser)


def device_pattern(text: str) -> str:
    """argparse type of --device-from-path (index and reconcile): compiles, has the group."""
    from transforms.clip.devices import DevicePatternProblem, compile_pattern

    try:
        compile_pattern(text)
    except DevicePatternProblem as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None
    return text


def _add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("choosing inputs (README: Index your own footage)")
    group.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                       help="leave out matched inputs: a name pattern (*.tmp) or, with a /, a path "
                            "pattern (**/proxies/**). Repeatable.")
    group.add_argument("--case-sensitive", action="store_true",
                       help="match --input and --exclude patterns case-sensitively (default: "
                            "*.mp4 also matches .MP4, as cameras write it)")
    group.add_argument("--manifest-root", metavar="DIR",
                       help="resolve the manifest's relative uris from DIR (default: the "
                            "manifest's own folder)")
    group.add_argument("--archive-root", metavar="DIR",
                       help="clip ids are made from each path below DIR, so the archive may be "
                            "remounted or moved and keep its ids (default: the deepest folder holding "
                            "every --input pattern, or the --manifest-root / the manifest's folder); "
                            "see docs/fields.md#clip_id")


def _add_qa_arguments(parser: argparse.ArgumentParser) -> None:
    qa = QaOptions()
    group = parser.add_argument_group(
        "visual QA (with --decode; luma 0-255 on frames downscaled to 160 px wide)")
    group.add_argument("--thumbnails", action="store_true",
                       help="write a JPEG contact sheet per clip to DIR/thumbs/<clip_id>.jpg "
                            "(snapshots/<run_id>/thumbs)")
    group.add_argument("--qa-dark-luma", type=_non_negative_int, default=qa.dark_luma,
                       help=f"a pixel at or below this luma is near-black (default: {qa.dark_luma})")
    group.add_argument("--qa-dark-fraction", type=_fraction, default=qa.dark_fraction,
                       help="a picture is dark (black, lens covered) when this share of its pixels "
                            f"is near-black (default: {qa.dark_fraction})")
    group.add_argument("--qa-frozen-change", type=_positive_float, default=qa.frozen_change,
                       help="a picture is frozen when its mean absolute luma change from the "
                            f"previous sample is below this (default: {qa.frozen_change})")
    group.add_argument("--qa-blur-sharpness", type=_positive_float, default=qa.blur_sharpness,
                       help="a picture is blurry when the variance of its Laplacian is below this "
                            f"(default: {qa.blur_sharpness})")
    group.add_argument("--dup-max-bits", type=_non_negative_int, default=qa.dup_max_bits,
                       help="perceptual hashes at most this many bits apart (of 64) show the same "
                            f"picture (default: {qa.dup_max_bits})")
    group.add_argument("--dup-min-fraction", type=_fraction, default=qa.dup_min_fraction,
                       help="share of time-aligned samples that must match for two clips to be the "
                            f"same footage, or one an excerpt of the other (default: {qa.dup_min_fraction})")
    group.add_argument("--dup-max-offset-s", type=_positive_float, default=qa.dup_max_offset_s,
                       help="at the best offset between two clips, samples this far apart in time (or half "
                            f"the denser clip's sample step, if larger) are compared (default: "
                            f"{qa.dup_max_offset_s}); see docs/duplicates.md")


def qa_options(args: argparse.Namespace) -> QaOptions:
    return QaOptions(dark_luma=args.qa_dark_luma, dark_fraction=args.qa_dark_fraction,
                     frozen_change=args.qa_frozen_change, blur_sharpness=args.qa_blur_sharpness,
                     dup_max_bits=args.dup_max_bits, dup_min_fraction=args.dup_min_fraction,
                     dup_max_offset_s=args.dup_max_offset_s)


def index_config(args: argparse.Namespace, run_id: str, progress_dir: Optional[str],
                 thumbs_dir: Optional[str] = None) -> IndexConfig:
    children = 1 if args.runner else local_layout(args.workers, args.isolation)[1]
    return IndexConfig(tier=args.tier, decode=args.decode, hash=args.hash, gap_factor=args.gap_factor,
                       clip_timeout_s=args.clip_timeout_s, isolation=args.isolation,
                       children=children, run_id=run_id, gcs_inflight=args.gcs_inflight,
                       progress_dir=progress_dir, qa=qa_options(args), thumbnails=args.thumbnails,
                       thumbs_dir=thumbs_dir if args.thumbnails else None,
                       device_from_path=args.device_from_path, archive_root=archive_root(args))


def archive_root(args: argparse.Namespace) -> Optional[str]:
    """--archive-root, else the default of transforms.storage.archive_root."""
    from transforms.storage.archive_root import default_archive_root, manifest_archive_root, normalize_root

    if getattr(args, "archive_root", None):
        return normalize_root(args.archive_root)
    if getattr(args, "manifest", None):
        return manifest_archive_root(args.manifest, args.manifest_root)
    return default_archive_root(args.input)


def options_key(config: IndexConfig) -> dict:
    """What shapes rows: when any of it changes, nothing is carried forward (all is read again).

    The QA and duplicate thresholds are not in it (see `qa_thresholds`): the per-clip QA
    seconds and the duplicates are recomputed from the stored samples when only they
    change. `dark_luma` is, since the stored samples' `dark_fraction` is measured with it.
    """
    import av

    from schemas import SCHEMA_VERSION
    from transforms.launcher.incremental import ROW_DEFINITIONS_VERSION

    key = {"schema_version": SCHEMA_VERSION, "definitions_version": ROW_DEFINITIONS_VERSION,
           "ffmpeg": av.ffmpeg_version_info, "tier": config.tier, "decode": config.decode,
           "hash": config.hash, "gap_factor": config.gap_factor}
    if config.decode != "none":  # these shape the samples only when frames are decoded
        key["qa"] = {"dark_luma": config.qa.dark_luma}
        key["thumbnails"] = config.thumbnails
    if config.device_from_path:  # shapes clips.device_id
        key["device_from_path"] = config.device_from_path
    # Shapes clip_id; a change is a move (the stored uris and ids are rebased), not a re-read.
    key["archive_root"] = config.archive_root
    return key


def qa_thresholds(config: IndexConfig) -> dict:
    """The thresholds applied to stored samples (QA seconds, duplicates): no decoding needed."""
    return {k: v for k, v in dataclasses.asdict(config.qa).items() if k != "dark_luma"}


def _has_flag(flags: list[str], name: str) -> bool:
    return any(flag == name or flag.startswith(name + "=") for flag in flags)


def _is_local_master(flags: list[str], name: str, local_values: tuple[str, ...]) -> bool:
    """Is --name unset, or set (as `--name V` or `--name=V`) to a local value?"""
    value = flag_value(flags, name)
    return value is None or value.startswith(local_values)


def portable_runner_defaults(runner: str, flags: list[str]) -> list[str]:
    """Defaults for Beam's portable runners that make them work on one machine as-is.

    Flink and Spark run Python code in a Docker SDK container unless told otherwise, which
    an embedded cluster does not need: on an embedded ([local]/[auto], local[N]) master
    the default here is LOOPBACK (SDK workers in this launcher process, which also keeps
    the progress folder local). Prism's INFO log drowns the progress lines. Flags given
    on the command line always win.
    """
    name = runner.rsplit(".", 1)[-1].lower()
    defaults = []
    embedded = ((name == "flinkrunner" and _is_local_master(flags, "--flink_master", ("[local]", "[auto]")))
                or (name == "sparkrunner" and _is_local_master(flags, "--spark_master_url", ("local",))))
    if embedded and not _has_flag(flags, "--environment_type"):
        defaults.append("--environment_type=LOOPBACK")
    if name == "prismrunner" and not _has_flag(flags, "--prism_log_level") \
            and not os.environ.get("CLIPINDEX_DEBUG"):
        defaults.append("--prism_log_level=warn")
    return defaults


class UsageProblem(Exception):
    """A flag neither clipindex nor Beam knows (exit 2)."""


def check_beam_args(beam_args: list[str]) -> None:
    """Refuse flags no Beam option class knows, instead of Beam's silent discard.

    Beam drops unparseable flags with a log warning, so a typo such as
    --clip-timout-s would quietly run with the default.
    """
    import logging

    from apache_beam.options.pipeline_options import PipelineOptions

    beam_logger = logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_logger.level
    beam_logger.setLevel(logging.ERROR)
    try:
        options = PipelineOptions(list(beam_args))
        unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
    finally:
        beam_logger.setLevel(level)
    if unknown:
        typed = {arg[2:].split("=", 1)[0].replace("-", "_"): arg.split("=", 1)[0]
                 for arg in beam_args if arg.startswith("--")}
        names = ", ".join(typed.get(name, "--" + name) for name in sorted(unknown))
        raise UsageProblem(f"unknown option {names}: not a clipindex option nor a Beam pipeline option")
    stray = [arg for arg in beam_args if not arg.startswith("-")]
    if stray and not any(arg.startswith("--") for arg in beam_args):
        raise UsageProblem(f"unexpected argument {stray[0]!r}")


def beam_options(args: argparse.Namespace, beam_args: list[str]) -> "PipelineOptions":
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.worker_env import worker_flags

    flags = list(beam_args)
    if args.runner:
        for_workers, warnings = worker_flags(args.runner, flags)
        for warning in warnings:
            print(f"clipindex: warning: {warning}", file=sys.stderr)
        flags = ["--runner", args.runner, *portable_runner_defaults(args.runner, flags), *for_workers, *flags]
    elif (sdk_workers := local_layout(args.workers, args.isolation)[0]) > 1:
        flags += ["--direct_running_mode=multi_processing", f"--direct_num_workers={sdk_workers}"]
    return PipelineOptions(flags)
