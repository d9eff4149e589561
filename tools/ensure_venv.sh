# Sourced by run_local.sh, run_tests.sh and bench/run.sh: make .venv hold exactly the versions
# in requirements.lock (clipindex's dependencies with the `query` and `test` extras, hashed),
# then clipindex itself (editable, no dependency resolution). Whatever day it runs, it
# installs what the tests passed with: a new release on PyPI changes nothing until someone
# runs tools/lock.sh and commits the new lock.
#
# The venv is rebuilt from scratch when the lock or setup.py changes (the stamp holds their
# hash), so a refreshed lock also removes what it no longer names.
# Env: PYTHON (default python3; 3.10-3.13), CLIPINDEX_VENV (default .venv).
PYTHON=${PYTHON:-python3}
VENV=${CLIPINDEX_VENV:-.venv}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "clipindex: $PYTHON not found; install Python 3.10-3.13 first" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))'; then
  echo "clipindex: needs Python 3.10-3.13 (requirements.lock covers those); $PYTHON is $("$PYTHON" -V 2>&1)" >&2
  exit 2
fi
_lock_key=$(cat requirements.lock setup.py | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')
STAMP="$VENV/.clipindex-lock-$_lock_key"
if [ ! -f "$STAMP" ]; then
  if [ -d "$VENV" ]; then
    echo "requirements.lock or setup.py changed: rebuilding $VENV from the lock" >&2
    rm -rf "$VENV"
  fi
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian/Ubuntu ship venv separately; install it when we are allowed to.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"
    else
      echo "clipindex: '$PYTHON -m venv' failed; install the python3-venv package" >&2
      exit 2
    fi
  fi
  echo "installing the locked dependencies into $VENV (first run takes a few minutes)" >&2
  if ! { "$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r requirements.lock &&
         "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .; } > "$VENV/pip.log" 2>&1; then
    tail -30 "$VENV/pip.log" >&2
    echo "clipindex: installing into $VENV failed (full log: $VENV/pip.log)" >&2
    exit 1
  fi
  touch "$STAMP"
fi
unset _lock_key
export PATH="$PWD/$VENV/bin:$PATH"
