#!/usr/bin/env bash
# Refresh requirements.lock: exact versions, with hashes, of every package clipindex and its
# `query` and `test` extras need, for every Python clipindex supports (3.10-3.13, one
# universal file with environment markers). Run after changing setup.py's ranges, or to take
# newer releases on purpose; then run ./run_tests.sh (it rebuilds .venv from the new lock) and
# commit the lock with the result.
#
#   tools/lock.sh            # newest versions setup.py's ranges allow today
#   tools/lock.sh --check    # exit 1 if the lock and setup.py disagree (what CI runs)
#
# The resolver is uv (pinned below), installed into a tool venv under the cache folder.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
if [ "${1:-}" = "--check" ]; then
  exec "${PYTHON:-python3}" tools/lock_check.py
fi
UV_VERSION=0.13.10
TOOLS="${CLIPINDEX_CACHE:-$REPO/.cache}/uv-$UV_VERSION"
if [ ! -x "$TOOLS/bin/uv" ]; then
  "${PYTHON:-python3}" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q "uv==$UV_VERSION"
fi
"$TOOLS/bin/uv" pip compile --quiet --universal --python-version 3.10 --generate-hashes \
  --extra query --extra test --custom-compile-command "tools/lock.sh" \
  setup.py tools/lock.in -o requirements.lock
"${PYTHON:-python3}" tools/lock_check.py
echo "requirements.lock refreshed: $(grep -c '^[a-z0-9].*==' requirements.lock) pins" >&2
