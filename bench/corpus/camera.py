"""Camera-shaped clips made with the ffmpeg CLI: recipes as data, one entry point.

    make_clip(path, recipe, duration_s, size="320x180", seed=0) -> path

Each `Recipe` is what a kind of camera writes (body cameras, dash cameras,
legacy in-car recorders): codec and B-frames, audio that starts late, a
timecode or subtitle track beside the video, a moov at the end, fragments,
an empty edit, dropped frames. Tests (tests/support/camera_media.py) pair each recipe
with what ffprobe must agree on; benchmarks build corpora from the same
recipes. Nothing here imports from tests/, and nothing but the ffmpeg CLI is
needed. `seed` changes the picture (lavfi noise seed and test pattern), so
clips of the same recipe are different footage; the same arguments give the
same clip.

A clip past 4 GiB is not a recipe but `make_large_clip`: one short, very high
bit-rate intra segment stream-copied until the file is big enough (so the
muxer writes `co64` and a 64-bit `mdat` size).

    python -m bench.corpus.camera OUT_DIR --recipe bodycam_moov_at_end --clips 3 --duration-s 432
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import tempfile
from typing import Optional

FFMPEG = ("ffmpeg", "-v", "error", "-nostdin", "-y")
NTSC_RATE = "30000/1001"  # 29.97 fps: what most cameras record
X264_HIGH_BFRAMES = ("-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "3",
                     "-pix_fmt", "yuv420p")
X264_NO_BFRAMES = ("-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "0",
                   "-pix_fmt", "yuv420p")
X265_BFRAMES = ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none:bframes=3",
                "-tag:v", "hvc1", "-pix_fmt", "yuv420p")
AAC = ("-c:a", "aac", "-b:a", "64k")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How one kind of camera file is made (all fields are plain data)."""

    name: str
    ext: str                                  # output file extension (picks the muxer)
    video_codec: tuple[str, ...]              # encoder arguments
    rate: str = NTSC_RATE
    video_bitrate: Optional[str] = "1M"       # None: the encoder's own rate control
    gop_frames: int = 30                      # keyframe interval
    audio_start_s: Optional[float] = None     # None: no audio; > 0: a pre-event buffer without sound
    audio_codec: tuple[str, ...] = AAC
    video_start_s: float = 0.0                # > 0: the first frame is shown this late (empty edit)
    drop_frames: Optional[tuple[int, int]] = None  # frames [a, b) never recorded (a hole in time)
    timecode: Optional[str] = None            # a `tmcd` track starting at this SMPTE timecode
    subtitles: bool = False                   # a mov_text subtitle track (from an .srt)
    muxer_args: tuple[str, ...] = ()          # -movflags, -f, -video_track_timescale, ...
    encoder: str = "libx264"                  # the encoder the recipe cannot do without
    bsf: tuple[str, ...] = ()                 # bitstream filters (e.g. Annex B for AVI)


def _h264(name: str, ext: str, **fields) -> Recipe:
    return Recipe(name, ext, X264_HIGH_BFRAMES, **fields)


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    # Body camera: 29.97 fps H.264 High with B-frames and AAC, moov written at the end.
    _h264("bodycam_moov_at_end", "mp4", audio_start_s=0.0),
    # The same, muxed with negative composition offsets instead of an edit list (ctts v1).
    _h264("negative_cts", "mp4", audio_start_s=0.0, muxer_args=("-movflags", "+negative_cts_offsets")),
    # Pre-event buffer: the camera keeps video from before the button press, sound only after.
    _h264("pre_event_buffer", "mp4", audio_start_s=30.0),
    # Dash camera: no B-frames, 90 kHz video timescale, a timecode track and a subtitle track.
    Recipe("ip_90khz_tmcd_subs", "mov", X264_NO_BFRAMES, audio_start_s=0.0, timecode="01:00:00;00",
           subtitles=True, muxer_args=("-video_track_timescale", "90000")),
    # An empty edit: the first frame is shown at 2 s.
    _h264("empty_edit_2s", "mp4", video_start_s=2.0),
    # Crash-safe recorder: fragmented MP4 with B-frames.
    _h264("fragmented", "mp4", audio_start_s=0.0,
          muxer_args=("-movflags", "frag_keyframe+empty_moov+default_base_moof")),
    # HEVC stored as `hvc1` (what Apple devices and newer cameras write), with B-frames.
    Recipe("hevc_hvc1", "mp4", X265_BFRAMES, audio_start_s=0.0, encoder="libx265"),
    # A B-frame clip that lost one second of frames (a busy SD card).
    _h264("dropped_frames", "mp4", audio_start_s=0.0, drop_frames=(60, 90)),
    # Legacy in-car recorder: MPEG-2 in an MPEG program stream, with dropped frames.
    Recipe("mpeg2_ps_dropped", "mpg", ("-c:v", "mpeg2video", "-bf", "2"), video_bitrate="2M", gop_frames=15,
           audio_start_s=0.0, audio_codec=("-c:a", "mp2", "-b:a", "128k"), drop_frames=(45, 60),
           muxer_args=("-f", "vob"), encoder="mpeg2video"),
    # The same camera footage in the containers the packets tier reads.
    _h264("bodycam_mkv", "mkv", audio_start_s=0.0),
    _h264("bodycam_ts", "ts", audio_start_s=0.0),
    _h264("bodycam_avi", "avi", audio_start_s=0.0, bsf=("-bsf:v", "h264_mp4toannexb")),
    Recipe("bodycam_webm", "webm", ("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"),
           audio_start_s=0.0, audio_codec=("-c:a", "libopus", "-b:a", "48k"), encoder="libvpx"),
)}


@functools.lru_cache(maxsize=None)
def has_encoder(name: str) -> bool:
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return f" {name} " in listing.stdout


def run_ffmpeg(args: list[str], timeout_s: float = 600) -> None:
    done = subprocess.run([*FFMPEG, *args], capture_output=True, text=True, timeout=timeout_s)
    if done.returncode:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")


def _video_input(recipe: Recipe, duration_s: float, size: str, seed: int) -> list[str]:
    # testsrc2 moves; seeded temporal noise makes each seed different footage (and costs bits
    # as a real sensor does).
    pattern = f"testsrc2=size={size}:rate={recipe.rate}:duration={duration_s}"
    noise = f"noise=alls=12:allf=t:all_seed={seed + 1}"
    hue = f"hue=h={(seed * 37) % 360}"
    return ["-f", "lavfi", "-i", f"{pattern},{noise},{hue}"]


def _srt(path: str, duration_s: float) -> str:
    lines = []
    for number, start in enumerate(range(0, max(1, int(duration_s)), 2), start=1):
        lines += [str(number), f"00:00:{start:02d},000 --> 00:00:{start + 1:02d},500", f"unit 12 note {number}", ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


def ffmpeg_args(recipe: Recipe, path: str, duration_s: float, size: str, seed: int, srt: Optional[str]) -> list[str]:
    """The ffmpeg CLI arguments that make `path` (`srt`: the subtitle file, when the recipe has one)."""
    args = _video_input(recipe, duration_s, size, seed)
    maps = ["-map", "0:v"]
    if recipe.audio_start_s is not None:
        audio_s = duration_s - recipe.audio_start_s
        if audio_s <= 0:
            raise ValueError(f"{recipe.name}: audio starts at {recipe.audio_start_s} s, after a {duration_s} s clip")
        if recipe.audio_start_s:
            args += ["-itsoffset", str(recipe.audio_start_s)]
        args += ["-f", "lavfi", "-i", f"sine=frequency={300 + seed % 500}:sample_rate=48000:duration={audio_s}"]
        maps += ["-map", "1:a"]
    if srt is not None:
        args += ["-i", srt]
        maps += ["-map", f"{args.count('-i') - 1}:s"]
    args += maps
    if recipe.drop_frames:
        first, stop = recipe.drop_frames
        args += ["-vf", f"select='not(between(n,{first},{stop - 1}))'", "-fps_mode", "vfr"]
    args += [*recipe.video_codec, "-g", str(recipe.gop_frames)]
    if recipe.video_bitrate:
        args += ["-b:v", recipe.video_bitrate]
    args += list(recipe.bsf)
    if recipe.audio_start_s is not None:
        args += list(recipe.audio_codec)
    if srt is not None:
        args += ["-c:s", "mov_text"]
    if recipe.timecode:
        args += ["-timecode", recipe.timecode]
    if recipe.video_start_s:
        # The mov muxer turns a late first timestamp into an empty edit (elst media_time -1).
        args += ["-output_ts_offset", str(recipe.video_start_s)]
    args += [*recipe.muxer_args, "-metadata", "creation_time=2026-01-05T07:00:00Z", path]
    return args


def make_clip(path: str, recipe: Recipe | str, duration_s: float, size: str = "320x180", seed: int = 0) -> str:
    """Write one clip of `recipe` (a Recipe or its name) to `path`; returns `path`."""
    recipe = RECIPES[recipe] if isinstance(recipe, str) else recipe
    if not has_encoder(recipe.encoder):
        raise LookupError(f"this ffmpeg has no {recipe.encoder} encoder (needed by {recipe.name})")
    with tempfile.TemporaryDirectory(prefix="camera-corpus-") as work:
        srt = _srt(os.path.join(work, "notes.srt"), duration_s) if recipe.subtitles else None
        run_ffmpeg(ffmpeg_args(recipe, path, duration_s, size, seed, srt))
    return path


def make_large_clip(path: str, min_bytes: int = (4 << 30) + (64 << 20), size: str = "1280x720",
                    seed: int = 0) -> str:
    """An MP4 past `min_bytes` (default 4 GiB + 64 MiB), made by copying one second of
    lossless intra-only noise (~1 MB a frame, so few packets) until it is big enough."""
    with tempfile.TemporaryDirectory(prefix="camera-large-", dir=os.path.dirname(path) or ".") as work:
        segment = os.path.join(work, "segment.mp4")
        run_ffmpeg(["-f", "lavfi", "-i", f"nullsrc=size={size}:rate=30:duration=1,geq=random(1)*255:128:128",
                    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "1", "-pix_fmt", "yuv420p",
                    "-metadata", f"comment=seed {seed}", segment])
        loops = -(-min_bytes // os.path.getsize(segment))
        run_ffmpeg(["-stream_loop", str(loops), "-i", segment, "-c", "copy", path], timeout_s=1800)
    return path


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.corpus.camera",
                                     description="Write camera-shaped clips of one recipe (distinct seeds).")
    parser.add_argument("out_dir")
    parser.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    parser.add_argument("--clips", type=int, default=1)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    recipe = RECIPES[args.recipe]
    for number in range(args.clips):
        path = os.path.join(args.out_dir, f"{recipe.name}-{number:05d}.{recipe.ext}")
        make_clip(path, recipe, args.duration_s, args.size, args.seed + number)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
