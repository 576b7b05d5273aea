#!/usr/bin/env bash
# The main job for a fresh machine: install edge-age[train] into .venv, then the whole pipeline:
# data report -> train SimpleCNN (resumes if interrupted) -> test-split eval -> export --int8 (ONNX and
# TFLite, proven against PyTorch) -> bench against fp32 ResNet18/50.
# Data: $EDGE_AGE_DATA, else data/UTKFace.tar.gz. Without data it benchmarks the reference models
# committed under export/ and says how to get the data. EPOCHS (default 15), MODEL (default simplecnn).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh train

DATA=${EDGE_AGE_DATA:-data/UTKFace.tar.gz}
MODEL=${MODEL:-simplecnn}
EPOCHS=${EPOCHS:-15}
if [ ! -e "$DATA" ]; then
  cat <<MSG
No dataset at '$DATA': benchmarking the reference models committed under export/ (latency and size;
MAE needs the data), against freshly initialised fp32 ResNet18/50.

For the full run, get UTKFace (aligned & cropped faces, "UTKFace.tar.gz", non-commercial research
licence) from its authors, then put it at data/UTKFace.tar.gz or point EDGE_AGE_DATA at it:
    EDGE_AGE_DATA=/path/to/UTKFace.tar.gz scripts/run.sh
Any folder-per-age tree, CSV label file or UTKFace-named folder/archive works the same way.
MSG
  edge-age bench export/ --baselines --threads 1 --md runs/bench_reference.md --json runs/bench_reference.json
  exit 0
fi
edge-age data report --data "$DATA" --out runs/data_report --no-progress
edge-age train --data "$DATA" --model "$MODEL" --epochs "$EPOCHS" --out "runs/$MODEL" --resume
edge-age eval --model "runs/$MODEL/best.pt" --data "$DATA" --split test --json "runs/$MODEL/test_metrics.json"
edge-age export --checkpoint "runs/$MODEL/best.pt" --int8 --data "$DATA"
edge-age bench export/ --baselines --data "$DATA" --split test --threads 1 \
  --json runs/bench.json --md runs/bench.md --csv runs/bench.csv --plot runs/bench.png
