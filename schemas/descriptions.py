"""One sentence per column of every output table: docs/fields.md's column list is generated from
these and the schemas (`python tools/fields_doc.py`); tests/repo/test_fields_doc.py fails when a
column has no sentence or the document is stale."""

from __future__ import annotations

CLIPS = {
    "clip_id": "SHA-1 (16 hex digits) of the path below the archive root (`--archive-root`): the same "
               "file keeps its id when the archive is remounted or moved; a uri outside the root uses its whole uri",
    "uri": "where the file is now: an absolute local path or `gs://bucket/object`",
    "size_bytes": "the file's size when it was listed",
    "mtime_s": "the file's modification time (seconds since the epoch) when listed; with `size_bytes` "
               "(or `generation`) it decides whether a nightly run reads the file again",
    "generation": "the GCS object generation (null on local disks)",
    "sha256": "SHA-256 of the file's bytes (null with `--hash none`)",
    "container": "the container format: `mp4`, `mov`, `m4v`, `m4a`, `3gp`, `3g2`, `mj2` (from the ftyp box's "
                 "major brand: FFmpeg's demuxer calls them all `mov,mp4,m4a,3gp,3g2,mj2`), `matroska` or `webm` "
                 "(the EBML DocType), else FFmpeg's demuxer name (`avi`, `mpegts`, `flv`, ...)",
    "video_codec": "FFmpeg's name of the video codec (`h264`, `hevc`, ...)",
    "width": "coded picture width in pixels, before rotation",
    "height": "coded picture height in pixels, before rotation",
    "pix_fmt": "FFmpeg's pixel format (`yuv420p`, ...)",
    "rotation_deg": "display rotation from the stream's matrix or side data (0, 90, 180, 270)",
    "fps": "nominal (average) frame rate",
    "fps_num": "numerator of the nominal frame rate",
    "fps_den": "denominator of the nominal frame rate",
    "time_base_num": "numerator of the video stream's time base",
    "time_base_den": "denominator of the video stream's time base",
    "frame_count": "video packets counted (never estimated); see above",
    "frame_count_source": "how `frame_count` was counted: `index`, `packets` or `decode`",
    "header_frame_count": "what the container claims (`nb_frames`), null when it claims nothing",
    "duration_s": "first presented frame to the end of the last, measured on the timeline",
    "duration_source": "where `duration_s` was measured: `index`, `packets` or `decode`",
    "container_duration_s": "what the container header claims",
    "start_s": "presentation time of the first presented frame",
    "recorded_at": "the `creation_time` tag, UTC (null when absent or implausible)",
    "has_audio": "the file holds an audio stream",
    "audio_codec": "FFmpeg's name of the audio codec",
    "audio_duration_s": "length of the audio stream",
    "av_skew_s": "audio length minus video length",
    "keyframe_count": "video packets flagged as keyframes",
    "gap_count": "jumps longer than `--gap-factor` nominal frame intervals",
    "max_gap_s": "the longest such jump",
    "gap_total_s": "time lost in gaps",
    "nonmonotonic_dts_count": "decode timestamps that went backwards or repeated",
    "corrupt_packet_count": "packets FFmpeg flagged as corrupt",
    "vfr": "variable frame rate (frame intervals differ beyond rounding)",
    "truncated": "the file is cut short: the header promises more than the bytes hold",
    "bytes_read": "bytes FFmpeg pulled from the file to index it (the hash pass not included)",
    "index_wall_s": "seconds the clip took to index",
    "run_id": "the run that read the clip (carried rows keep theirs)",
    "warnings": "what was odd but not fatal, one sentence each",
    "qa_sampled_frames": "pictures decoded for visual QA (with `--decode`; null without); fewer than "
                         "`--dup-min-samples` is reported as `qa_insufficient_samples`",
    "qa_dark_s": "seconds of dark picture (covered lens)",
    "qa_frozen_s": "seconds of frozen picture",
    "qa_blurry_s": "seconds of blurry picture",
    "duplicate_of": "the `clip_id` of the original this clip copies (same bytes, or the same picture "
                    "re-encoded); the original is chosen by evidence ([duplicates.md](duplicates.md))",
    "device_id": "the device, read from the uri with `--device-from-path` (null without)",
    "video_stream_count": "real video streams in the file (cover art not counted)",
    "excerpt_of": "the `clip_id` of the longer clip this one is a stretch of",
    "excerpt_offset_s": "where in that clip the excerpt starts",
}
FRAMES = {
    "clip_id": "the clip (clips.clip_id)",
    "frame_index": "presentation order, from 0",
    "pts": "presentation timestamp in time-base units",
    "dts": "decode timestamp in time-base units",
    "time_base_num": "numerator of the time base",
    "time_base_den": "denominator of the time base",
    "pts_s": "presentation time in seconds",
    "is_keyframe": "the packet is a keyframe",
    "size_bytes": "the packet's size",
    "pos": "byte offset of the packet in the file, when known",
}
SAMPLES = {
    "clip_id": "the clip (clips.clip_id)",
    "pts_s": "presentation time of the sampled picture",
    "interval_s": "seconds this sample stands for (to the next one)",
    "is_keyframe": "the sampled picture is a keyframe",
    "mean_luma": "mean luma (0-255) of the picture downscaled to 160 px wide",
    "dark_fraction": "share of near-black pixels (at or below `--qa-dark-luma`)",
    "sharpness": "variance of the Laplacian",
    "change_from_previous": "mean absolute luma change from the previous sample",
    "phash": "64-bit DCT perceptual hash, bits as int64",
}
ERRORS = {
    "uri": "the input that could not be indexed",
    "clip_id": "its id, made as clips.clip_id is",
    "size_bytes": "its size when listed",
    "mtime_s": "its modification time when listed",
    "generation": "the GCS object generation (null on local disks)",
    "error_kind": "why, one of the error kinds (README: Error kinds)",
    "stage": "where it failed: match, open, probe, timeline, hash, isolate, index",
    "message": "one line saying what happened",
    "run_id": "the run that tried",
}
DISCREPANCIES = {
    "kind": "what is wrong ([reconcile.md](reconcile.md#discrepancies))",
    "uri": "the indexed file; for a row only the manifest has, its uri or file name as given",
    "clip_id": "clipindex's id; null when nothing was indexed (`missing`, `ambiguous`)",
    "evidence_id": "the manifest's `clip_id` (the export's own id, e.g. `Evidence ID`); null when unlisted",
    "manifest_row": "the manifest's row, 1 being the header",
    "device_id": "the index's device, else the manifest's",
    "officer_id": "the manifest's officer",
    "expected_duration_s": "the manifest's duration",
    "indexed_duration_s": "the clip's duration (the `--basis` compared)",
    "detail": "one sentence saying what differs and by how much",
}
TABLES = {"clips": CLIPS, "frames": FRAMES, "samples": SAMPLES, "errors": ERRORS,
          "reconcile/discrepancies": DISCREPANCIES}
