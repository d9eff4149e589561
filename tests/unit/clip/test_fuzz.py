"""Fuzzing: 200 damaged clips through the isolated worker, every one accounted for.

The mutations (bit flips, overwritten runs, cuts, swapped and mis-sized MP4
boxes) are deterministic from the seed; `python tools/fuzz.py --seed S --count N`
runs as many more as you like. Inputs that once broke the worker are kept
below as recipes that rebuild them, not as committed files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import ErrorRecord, FileInfo, IndexConfig
from tools import fuzz
from tools.mutate import make_clip
from transforms.isolation.pool import IsolatedIndexer

FUZZ_SEED = 20260105
FUZZ_CASES = 200


def test_fuzzed_clips_keep_the_contract():
    report = fuzz.run(FUZZ_SEED, FUZZ_CASES, quiet=True)
    assert sum(report.counts.values()) == FUZZ_CASES
    assert report.broken == []
    # `crash` and `timeout` rows are the isolation doing its job (FFmpeg's
    # fault); `internal` would be a bug in clipindex itself.
    assert not [line for line in report.suspects if ": internal: " in line]
    assert report.wall_s < 60, f"{FUZZ_CASES} cases took {report.wall_s:.1f} s"
    assert report.counts["clip"] > 0 and len(report.counts) > 2  # the damage varies outcomes


def _patched(data: bytes, old: bytes, new: bytes, after: bytes = b"moov") -> bytes:
    """Replace the first `old` found after the `after` marker (so not in ftyp's brands)."""
    at = data.index(old, data.index(after))
    return data[:at] + new + data[at + len(old):]


# Inputs the fuzzer found that killed the worker (Python exceptions inside
# PyAV-facing code: the child died with exit status 1 and the row said `crash`).
REGRESSIONS = {
    # av.open raised UnicodeDecodeError on a stream tag with invalid UTF-8.
    "latin1_handler_name": (lambda d: _patched(d, b"VideoHandler", b"Vid\xe9oHandler"), "clip"),
    # The audio sample entry and its esds overwritten with 0xff (seed 0 case 94 of the
    # first fuzz run): no audio codec context, and probe raised AttributeError.
    "unknown_audio_codec": (lambda d: _patched(d, b"mp4a", b"\xff" * 64), "clip"),
    # The same for the video track: nothing can be read, so it is corrupt.
    "unknown_video_codec": (lambda d: _patched(d, b"avc1", b"q\xffq\xff"), "error:corrupt"),
}


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz_regressions") / "av.mp4"
    return Path(make_clip(str(path), faststart=False, audio=True)).read_bytes()


@pytest.fixture(scope="module")
def indexer():
    worker = IsolatedIndexer(IndexConfig(clip_timeout_s=10))
    yield worker
    worker.close()


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_fuzz_regression(name, clip_with_audio, indexer, tmp_path):
    recipe, expected = REGRESSIONS[name]
    path = tmp_path / f"{name}.mp4"
    path.write_bytes(recipe(clip_with_audio))
    result = indexer.index(FileInfo(str(path), path.stat().st_size, None))
    assert fuzz.contract_problem(result) is None
    assert fuzz.outcome(result) == expected, result if isinstance(result, ErrorRecord) else result.clip.warnings


def test_damaged_moov_tables_agree_with_ffmpeg_or_are_declined():
    """The sample-table readers never stand in for FFmpeg's demuxer with other numbers.

    400 damaged clips (stts/ctts/elst/stss/stsz/stco boxes, moof/traf/tfhd/tfdt/trun/sidx
    boxes, box sizes, cuts): whenever the header tier takes its own table, every packet's
    pts, dts, duration, position, size and discard flag equal what FFmpeg demuxes.
    `python tools/fuzz_moov.py --seed S --count N` runs as many more as you like.
    """
    from tools import fuzz_moov

    report = fuzz_moov.run(seed=11, count=400)
    assert report.disagreements == []
    assert report.taken > 150 and report.declined > 40  # both paths exercised
    fragments = sum(count for seed, count in report.taken_by_seed.items() if seed.startswith("fragment"))
    edits = report.taken_by_seed["cut_in.mp4"] + report.taken_by_seed["late_start.mov"]
    assert fragments > 30 and edits > 10, report.taken_by_seed
