# Sourced by run_local.sh and run_tests.sh: create .venv if needed, install clipindex into it.
# EXTRAS=test installs the test dependencies too. Re-installs only when setup.py changes.
PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "clipindex: python3 not found; install Python 3.10+ first" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian/Ubuntu ship venv separately; install it when we are allowed to.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv .venv
    else
      echo "clipindex: '$PYTHON -m venv' failed; install the python3-venv package" >&2
      exit 2
    fi
  fi
fi
STAMP=".venv/.clipindex-installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$STAMP" ] || [ setup.py -nt "$STAMP" ]; then
  echo "installing clipindex${EXTRAS:+[$EXTRAS]} into .venv (first run takes a few minutes)" >&2
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e ".${EXTRAS:+[$EXTRAS]}"; } > .venv/pip.log 2>&1; then
    tail -30 .venv/pip.log >&2
    echo "clipindex: installing into .venv failed (full log: .venv/pip.log)" >&2
    exit 1
  fi
  touch "$STAMP"
fi
export PATH="$PWD/.venv/bin:$PATH"
