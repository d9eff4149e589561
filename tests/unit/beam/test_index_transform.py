"""IndexClips as a Beam transform: TestPipeline on the FnApiRunner + assert_that."""

import glob

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import FileInfo, IndexConfig
from transforms.clip.index_clip import clip_id_for
from transforms.beam.index_clips import ERRORS_TAG, FRAMES_TAG, IndexClips
from transforms.launcher.find_inputs import match_patterns


def _manifest_frames(corpus, uris):
    rows = [line.split(",") for line in (corpus / "manifest.csv").read_text().splitlines()[1:]]
    wanted = set(uris)
    return [(r[0], round(float(r[1]) * 30)) for r in rows if r[0] in wanted]


def _inputs(corpus, tmp_path):
    good = sorted(glob.glob(str(corpus / "clips/**/*.mp4"), recursive=True))[:3]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    return good, [FileInfo(p, None, None) for p in good + [str(empty), str(text)]]


def test_index_clips_outputs_one_row_per_input(small_corpus, tmp_path):
    good, files = _inputs(small_corpus, tmp_path)
    config = IndexConfig(hash="none", isolation="none")
    with BeamTestPipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(files) | IndexClips(config)
        assert_that(out.clips | "ClipUris" >> beam.Map(lambda c: (c.uri, c.frame_count_source)),
                    equal_to([(uri, "index") for uri in good]), label="clips")
        assert_that(out[ERRORS_TAG] | beam.Map(lambda e: (e.uri.rsplit("/", 1)[-1], e.error_kind)),
                    equal_to([("empty.mp4", "empty_file"), ("notes.mp4", "not_media")]), label="errors")
        # One frame row per frame, and as many frames as the manifest says (30 fps).
        frames_per_clip = out[FRAMES_TAG] | beam.Map(lambda b: (b.column("clip_id")[0].as_py(), b.num_rows))
        counted = out.clips | "Counted" >> beam.Map(lambda c: (c.clip_id, c.frame_count))
        expected = [(clip_id_for(uri), frames) for uri, frames in _manifest_frames(corpus=small_corpus, uris=good)]
        assert_that(frames_per_clip, equal_to(expected), label="frames")
        assert_that(counted, equal_to(expected), label="frame_count")


def test_isolated_worker_gives_the_same_rows(small_corpus, tmp_path):
    good, files = _inputs(small_corpus, tmp_path)
    with BeamTestPipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(files) | IndexClips(IndexConfig(hash="sha256", isolation="process"))
        assert_that(out.clips | beam.Map(lambda c: (c.uri, len(c.sha256))),
                    equal_to([(uri, 64) for uri in good]), label="clips")
        assert_that(out[ERRORS_TAG] | beam.Map(lambda e: e.error_kind),
                    equal_to(["empty_file", "not_media"]), label="errors")


def test_globstar_matches_zero_folders(tmp_path):
    (tmp_path / "clips" / "a" / "b").mkdir(parents=True)
    for name in ("top.mp4", "a/mid.mp4", "a/b/deep.mp4", "a/b/other.bin"):
        (tmp_path / "clips" / name).write_bytes(b"x")
    found = {f.uri[len(str(tmp_path)) + 1:] for f in match_patterns([str(tmp_path / "clips/**/*.mp4")])}
    assert found == {"clips/top.mp4", "clips/a/mid.mp4", "clips/a/b/deep.mp4"}
    everything = match_patterns([str(tmp_path / "clips/**")])
    assert len(everything) == 4  # folders reached by ** are walked, not listed
