#!/usr/bin/env bash
# Run the test suite: creates .venv, installs clipindex with test extras, runs pytest.
#   ./run_tests.sh            # the whole suite (a few minutes on 2 cores)
#   ./run_tests.sh -k synth   # any pytest arguments
set -euo pipefail
cd "$(dirname "$0")"
EXTRAS=test source tools/ensure_venv.sh
# Debian packages the tests use when present: ffprobe (ffmpeg) is the independent oracle for
# frame counts and durations; chromium renders the HTML report headless.
missing=()
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: not installed: ${missing[*]}; the tests that need them are skipped" >&2
  fi
fi
exec python -m pytest "$@"
