#!/usr/bin/env bash
# Benchmarks of clipindex (see BENCHMARKS.md). Corpora go to bench/work/ (git-ignored),
# results to bench/results/*.json. The harness is in bench/lib/, corpus builders (shared with
# the tests) in bench/corpus/; every benchmark module is reachable from here.
#
#   ./bench/run.sh throughput [ARGS]  # clipindex header/packets vs ffprobe and bare PyAV,
#                                     # 3000 one-minute 30 fps clips (python -m bench.throughput --help)
#   ./bench/run.sh large [ARGS]       # header tier vs ffprobe and bare PyAV on 15,000 such clips
#   ./bench/run.sh camera [ARGS]      # 300 distinct 7.2-minute H.264 High B-frame + AAC clips, moov
#                                     # at the end: clipindex vs ffprobe and bare PyAV (bench.camera)
#   ./bench/run.sh boston [ARGS]      # 38,200 clips / 4,600 h at 1 fps: index + reconcile
#   ./bench/run.sh nights [ARGS]      # the Boston corpus, then a night adding 105 clips: what night 2
#                                     # writes and leaves alone, --compare-repo DIR (bench.nights)
#   ./bench/run.sh slice [ARGS]       # 382 clips / 46 h at 30 fps
#   ./bench/run.sh scale [ARGS]       # series of 1k, 4k, 16k clips (per-clip time, peak RSS)
#   ./bench/run.sh estimate ARGS      # cluster estimate, e.g. --clips 38200 --hours 4600 --workers 16
#   ./bench/run.sh reconcile [ARGS]   # exports of 38,200 and 1,000,000 rows against a 38,200-clip index
#   ./bench/run.sh packets [ARGS]     # packets tier vs a bare PyAV demux loop on MKV, TS, AVI, WebM
#                                     # camera-shaped clips (python -m bench.packets --help)
#   ./bench/run.sh long [ARGS]        # reader memory on a 10-minute and a 4-hour clip (bench.long_clips)
#   ./bench/run.sh duplicates [ARGS]  # 38,200 clips with planted copies/excerpts, --decode keyframes,
#                                     # recall at 3,800 vs 38,200, an incremental night (bench.duplicates_scale)
#   ./bench/run.sh duplicates_real [ARGS]  # real sample videos: distorted copies paired, different
#                                     # stretches of one shot not (bench.duplicates_real, --decode fps:2)
#   ./bench/run.sh visual_qa [ARGS]   # keyframe QA vs bare PyAV on 720p/1080p B-frame clips
#   ./bench/run.sh visual_qa_sd [ARGS] # --decode keyframes/fps vs bare PyAV at 640x360 (bench.visual_qa)
#   ./bench/run.sh tiers [ARGS]       # header tier vs packets tier, throughput and bytes read
#   ./bench/run.sh isolation [ARGS]   # what per-clip process isolation costs (--isolation process vs none)
#   ./bench/run.sh matching [ARGS]    # finding 38,200 inputs (case, sidecars, --exclude) vs a bare walk
#   ./bench/run.sh resume [ARGS]      # reading a Boston-size checkpoint and deciding what to keep
#   ./bench/run.sh unattended [ARGS]  # a night where only QA thresholds change (no decoding again)
#   ./bench/run.sh bucket [ARGS]      # local disk vs gs:// (fake-gcs-server behind a delaying, counting
#                                     # proxy): ratios, requests/clip, MiB/clip, listing (bench.bucket)
#   ./bench/run.sh all                # throughput (+sha256), slice, boston, scale
#   ./bench/run.sh clean              # delete bench/work/
#
# PYTHON defaults to .venv/bin/python of this checkout, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
what=${1:-throughput}
shift || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) cores)" >&2
case "$what" in
  throughput) exec "$PYTHON" -m bench.throughput "$@" ;;
  large) exec "$PYTHON" -m bench.throughput --name large-throughput --corpus bench/work/throughput-15000 \
           --clips 15000 --hours 250 --tiers header --repeat 2 --ffprobe-once "$@" ;;
  camera) exec "$PYTHON" -m bench.camera "$@" ;;
  boston|slice) exec "$PYTHON" -m bench.scale "$what" "$@" ;;
  scale|series) exec "$PYTHON" -m bench.scale series "$@" ;;
  estimate) exec "$PYTHON" -m bench.estimate "$@" ;;
  reconcile) exec "$PYTHON" -m bench.reconcile_scale "$@" ;;
  packets) exec "$PYTHON" -m bench.packets "$@" ;;
  long) exec "$PYTHON" -m bench.long_clips "$@" ;;
  duplicates) exec "$PYTHON" -m bench.duplicates_scale "$@" ;;
  duplicates_real) exec "$PYTHON" -m bench.duplicates_real "$@" ;;
  visual_qa) exec "$PYTHON" -m bench.visual_qa_hd "$@" ;;
  visual_qa_sd) exec "$PYTHON" -m bench.visual_qa "$@" ;;
  tiers|isolation|matching|resume|unattended|nights) exec "$PYTHON" -m "bench.$what" "$@" ;;
  bucket) exec "$PYTHON" -m bench.bucket "$@" ;;
  all)
    "$PYTHON" -m bench.throughput --sha256 "$@"
    "$PYTHON" -m bench.scale slice
    "$PYTHON" -m bench.scale boston
    "$PYTHON" -m bench.scale series
    "$PYTHON" -m bench.estimate --clips 38200 --hours 4600 --fps 30 --workers 16 ;;
  clean) rm -rf bench/work ;;
  *) echo "usage: $0 throughput|large|camera|boston|slice|scale|estimate|reconcile|packets|long|duplicates|duplicates_real|visual_qa|visual_qa_sd|tiers|isolation|matching|resume|unattended|bucket|all|clean [ARGS]" >&2; exit 2 ;;
esac
