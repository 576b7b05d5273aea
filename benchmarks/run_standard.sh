#!/usr/bin/env bash
# The standard benchmark run whose results are committed in this folder (bench.json/.md/.csv/.png).
# Prerequisites (what scripts/run.sh does): a trained SimpleCNN exported with --int8 to export/simplecnn/,
# and, where trained, ResNet baselines exported to export/resnet18/ and export/resnet50/. Architectures
# without a trained export are benchmarked freshly initialised (latency and size only; MAE "not measured").
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${EDGE_AGE_DATA:-data/UTKFace.tar.gz}
THREADS=${THREADS:-1}
edge-age bench export/ --baselines --data "$DATA" --split test --threads "$THREADS" \
  --json benchmarks/bench.json --md benchmarks/bench.md --csv benchmarks/bench.csv --plot benchmarks/bench.png
