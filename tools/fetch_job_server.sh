#!/usr/bin/env bash
# Fetch Beam's Flink job-server jar for the installed apache-beam into a cache and print its path.
#
#   tools/fetch_job_server.sh                  # -> .cache/jars/beam-runners-flink-2.2-job-server-2.77.0.jar
#   FLINK_VERSION=1.20 tools/fetch_job_server.sh
#
# The jar must match the Python SDK's Beam version, and the Flink version must be one
# that Beam published for it (FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS; the newest by
# default, which is also the FlinkRunner's own default --flink_version). Idempotent: a jar
# already in the cache is printed at once. Nothing is committed: the cache is git-ignored.
#
# A jar the repository does not serve is remembered for a day (<jar>.unavailable), so test
# runs skip at once instead of starting Maven again; FORCE=1 asks again.
#
# Env: PYTHON (the interpreter with apache-beam; default: python3), BEAM_VERSION,
#      FLINK_VERSION, CLIPINDEX_CACHE (default: <repo>/.cache), FORCE=1.
# Exit: 0 path printed; 3 cannot be had here (no java/mvn, or the repository does not serve
#       that jar), with one reason line on stderr; 2 bad setup.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python3}
CACHE="${CLIPINDEX_CACHE:-$REPO/.cache}/jars"

# One interpreter start: importing apache_beam takes seconds.
read -r beam_version flink_version < <("$PYTHON" -c '
import os
from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.version import __version__
print(os.environ.get("BEAM_VERSION") or __version__,
      os.environ.get("FLINK_VERSION") or FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS[-1])' 2>/dev/null) || true
if [ -z "${flink_version:-}" ]; then
  echo "fetch_job_server: apache_beam is not importable with $PYTHON (set PYTHON=...)" >&2
  exit 2
fi
artifact="beam-runners-flink-${flink_version}-job-server"
coords="org.apache.beam:${artifact}:${beam_version}"
jar="$CACHE/${artifact}-${beam_version}.jar"

if [ -s "$jar" ]; then
  echo "$jar"
  exit 0
fi
unavailable="$jar.unavailable"
if [ -z "${FORCE:-}" ] && [ -n "$(find "$unavailable" -mmin -1440 2>/dev/null)" ]; then
  echo "fetch_job_server: $(cat "$unavailable") (cached answer; FORCE=1 asks again)" >&2
  exit 3
fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch_job_server: $tool not found; the Flink job server needs Java 11+ and Maven to fetch it" >&2
    exit 3
  fi
done

mkdir -p "$CACHE"
staging="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
log="$CACHE/${artifact}-${beam_version}.log"
trap 'rm -rf "$staging"' EXIT
echo "fetch_job_server: fetching $coords (about 150 MB, once)" >&2
# A pinned dependency plugin: the one Maven 3.8 defaults to (2.8) needs a project for copy.
if mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
     -Dartifact="$coords" -DoutputDirectory="$staging" -Dmdep.useBaseVersion=true >"$log" 2>&1; then
  mv "$staging/${artifact}-${beam_version}.jar" "$jar"   # same file system: atomic
  rm -f "$log" "$unavailable"
  echo "$jar"
  exit 0
fi
if grep -q "Could not find artifact\|was not found in" "$log"; then
  reason="$coords is not served by the Maven repository this machine reaches"
  echo "$reason" >"$unavailable"
  echo "fetch_job_server: $reason (see $log)" >&2
else
  echo "fetch_job_server: mvn could not fetch $coords (see $log): $(grep -m1 ERROR "$log" || tail -n1 "$log")" >&2
fi
exit 3
