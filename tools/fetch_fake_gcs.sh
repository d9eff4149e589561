#!/usr/bin/env bash
# Build fake-gcs-server (a GCS JSON/XML API emulator written in Go) into a cache and print
# the binary's path. The bucket benchmark (bench/bucket.py) and tests/e2e/test_gcs_inflight.py
# use it: unlike the Python gcp-storage-emulator it serves requests concurrently and keeps
# object generations, so many reads in flight are measured rather than serialized.
#
#   tools/fetch_fake_gcs.sh        # -> $CLIPINDEX_CACHE/bin/fake-gcs-server-v1.56.1
#
# Built from the Go module proxy: `go install github.com/fsouza/fake-gcs-server@vX.Y.Z`.
# First build: a few minutes on 2 cores (module download + compile); with Go's module
# and build caches warm, seconds. Idempotent: a cached binary is printed at once.
#
# Env: FAKE_GCS_VERSION (default v1.56.1), CLIPINDEX_CACHE (default: <repo>/.cache).
# Exit: 0 path printed; 3 cannot be had here (no go, or the build failed), one reason line
#       on stderr.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VERSION=${FAKE_GCS_VERSION:-v1.56.1}
CACHE="${CLIPINDEX_CACHE:-$REPO/.cache}/bin"
binary="$CACHE/fake-gcs-server-${VERSION}"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "fetch_fake_gcs: go not found; fake-gcs-server is built from its Go module (install Go 1.23+)" >&2
  exit 3
fi
mkdir -p "$CACHE"
staging="$(mktemp -d "$CACHE/.build.XXXXXX")"
log="$binary.log"
trap 'rm -rf "$staging"' EXIT
echo "fetch_fake_gcs: building github.com/fsouza/fake-gcs-server@${VERSION} (first time: a few minutes)" >&2
if GOBIN="$staging" GOFLAGS="${GOFLAGS:--buildvcs=false}" \
   go install "github.com/fsouza/fake-gcs-server@${VERSION}" >"$log" 2>&1; then
  mv "$staging/fake-gcs-server" "$binary"   # same file system: atomic
  rm -f "$log"
  echo "$binary"
  exit 0
fi
echo "fetch_fake_gcs: go install failed (see $log): $(tail -n1 "$log")" >&2
exit 3
