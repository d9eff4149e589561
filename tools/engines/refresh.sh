#!/usr/bin/env bash
# Refresh every pin, with the Python lock: one command before a dependency upgrade.
#
#   tools/engines/refresh.sh             # tools/lock.sh (requirements.lock), then the engines' pins
#   tools/engines/refresh.sh --engines   # only the engines' pins
#
# The engines' pins:
# 1. tools/engines/{flink,spark}/pom.xml: beam.version (and spark.version) move to the newest
#    release Maven Central lists (versions-maven-plugin), and are kept only if the whole job
#    server classpath then resolves here; otherwise the pom is restored and the reason shown
#    (e.g. Beam 2.70.0's beam-runners-java-job-service is not served, hence its 2.65.0 pin).
# 2. tools/engines/pyflink.txt: the newest apache-flink of the pom's Flink minor (1.19.x) on
#    PyPI, with the hashes of its CPython 3.8-3.11 manylinux x86_64 wheels and of
#    apache-flink-libraries' sdist (flink-dist), downloaded once into a scratch folder.
# Then: run tests/test_engines.py, and commit the changed files with the result.
set -euo pipefail
ENGINE=refresh
source "$(dirname "$0")/common.sh"
cd "$REPO"
PYTHON=${PYTHON:-python3}

if [ "${1:-}" != "--engines" ]; then
  tools/lock.sh
fi
need_java_maven
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

prop() { sed -n "s:.*<$2>\(.*\)</$2>.*:\1:p" "$1" | head -n1; }

for engine in flink spark; do
  pom="$ENGINES_DIR/$engine/pom.xml"
  cp "$pom" "$scratch/$engine.pom"
  props=beam.version
  [ "$engine" = spark ] && props=beam.version,spark.version
  before="$(prop "$pom" beam.version) $(prop "$pom" spark.version)"
  if ! mvn -B -q -f "$pom" -Dmaven.repo.local="$M2_REPO" \
       org.codehaus.mojo:versions-maven-plugin:2.17.1:update-properties \
       -DincludeProperties="$props" -DallowMajorUpdates=false -DgenerateBackupPoms=false \
       >"$scratch/$engine.versions.log" 2>&1; then
    cp "$scratch/$engine.pom" "$pom"
    die "versions-maven-plugin failed on $pom: $(grep -m1 ERROR "$scratch/$engine.versions.log")"
  fi
  after="$(prop "$pom" beam.version) $(prop "$pom" spark.version)"
  if [ "$before" = "$after" ]; then
    say "$engine: Beam/Spark $before is the newest listed"
    continue
  fi
  if mvn -B -q -f "$pom" -Dmaven.repo.local="$M2_REPO" \
       org.apache.maven.plugins:maven-dependency-plugin:3.6.1:build-classpath \
       -Dmdep.outputFile="$scratch/$engine.cp" >"$scratch/$engine.cp.log" 2>&1; then
    say "$engine: $before -> $after (the classpath resolves; run tests/test_engines.py)"
  else
    cp "$scratch/$engine.pom" "$pom"
    say "$engine: kept $before; $after does not resolve here: $(grep -m1 'ERROR' "$scratch/$engine.cp.log" | cut -c1-300)"
  fi
done

# PyFlink: the Flink distribution of the pom's Flink minor.
minor=$(prop "$ENGINES_DIR/flink/pom.xml" flink.minor)
current=$(sed -n 's/^apache-flink==\([0-9.]*\).*/\1/p' "$ENGINES_DIR/pyflink.txt")
newest=$("$PYTHON" -m pip index versions apache-flink 2>/dev/null | sed -n 's/^Available versions: //p' \
         | tr ',' '\n' | tr -d ' ' | grep "^${minor//./\\.}\.[0-9]*$" | sort -V | tail -n1)
[ -n "$newest" ] || die "PyPI lists no apache-flink $minor.x"
if [ "$newest" = "$current" ]; then
  say "pyflink: apache-flink $current is the newest $minor.x"
  exit 0
fi
say "pyflink: $current -> $newest: downloading to hash (~230 MB)"
for py in 3.8 3.9 3.10 3.11; do
  "$PYTHON" -m pip download -q --no-deps --only-binary :all: --python-version "$py" \
    --platform manylinux2014_x86_64 "apache-flink==$newest" -d "$scratch/dl" 2>/dev/null || true
done
"$PYTHON" -m pip download -q --no-deps --no-binary :all: "apache-flink-libraries==$newest" -d "$scratch/dl"
hashes() { for f in "$@"; do printf '    --hash=sha256:%s' "$(sha256sum "$f" | cut -d' ' -f1)"; done; }
{
  sed -n '/^#/p' "$ENGINES_DIR/pyflink.txt"
  echo "apache-flink==$newest \\"
  hashes "$scratch"/dl/apache_flink-*.whl | sed 's/ \{4\}--hash/ \\\n    --hash/g; s/^ \\\n//'
  echo
  echo "apache-flink-libraries==$newest \\"
  hashes "$scratch"/dl/apache-flink-libraries-*.tar.gz
  echo
} >"$scratch/pyflink.txt"
mv "$scratch/pyflink.txt" "$ENGINES_DIR/pyflink.txt"
say "pyflink: pinned $newest in tools/engines/pyflink.txt (run tests/test_engines.py)"
