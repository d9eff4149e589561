"""Matching rules that never guess, and copies (pure functions on Arrow columns)."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.reconcile.copies import DUPLICATE, EXCERPT, ORIGINAL, find_copies
from transforms.reconcile.match_rows import make_side, match_rows

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)


def _side(rows, window_s=None):
    uri, clip_id, device, seconds = (list(c) for c in zip(*rows))
    uri, clip_id = pa.array(uri, pa.string()), pa.array(clip_id, pa.string())
    times = pa.array([None if s is None else T0 + dt.timedelta(seconds=s) for s in seconds],
                     pa.timestamp("us", tz="UTC"))
    window = None if window_s is None else np.full(len(rows), window_s)
    return make_side(uri, clip_id, pa.array(device, pa.string()), times, pc.coalesce(uri, clip_id), window)


def _match(manifest, index, window_s=3.0):
    result = match_rows(_side(manifest, window_s), _side(index))
    # Every row ends in exactly one outcome, on both sides.
    matched_m, matched_i = result.m_index >= 0, result.i_manifest >= 0
    assert not (matched_m & result.m_ambiguous).any() and not (matched_i & result.i_ambiguous).any()
    assert matched_m.sum() == matched_i.sum()
    assert (result.i_manifest[result.m_index[matched_m]] == np.flatnonzero(matched_m)).all()
    assert set(result.candidates) == set(np.flatnonzero(result.m_ambiguous).tolist())
    return result


# Three cameras, each numbering from GX010001: names repeat on every device.
INDEX = [("/a/DEV01/GX010001.MP4", "c1", "DEV01", 0), ("/a/DEV02/GX010001.MP4", "c2", "DEV02", 100),
         ("/a/DEV03/GX010001.MP4", "c3", "DEV03", 200), ("/a/DEV01/GX010002.MP4", "c4", "DEV01", 300),
         ("/a/DEV02/GX010002.MP4", "c5", "DEV02", 400)]
EXPORT = [("GX010001.MP4", "E1", "DEV01", 0), ("GX010001.MP4", "E2", "DEV02", 100),
          ("GX010001.MP4", "E3", "DEV03", 200), ("GX010002.MP4", "E4", "DEV01", 300),
          ("GX010002.MP4", "E5", "DEV02", 400)]


def test_device_and_file_name_tell_repeated_names_apart():
    result = _match(EXPORT, INDEX)
    assert result.m_index.tolist() == [0, 1, 2, 3, 4] and set(result.m_rule.tolist()) == {2}


def test_a_missing_clip_is_not_hidden_by_its_namesake_on_another_device():
    result = _match(EXPORT, INDEX[:4])  # DEV02/GX010002 is gone; DEV01/GX010002 is not it
    assert result.m_index.tolist() == [0, 1, 2, 3, -1] and not result.m_ambiguous.any()


def test_without_device_and_time_repeated_names_are_ambiguous_not_matched():
    bare = [(uri, clip_id, None, None) for uri, clip_id, _, _ in EXPORT]
    result = _match(bare, INDEX)
    assert (result.m_index == -1).all() and result.m_ambiguous.all() and result.i_ambiguous.all()
    assert result.candidates[0] == ("file name", 3, [0, 1, 2])
    assert result.candidates[3] == ("file name", 2, [3, 4])


def test_a_name_never_matches_a_row_of_another_device():
    result = _match([("GX010009.MP4", "E1", "DEV02", None)], [("/a/DEV01/GX010009.MP4", "c1", "DEV01", 0)])
    assert result.m_index.tolist() == [-1] and not result.m_ambiguous.any()
    unknown_device = _match([("GX010009.MP4", "E1", "DEV02", None)], [("/a/x/GX010009.MP4", "c1", None, 0)])
    assert unknown_device.m_index.tolist() == [0] and unknown_device.m_rule.tolist() == [5]


def test_time_tells_apart_one_camera_numbering_again_after_a_card_format():
    index = [("/a/DEV01/d1/GX010001.MP4", "c1", "DEV01", 0), ("/a/DEV01/d2/GX010001.MP4", "c2", "DEV01", 86400)]
    both = _match([("GX010001.MP4", "E1", "DEV01", 86401), ("GX010001.MP4", "E2", "DEV01", 1)], index)
    assert both.m_index.tolist() == [1, 0] and both.m_rule.tolist() == [3, 3]
    untimed = _match([("GX010001.MP4", "E1", "DEV01", None)], index)
    assert untimed.m_ambiguous.tolist() == [True] and untimed.candidates[0][:2] == ("device and file name", 2)


def test_a_row_whose_candidates_went_to_better_timed_rows_is_missing_not_ambiguous():
    index = [("/a/DEV01/d2/GX010001.MP4", "c2", "DEV01", 86400)]
    result = _match([("GX010001.MP4", "E1", "DEV01", 86401), ("GX010001.MP4", "E2", "DEV01", 1)], index)
    assert result.m_index.tolist() == [0, -1] and not result.m_ambiguous.any()


def test_device_and_time_when_the_export_names_no_file():
    index = [("/a/DEV01/abc.MP4", "c1", "DEV01", 0), ("/a/DEV01/def.MP4", "c2", "DEV01", 10)]
    result = _match([("Traffic stop", "E1", "DEV01", 1), ("Other", "E2", "dev01", 9),
                     ("Far", "E3", "DEV01", 5)], index)
    assert result.m_index.tolist() == [0, 1, -1] and result.m_rule.tolist() == [4, 4, -1]
    crowded = _match([("Traffic stop", "E1", "DEV01", 5)], index, window_s=6)
    assert crowded.m_ambiguous.tolist() == [True] and crowded.candidates[0] == ("device and time", 2, [0, 1])


def test_two_manifest_rows_for_one_file_are_both_ambiguous():
    result = _match([("GX010001.MP4", "E1", "DEV01", None), ("GX010001.MP4", "E2", "DEV01", None)], INDEX[:1])
    assert result.m_ambiguous.tolist() == [True, True] and result.i_ambiguous.tolist() == [True]
    assert result.candidates[0] == ("device and file name", 1, [0])


def test_uri_and_clip_id_come_first():
    result = _match([("/a/DEV02/GX010001.MP4", None, "DEV01", None), (None, "c4", None, None)], INDEX)
    assert result.m_index.tolist() == [1, 3] and result.m_rule.tolist() == [0, 1]


def _clips(**columns):
    count = len(columns["clip_id"])
    base = {name: [None] * count for name in ("sha256", "duplicate_of", "excerpt_of")}
    table = {**base, "uri": [f"/u/{c}" for c in columns["clip_id"]], **columns}
    return pa.table({name: pa.array(values, pa.string()) for name, values in table.items()})


def test_copies_prefer_the_listed_one_as_original():
    clips = _clips(clip_id=["a", "b", "c", "d"], sha256=["h1", "h1", None, None], duplicate_of=[None, None, None, "c"])
    plain = find_copies(clips, np.zeros(4, dtype=bool))
    assert plain.kind.tolist() == [ORIGINAL, DUPLICATE, ORIGINAL, DUPLICATE] and plain.of.tolist() == [-1, 0, -1, 2]
    assert plain.same_bytes.tolist() == [False, True, False, False]
    listed = find_copies(clips, np.array([False, True, False, True]))
    assert listed.kind.tolist() == [DUPLICATE, ORIGINAL, DUPLICATE, ORIGINAL] and listed.of.tolist() == [1, -1, 3, -1]


def test_excerpts_are_their_own_kind():
    clips = _clips(clip_id=["a", "b", "c"], excerpt_of=[None, "a", "gone"])
    found = find_copies(clips, np.zeros(3, dtype=bool))
    assert found.kind.tolist() == [ORIGINAL, EXCERPT, EXCERPT] and found.of.tolist() == [-1, 0, -1]
