#!/usr/bin/env bash
# Run clipindex on a built-in demo corpus (or on your own clips) and reconcile it.
#   ./run_local.sh                      # synthesize demo/corpus, index it, reconcile
#   ./run_local.sh 'path/to/clips/**'   # index your own clips into demo/own/index (OUTPUT=DIR to choose)
# Creates .venv on first use; needs only python3 (3.10-3.13) with pip/venv.
set -euo pipefail
cd "$(dirname "$0")"
source tools/ensure_venv.sh

DEMO=demo
WORKERS=${WORKERS:-2}
if [ $# -gt 0 ]; then
  INPUTS=()
  for pattern in "$@"; do INPUTS+=(--input "$pattern"); done
  # Never into the demo's index: the demo's clips would all look removed (and the removal
  # guard would stop the run).
  OUTPUT=${OUTPUT:-$DEMO/own/index}
  clipindex index "${INPUTS[@]}" --output "$OUTPUT" --workers "$WORKERS" --decode keyframes
  exec clipindex reconcile "$OUTPUT" --html "$(dirname "$OUTPUT")/report.html"
fi

CLIPS=${CLIPS:-60}
HOURS=${HOURS:-1}
if [ ! -f "$DEMO/corpus/manifest.csv" ]; then
  clipindex synth "$DEMO/corpus" --clips "$CLIPS" --hours "$HOURS" --seed 7
fi
clipindex index --input "$DEMO/corpus/clips/**/*.mp4" --output "$DEMO/index" --workers "$WORKERS" \
  --decode keyframes
clipindex reconcile "$DEMO/index" --expect-videos "$CLIPS" --expect-hours "$HOURS" \
  --manifest "$DEMO/corpus/manifest.csv" --json "$DEMO/reconcile.json" --html "$DEMO/report.html"
echo "tables (Delta Lake, docs/tables.md): $DEMO/index/{clips,frames,samples,errors}   report: $DEMO/report.html"
echo "  e.g. .venv/bin/python -c \"import deltalake; print(deltalake.DeltaTable('$DEMO/index/clips').to_pyarrow_table().num_rows)\""
