"""synth: exact totals, determinism, and real files that FFmpeg agrees with."""

import glob
import json
import random
import subprocess

import pytest

from pipeline.synth import SynthProblem, plan_corpus, split_frames, synth
from tests.support.runs import needs_ffprobe, run_cli


@pytest.mark.parametrize("total,clips", [(54000, 40), (7, 7), (100, 3), (1_000_003, 17)])
def test_split_frames_sums_exactly(total, clips):
    parts = split_frames(total, clips, random.Random(1))
    assert sum(parts) == total
    assert len(parts) == clips and min(parts) >= 1


def test_split_frames_refuses_too_few_frames():
    with pytest.raises(SynthProblem):
        split_frames(3, 4, random.Random(0))


def test_plan_is_deterministic_for_a_seed():
    assert plan_corpus(20, 0.1, 30, seed=5) == plan_corpus(20, 0.1, 30, seed=5)
    assert plan_corpus(20, 0.1, 30, seed=5) != plan_corpus(20, 0.1, 30, seed=6)


def test_hours_must_be_whole_frames():
    with pytest.raises(SynthProblem):
        plan_corpus(2, 1e-7, 30, seed=0)


def test_same_seed_same_bytes(tmp_path):
    synth(str(tmp_path / "a"), clips=3, hours=0.002, seed=9)
    synth(str(tmp_path / "b"), clips=3, hours=0.002, seed=9)
    files_a = sorted(glob.glob(str(tmp_path / "a/clips/**/*.mp4"), recursive=True))
    files_b = sorted(glob.glob(str(tmp_path / "b/clips/**/*.mp4"), recursive=True))
    assert [open(f, "rb").read() for f in files_a] == [open(f, "rb").read() for f in files_b]


@needs_ffprobe
def test_ffprobe_agrees_with_the_manifest(small_corpus):
    rows = (small_corpus / "manifest.csv").read_text().splitlines()[1:]
    total_frames = 0
    for row in rows[:4]:
        uri, expected_s, recorded_at = row.split(",")[:3]
        probe = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
             "stream=nb_read_packets,duration,codec_name:format=format_name:format_tags=creation_time",
             "-of", "json", uri], capture_output=True, text=True, check=True).stdout)
        stream = probe["streams"][0]
        assert stream["codec_name"] == "h264"
        assert abs(float(stream["duration"]) - float(expected_s)) < 1e-3
        assert probe["format"]["tags"]["creation_time"].startswith(recorded_at.rstrip("Z"))
        total_frames += int(stream["nb_read_packets"])
    assert total_frames == round(sum(float(r.split(",")[1]) for r in rows[:4]) * 30)


def test_faststart_moov_before_mdat(small_corpus):
    path = next(iter(glob.glob(str(small_corpus / "clips/**/*.mp4"), recursive=True)))
    head = open(path, "rb").read(4096)
    assert head.find(b"moov") < head.find(b"mdat") or head.find(b"mdat") == -1


def test_cli_synth_bad_size_is_one_line_exit_2(tmp_path):
    result = run_cli("synth", str(tmp_path / "x"), "--clips", "2", "--hours", "0.01", "--size", "big")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_two_clips_share_three_aligned_segments():
    """Every clip is distinct footage: at any shift two clips agree on at most two GOPs."""
    import numpy as np

    plans = plan_corpus(200, 200 * 300 / 3600, 1, seed=2, size=(64, 48))  # 30 GOPs of 10 s per clip on average
    lines = [np.array(p.segments) for p in plans]
    longest = max(len(line) for line in lines)
    grid = np.full((len(lines), 3 * longest), -1)
    for number, line in enumerate(lines):
        grid[number, longest:longest + len(line)] = line
    for number, line in enumerate(lines):
        for shift in range(-len(line) + 1, longest):
            window = grid[:, longest + shift:longest + shift + len(line)]
            agree = ((window == line[:window.shape[1]]) & (window >= 0)).sum(axis=1)
            agree[number] = 0 if shift == 0 else agree[number]
            assert agree.max() <= 2, (number, shift)


def test_trim_writes_an_unlisted_excerpt_and_reencode_a_smaller_copy(tmp_path):
    import av

    from pipeline.synth import Reencode, Trim, excerpt_relpath_of, reencoded_relpath

    plans = synth(str(tmp_path), clips=3, hours=0.02, seed=4, reencode=[Reencode(0, "64x48")],
                  trims=[Trim(1, 4.0, 6.0)])
    with av.open(str(tmp_path / excerpt_relpath_of(plans[1]))) as excerpt:
        stream = excerpt.streams.video[0]
        frames = sum(1 for _ in excerpt.demux(stream) if _.size)
        assert frames == 6 * 30 and (stream.width, stream.height) == (160, 120)
    with av.open(str(tmp_path / reencoded_relpath(plans[0]))) as copy:
        assert (copy.streams.video[0].width, copy.streams.video[0].height) == (64, 48)
    listed = (tmp_path / "manifest.csv").read_text()
    assert "excerpt" not in listed and "reencoded" not in listed


@pytest.mark.parametrize("trim,message", [("1:2", "CLIP:START_S:SECONDS"), ("1:-1:5", "START_S"),
                                          ("1:500:5", "does not fit"), ("9:0:1", "there are 3 clips")])
def test_cli_bad_trim_is_one_line_exit_2(tmp_path, trim, message):
    result = run_cli("synth", str(tmp_path / "x"), "--clips", "3", "--hours", "0.01", "--trim", trim)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
