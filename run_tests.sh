#!/usr/bin/env bash
# Run the test suite: creates .venv, installs clipindex with test extras, runs pytest.
#   ./run_tests.sh            # the whole suite (a few minutes on 2 cores)
#   ./run_tests.sh -k synth   # any pytest arguments
set -euo pipefail
cd "$(dirname "$0")"
EXTRAS=test source tools/ensure_venv.sh
# ffprobe (Debian's ffmpeg) is the independent oracle for frame counts and durations.
if ! command -v ffprobe >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's ffmpeg (the ffprobe oracle)" >&2
    apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null
  else
    echo "warning: ffprobe not found; oracle tests will be skipped (apt-get install ffmpeg)" >&2
  fi
fi
exec python -m pytest "$@"
