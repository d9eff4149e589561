#!/usr/bin/env bash
# Build tools/delay_proxy (a delaying, request-counting HTTP proxy; Go standard library only)
# into the cache and print the binary's path. Used by bench/bucket.py and
# tests/e2e/test_gcs_inflight.py in front of fake-gcs-server (tools/fetch_fake_gcs.sh).
#
#   tools/build_delay_proxy.sh     # -> $CLIPINDEX_CACHE/bin/delay-proxy-<source hash>
#
# Idempotent: the binary is named after its source's hash, so an edit rebuilds it.
# Exit: 0 path printed; 3 cannot be had here (no go, or the build failed).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SOURCE="$REPO/tools/delay_proxy/main.go"
CACHE="${CLIPINDEX_CACHE:-$REPO/.cache}/bin"
hash=$(sha256sum "$SOURCE" | cut -c1-12)
binary="$CACHE/delay-proxy-$hash"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build_delay_proxy: go not found (install Go 1.21+)" >&2
  exit 3
fi
mkdir -p "$CACHE"
staging="$(mktemp -d "$CACHE/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
cp "$SOURCE" "$staging/main.go"
printf 'module delayproxy\n\ngo 1.21\n' > "$staging/go.mod"
if (cd "$staging" && GOFLAGS="${GOFLAGS:--buildvcs=false}" go build -o "$staging/delay-proxy" . ) >"$staging/log" 2>&1; then
  mv "$staging/delay-proxy" "$binary"
  echo "$binary"
  exit 0
fi
echo "build_delay_proxy: go build failed: $(tail -n3 "$staging/log")" >&2
exit 3
