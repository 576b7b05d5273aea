#!/usr/bin/env bash
# The main job for a fresh machine: install edge-age[train] into .venv, report on the dataset, train
# SimpleCNN on it (resuming if interrupted) and score it on the held-out test split.
# Data: $EDGE_AGE_DATA, else data/UTKFace.tar.gz. EPOCHS (default 15) and MODEL (default simplecnn)
# can be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[train]"

DATA=${EDGE_AGE_DATA:-data/UTKFace.tar.gz}
MODEL=${MODEL:-simplecnn}
EPOCHS=${EPOCHS:-15}
if [ ! -e "$DATA" ]; then
  cat <<MSG
No dataset at '$DATA'.
Get UTKFace (aligned & cropped faces, "UTKFace.tar.gz", non-commercial research licence) from its
authors' page, then either put it at data/UTKFace.tar.gz or point EDGE_AGE_DATA at it:
    EDGE_AGE_DATA=/path/to/UTKFace.tar.gz scripts/run.sh
Any folder-per-age tree, CSV label file or UTKFace-named folder/archive works the same way.
MSG
  exit 0
fi
edge-age data report --data "$DATA" --out runs/data_report --no-progress
edge-age train --data "$DATA" --model "$MODEL" --epochs "$EPOCHS" --out "runs/$MODEL" --resume
edge-age eval --model "runs/$MODEL/best.pt" --data "$DATA" --split test --json "runs/$MODEL/test_metrics.json"
