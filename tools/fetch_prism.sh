#!/usr/bin/env bash
# Build Beam's Prism runner (a portable Beam runner written in Go) for the installed
# apache-beam into a cache and print the binary's path.
#
#   tools/fetch_prism.sh        # -> .cache/bin/prism-v2.77.0
#
# Beam's Python SDK would download a prebuilt Prism from GitHub releases, which this
# project cannot reach; the same program builds from Beam's Go module, which the Go
# module proxy serves: `go install github.com/apache/beam/sdks/v2/go/cmd/prism@vX.Y.Z`.
# First build: about 4 minutes on 2 cores (module download + compile); with Go's module
# and build caches warm, about 10 s. Idempotent: a cached binary is printed at once.
#
# Env: PYTHON (the interpreter with apache-beam; default: python3), BEAM_VERSION,
#      CLIPINDEX_CACHE (default: <repo>/.cache).
# Exit: 0 path printed; 3 cannot be had here (no go, or the build failed), one reason line
#       on stderr; 2 bad setup.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python3}
CACHE="${CLIPINDEX_CACHE:-$REPO/.cache}/bin"

# The distribution's metadata, not `import apache_beam` (which takes seconds).
beam_version=${BEAM_VERSION:-$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("apache-beam"))' \
                              2>/dev/null)} || true
if [ -z "$beam_version" ]; then
  echo "fetch_prism: apache-beam is not installed for $PYTHON (set PYTHON=...)" >&2
  exit 2
fi
binary="$CACHE/prism-v${beam_version}"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "fetch_prism: go not found; Prism is built from Beam's Go module (install Go 1.23+)" >&2
  exit 3
fi
mkdir -p "$CACHE"
staging="$(mktemp -d "$CACHE/.build.XXXXXX")"
log="$binary.log"
trap 'rm -rf "$staging"' EXIT
echo "fetch_prism: building github.com/apache/beam/sdks/v2/go/cmd/prism@v${beam_version}" \
     "(first time: a few minutes)" >&2
if GOBIN="$staging" GOFLAGS="${GOFLAGS:--buildvcs=false}" \
   go install "github.com/apache/beam/sdks/v2/go/cmd/prism@v${beam_version}" >"$log" 2>&1; then
  mv "$staging/prism" "$binary"   # same file system: atomic
  rm -f "$log"
  echo "$binary"
  exit 0
fi
echo "fetch_prism: go install failed (see $log): $(tail -n1 "$log")" >&2
exit 3
