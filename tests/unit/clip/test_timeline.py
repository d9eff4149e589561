"""Pure functions of the timeline: continuity, index verdicts, sniffing, times."""

import datetime as dt
from fractions import Fraction

import numpy as np

from transforms.clip.continuity import measure
from transforms.clip.probe import StreamFacts, parse_creation_time
from transforms.clip.sniff import looks_like_media
from transforms.clip.timeline import NO_TS, Timeline, judge_index


def _timeline(pts, dts=None, durations=None):
    pts = np.array(pts, dtype=np.int64)
    return Timeline(source="packets", pts=pts, dts=np.array(dts if dts is not None else pts, dtype=np.int64),
                    is_keyframe=np.zeros(len(pts), bool), size_bytes=np.ones(len(pts), np.int32),
                    pos=np.full(len(pts), -1, np.int64),
                    duration=np.array(durations if durations is not None else [0] * len(pts), np.int64))


def _facts(frames=None, reorder=False):
    return StreamFacts(container="mov,mp4", video_codec="h264", width=16, height=16, pix_fmt=None,
                       rotation_deg=0, rate=Fraction(30), time_base=Fraction(1, 30), has_reorder=reorder,
                       header_frame_count=frames, header_duration_ts=None, container_duration_s=None,
                       recorded_at=None, has_audio=False, audio_codec=None, audio_duration_s=None)


def test_regular_timeline_has_no_gaps_and_exact_duration():
    cont = measure(_timeline(range(90)), Fraction(30), Fraction(1, 30))
    assert cont.gap_count == 0 and not cont.vfr
    assert cont.duration_ts == 90  # last frame gets one nominal interval


def test_two_second_hole_is_one_gap_of_two_seconds():
    pts = list(range(30)) + list(range(90, 120))  # frames 30..89 missing = 2.0 s
    cont = measure(_timeline(pts), Fraction(30), Fraction(1, 30))
    assert cont.gap_count == 1
    assert abs(cont.max_gap_ts / 30 - 2.0) <= 1 / 30


def test_presentation_order_with_b_frames():
    # decode order I P B B  -> pts 0 3 1 2
    cont = measure(_timeline([0, 3, 1, 2], dts=[-1, 0, 1, 2]), Fraction(30), Fraction(1, 30))
    assert cont.pts.tolist() == [0, 1, 2, 3]
    assert cont.order.tolist() == [0, 2, 3, 1]
    assert cont.nonmonotonic_dts_count == 0


def test_packet_duration_wins_for_last_frame():
    cont = measure(_timeline([0, 1, 2], durations=[1, 1, 5]), Fraction(30), Fraction(1, 30))
    assert cont.duration_ts == 2 + 5


def test_missing_timestamps_are_counted_not_invented():
    cont = measure(_timeline([0, 1, NO_TS], dts=[0, 1, NO_TS]), Fraction(30), Fraction(1, 30))
    assert cont.missing_ts_count == 1 and cont.duration_ts == 2


def test_vfr_detected_but_rounding_is_not_vfr():
    tb = Fraction(1, 90000)
    varying = measure(_timeline([0, 3000, 5000, 8000, 12000]), Fraction(30), tb)
    assert varying.vfr and varying.gap_count == 0
    # 20 fps in a 1/30 time base: steps of 2 and 1 ticks are rounding, not VFR.
    rounded = measure(_timeline([0, 2, 3, 5, 6, 8]), Fraction(20), Fraction(1, 30))
    assert not rounded.vfr


def test_index_verdicts():
    assert judge_index(_facts(10), 10, 100, 100, 0).usable
    assert not judge_index(_facts(10), 0, 0, 100, 0).usable
    assert "some frames" in judge_index(_facts(None), 3, 10, 100, 0).reason
    assert "beyond" in judge_index(_facts(10), 10, 200, 100, 4).reason
    assert "B-frames" in judge_index(_facts(10, reorder=True), 10, 100, 100, 0).reason


def test_sniffing():
    assert looks_like_media(b"\x00\x00\x00\x20ftypisom")
    assert looks_like_media(b"\x1a\x45\xdf\xa3rest")
    assert looks_like_media(bytes([0x47] + [0] * 187) * 3)
    assert not looks_like_media(b"hello, this is text")
    assert not looks_like_media(b"\x89PNG\r\n\x1a\n")


def test_creation_time_parsing():
    utc = dt.timezone.utc
    assert parse_creation_time("2026-01-05T09:48:05.000000Z") == dt.datetime(2026, 1, 5, 9, 48, 5, tzinfo=utc)
    assert parse_creation_time("2026-01-05 09:48:05") == dt.datetime(2026, 1, 5, 9, 48, 5, tzinfo=utc)
    assert parse_creation_time("2026-01-05T10:48:05+01:00") == dt.datetime(2026, 1, 5, 9, 48, 5, tzinfo=utc)
    assert parse_creation_time("yesterday") is None and parse_creation_time(None) is None


def test_hole_does_not_bend_the_nominal_interval():
    # The header's average rate counts the hole as frame time (90 frames / 5 s = 18 fps).
    pts = list(range(30)) + list(range(90, 150))
    cont = measure(_timeline(pts), Fraction(18), Fraction(1, 30))
    assert cont.nominal_interval_ts == 1
    assert cont.gap_count == 1 and cont.max_gap_ts == 60 and not cont.vfr


def test_edit_list_hidden_frames_count_but_do_not_last():
    timeline = _timeline(range(-6, 30))
    timeline.is_discard = np.arange(36) < 6
    cont = measure(timeline, Fraction(30), Fraction(1, 30))
    assert cont.hidden_count == 6 and cont.start_ts == 0 and cont.duration_ts == 30


def test_truncation_needs_a_shorter_timeline_not_just_fewer_frames():
    from dataclasses import replace

    from transforms.clip.claims import is_truncated

    avi = replace(_facts(150), header_duration_ts=150)   # 60 empty drop chunks, counted by the header
    assert not is_truncated(avi, 90, 0, 5.0, 1 / 30)
    assert is_truncated(avi, 52, 0, 1.733, 1 / 30)
    assert is_truncated(_facts(90), 90, 3, 3.0, 1 / 30)   # index lists samples past EOF
    mkv = replace(_facts(None), container_duration_s=3.0)
    assert is_truncated(mkv, 52, 0, 1.733, 1 / 30) and not is_truncated(mkv, 90, 0, 3.0, 1 / 30)


def test_presentation_order_shortcut_matches_the_sort():
    """Sorted timelines skip the argsort; the result must equal the sorted path's."""
    rng = np.random.default_rng(3)
    pts = np.cumsum(rng.integers(900, 1100, size=300)).astype(np.int64)
    in_order = measure(_timeline(pts), Fraction(30), Fraction(1, 30000))
    shuffled = rng.permutation(300)
    sorted_path = measure(_timeline(pts[shuffled]), Fraction(30), Fraction(1, 30000))
    np.testing.assert_array_equal(in_order.pts, sorted_path.pts)
    np.testing.assert_array_equal(shuffled[sorted_path.order], in_order.order)
    for field in ("start_ts", "duration_ts", "nominal_interval_ts", "gap_count", "max_gap_ts",
                  "gap_total_ts", "missing_ts_count", "vfr"):
        assert getattr(in_order, field) == getattr(sorted_path, field), field


def test_malloc_tuning_is_glibc_only_and_defers_to_the_user(monkeypatch):
    from transforms.isolation.malloc_tuning import keep_heap_warm

    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert keep_heap_warm() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert keep_heap_warm() in (True, False)  # True on glibc (this suite's Debian), never raises
