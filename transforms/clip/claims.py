"""What the header claims versus what was measured: truncation and warnings.

Pure functions. The header's claims (`header_frame_count`, the video stream's
duration, the container's duration) are kept in the output beside the
measured values; here they are compared, so that a disagreement becomes a
`truncated` flag or a warning, never a silent correction.
"""

from __future__ import annotations

from typing import Optional

from transforms.clip.probe import StreamFacts

# Containers that state no frame count (MKV/WebM, fragmented MP4, TS) are
# judged by duration. The container's duration is the longest stream's, and
# audio often runs a few of its frames (20-60 ms each) past the last video
# frame, so with audio only a shortfall beyond this is taken as a cut.
AUDIO_OVERHANG_S = 0.5


def claimed_duration_s(facts: StreamFacts) -> Optional[float]:
    """How long the header says the video is: the stream's duration, else the container's."""
    if facts.header_duration_ts:
        return float(facts.header_duration_ts * facts.time_base)
    return facts.container_duration_s


def is_truncated(facts: StreamFacts, frame_count: int, beyond_eof_count: int,
                 duration_s: float, interval_s: float) -> bool:
    """Is part of the clip the header describes missing from the bytes?

    Fewer frames than the header's count is not enough on its own: AVI counts
    its dropped-frame (empty) chunks in that count, so the shortfall must also
    shorten the readable timeline.
    """
    if beyond_eof_count > 0:
        return True
    claimed_s = claimed_duration_s(facts)
    if facts.header_frame_count is not None:
        shorter = claimed_s is None or duration_s < claimed_s - 1.01 * interval_s
        return frame_count < facts.header_frame_count and shorter
    slack_s = max(AUDIO_OVERHANG_S if facts.has_audio and not facts.header_duration_ts else 0.0,
                  2 * interval_s)
    return claimed_s is not None and duration_s < claimed_s - slack_s


def truncation_warning(facts: StreamFacts, frame_count: int, duration_s: float) -> str:
    claims = []
    if facts.header_frame_count is not None:
        claims.append(f"{facts.header_frame_count} frames")
    if facts.container_duration_s:
        claims.append(f"{facts.container_duration_s:.3f} s")
    return (f"truncated: header claims {' / '.join(claims) or 'more'}; "
            f"{frame_count} frames / {duration_s:.3f} s readable")


def header_warnings(facts: StreamFacts, frame_count: int, duration_s: float,
                    interval_s: float) -> list[str]:
    """Header claims that disagree with the measurement by more than a frame.

    The duration compared is the video stream's own when the header has one;
    the container's duration is the longest stream's, so it is only compared
    when there is no audio that could be the longer one (av_skew_s covers that).
    """
    warnings = []
    claimed = facts.header_frame_count
    if claimed is not None and abs(claimed - frame_count) > 1:
        warnings.append(f"header claims {claimed} frames; {frame_count} counted")
    if facts.header_duration_ts:
        claimed_s, what = float(facts.header_duration_ts * facts.time_base), "video stream"
    elif not facts.has_audio:
        claimed_s, what = facts.container_duration_s, "container"
    else:
        claimed_s, what = None, ""
    if claimed_s is not None and interval_s and abs(claimed_s - duration_s) > interval_s * 1.01:
        warnings.append(f"header claims {claimed_s:.3f} s ({what}); video timeline spans {duration_s:.3f} s")
    return warnings


def hidden_frames_warning(hidden_count: int, interval_s: float) -> Optional[str]:
    if not hidden_count:
        return None
    return (f"edit list hides {hidden_count} stored frames (~{hidden_count * interval_s:.3f} s): "
            "counted in frame_count, not in duration_s")
