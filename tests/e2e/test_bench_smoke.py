"""The benchmark harness runs end to end on a tiny corpus (the real benchmarks are not tests)."""

import json

from tests.support.runs import needs_ffprobe


@needs_ffprobe
def test_throughput_harness_on_four_clips(tmp_path):
    from bench import estimate, throughput

    corpus, results = tmp_path / "corpus", tmp_path / "results"
    assert throughput.main(["--corpus", str(corpus), "--clips", "4", "--hours", "0.004",
                            "--size", "32x32", "--tiers", "header", "--results", str(results)]) == 0
    (path,) = results.glob("throughput-*.json")
    summary = json.loads(path.read_text())
    names = {row["name"]: row for row in summary["results"]}
    assert set(names) == {"clipindex header", "ffprobe loop", "bare PyAV header"}
    frames = {row["frames"] for row in names.values()}
    assert frames == {round(0.004 * 3600 * 30)}, "every contender saw the same frames"
    assert names["clipindex header"]["peak_rss_bytes"] > 0
    assert names["clipindex header"]["bytes_read"] > 0
    assert {"header_vs_ffprobe", "header_vs_bare_pyav"} <= set(summary["ratios"])
    fit = estimate.fit_costs(summary, None)
    result = estimate.estimate(fit["costs"], 38200, 4600, 30, 16, 180, 0.8, 0.0, 3600)
    assert result["header"]["wall_s"] >= 180


def test_process_tree_sampler_sums_children():
    import sys

    from bench.lib.measure import run_measured

    code = ("import subprocess, sys; b = bytearray(60 * 2**20); "
            "subprocess.run([sys.executable, '-c', 'import time; b = bytearray(60 * 2**20); time.sleep(1)'])")
    measured = run_measured([sys.executable, "-c", code], interval_s=0.05)
    assert measured.returncode == 0
    assert measured.peak_processes >= 2
    assert measured.peak_rss_bytes > 120 * 2**20


def test_reconcile_scale_harness_on_a_small_index(tmp_path):
    from bench import reconcile_scale

    results = tmp_path / "results"
    assert reconcile_scale.main(["--clips", "120", "--rows", "300", "--work", str(tmp_path / "work"),
                                 "--results", str(results)]) == 0
    (path,) = results.glob("reconcile-scale-*.json")
    runs = {run["name"]: run for run in json.loads(path.read_text())["runs"]}
    export = runs["export of 300 rows"]
    assert export["discrepancies"] == 180 and export["peak_rss_bytes"] > 0 and export["exit"] == 1
    assert "expected 300 = matched 120 + listed copies 0 + missing 180 + ambiguous 0" in export["identity"]


@needs_ffprobe
def test_camera_harness_on_three_clips(tmp_path):
    """bench/camera.py: B-frame clips joined from segments, indexed from their tables."""
    from bench import camera

    corpus, results = tmp_path / "corpus", tmp_path / "results"
    assert camera.main(["--corpus", str(corpus), "--clips", "3", "--minutes", "0.1", "--looks", "3",
                        "--segment-s", "2", "--size", "64x48", "--results", str(results)]) == 0
    (path,) = results.glob("camera-*.json")
    summary = json.loads(path.read_text())
    assert summary["frame_count_source"] == {"index": 3}
    names = {row["name"]: row for row in summary["results"]}
    assert {row["frames"] for row in names.values()} == {3 * 180}, "every contender saw the same frames"
    assert {"vs_ffprobe", "vs_bare_pyav_demux"} <= set(summary["ratios"])


@needs_ffprobe
def test_packets_harness_on_two_mkv_clips(tmp_path):
    from bench import packets

    assert packets.main(["--containers", "mkv", "--clips", "2", "--minutes", "0.05", "--bases", "1",
                         "--repeat", "1", "--per-clip", "1", "--work", str(tmp_path / "work"),
                         "--results", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("packets-*.json")
    (mkv,) = json.loads(path.read_text())["containers"]
    names = {row["name"] for row in mkv["results"]}
    assert names == {"clipindex auto", packets.BARE, packets.BARE_DISCARD}
    assert mkv["frame_count_sources"] == {"packets": 1}
    assert mkv["vs_bare"] > 0 and mkv["vs_bare_discarding"] > 0
    assert set(mkv["per_clip_cpu_ms"]) == {"clipindex reader", "bare", "bare, others discarded"}


@needs_ffprobe
def test_long_clips_harness(tmp_path):
    from bench import long_clips

    assert long_clips.main(["--kinds", "mkv", "--hours", "0.002", "--short-minutes", "0.05",
                            "--work", str(tmp_path / "work"), "--results", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("long-clips-*.json")
    rows = json.loads(path.read_text())["rows"]
    assert [row["frames"] for row in rows] == [90, 216]
    assert all(row["peak_rss_bytes"] >= row["rss_before_bytes"] > 0 for row in rows)


def test_sampler_reports_the_launcher_and_its_largest_worker_apart():
    import sys

    from bench.lib.measure import run_measured

    code = ("import subprocess, sys; b = bytearray(20 * 2**20); "
            "subprocess.run([sys.executable, '-c', 'import time; b = bytearray(90 * 2**20); time.sleep(1)'])")
    measured = run_measured([sys.executable, "-c", code], interval_s=0.05)
    assert measured.peak_child_rss_bytes > 90 * 2**20 > measured.peak_root_rss_bytes > 20 * 2**20


def test_duplicates_harness_on_a_tiny_archive(tmp_path):
    from bench import duplicates_scale

    results = tmp_path / "results"
    # The smaller archive's run is the same code on a manifest: left to the real benchmark.
    assert duplicates_scale.main(["--clips", "30", "--hours", "3", "--small", "20", "--copies", "2",
                                  "--excerpts", "1", "--night-clips", "3", "--night-copies", "1", "--skip-small",
                                  "--work", str(tmp_path / "work"), "--results", str(results)]) == 0
    (path,) = results.glob("duplicates-*.json")
    summary = json.loads(path.read_text())
    assert [(s["clips"], s["found"], s["false_pairs"]) for s in summary["recall_by_size"]] == [(30, 3, 0)]
    night = summary["night2"]
    assert (night["found_tonight"], night["false_pairs"], night["pairs_without_a_new_clip"]) == (1, 0, 0)
    assert summary["runs"][-1]["reindexed"] == 3
    assert summary["distances"]["copies"]["agreeing_fraction"]["min"] >= 0.8


def test_keyframe_qa_fit_and_worker_hours():
    from bench.estimate import qa_estimate
    from bench.visual_qa_hd import fit

    def row(group, keyframes, seconds):  # 10 ms per keyframe, 2 ms per second besides
        return {"group": group, "keyframes": keyframes, "seconds": seconds,
                "clipindex": {"cpu_s": keyframes * 0.010 + seconds * 0.002}}

    fitted = fit([row("720p", 40, 40), row("720p", 20, 40), row("1080p", 20, 40)])
    assert list(fitted) == ["720p"]  # one keyframe density cannot be split
    assert fitted["720p"] == {"cpu_s_per_keyframe": 0.01, "cpu_s_per_clip_second_besides": 0.002}
    estimate = qa_estimate(fitted["720p"], hours=1.0, gops={1.0: 0.5, 2.0: 0.5}, workers=2, efficiency=1.0)
    assert estimate["keyframes"] == 2700 and estimate["core_hours"] == round((27 + 7.2) / 3600, 2)
