#!/usr/bin/env bash
# The photo-path measurements in benchmarks/photo_path.md: the int8 reference model scored on aligned test chips,
# on the same chips through detection, and on faces in context (each test chip placed in a scene) through
# detection; and the cost of the photo path before the model (1 thread).
#   EDGE_AGE_DATA=../shared/data/UTKFace.tar.gz benchmarks/photo_path.sh                   -> benchmarks/photo_path/
#   EVAL_OPTS=--flip-average OUT=benchmarks/photo_path_flip benchmarks/photo_path.sh        -> benchmarks/photo_path_flip/
# MODEL and OUT score another file into another folder (a candidate: OUT=runs/photo_NAME; lab/ keeps the earlier
# references' folders, lab/README.md). REFIT=1 refits the BlazeFace framing the package ships first.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${EDGE_AGE_DATA:-data/UTKFace.tar.gz}
MODEL=${MODEL:-export/mobilenetv2_age/mobilenetv2_age_int8.tflite}
OUT=${OUT:-benchmarks/photo_path}
EVAL_OPTS=${EVAL_OPTS:-}  # e.g. --flip-average (benchmarks/photo_path_flip)
mkdir -p "$OUT"
# The reference's framing: fitted for the BlazeFace detector, bundled as edge_age/reference/framing_blazeface.json.
if [ -n "${REFIT:-}" ]; then
  edge-age data framing --data "$DATA" --limit 2500 --detector blazeface --out runs/framing_blazeface --no-progress
  cp runs/framing_blazeface/framing.json edge_age/reference/framing_blazeface.json
fi
[ -f runs/wild_test/labels.csv ] || edge-age data wild --data "$DATA" --split test --out runs/wild_test --no-progress
edge-age eval "$MODEL" --data "$DATA" --split test --no-progress $EVAL_OPTS \
  --json "$OUT/aligned.json" --out runs/eval/photo_aligned
edge-age eval "$MODEL" --data "$DATA" --split test --detect-faces --no-progress $EVAL_OPTS \
  --json "$OUT/chips_detect.json" --out runs/eval/photo_chips
edge-age eval "$MODEL" --data runs/wild_test/labels.csv --split all --detect-faces --no-progress $EVAL_OPTS \
  --json "$OUT/wild.json" --out runs/eval/photo_wild
# EVAL_OPTS reach the three evals only: the bench times the file's one pass (its MAE on 200 faces too); the
# photo-path cost it adds does not depend on the model.
edge-age bench "$MODEL" --data "$DATA" --split test --limit 200 --threads 1 --no-peak --json "$OUT/bench.json" \
  --md "$OUT/bench.md"
# benchmarks/photo_path.md holds the shipped reference's two folders; a run into another folder only prints its table.
if [ "$OUT" != benchmarks/photo_path ] && [ "$OUT" != benchmarks/photo_path_flip ]; then
  python benchmarks/collect.py photo "$OUT"
  exit 0
fi
{
  echo "# The photo path: aligned chips vs detection on chips and on faces in context (int8 TFLite, test split)"
  echo
  echo "Made by \`EDGE_AGE_DATA=../shared/data/UTKFace.tar.gz benchmarks/photo_path.sh\` (\`photo_path/\`) and the same"
  echo "with \`EVAL_OPTS=--flip-average OUT=benchmarks/photo_path_flip\` (\`photo_path_flip/\`: each estimate the mean of the"
  echo "face's and its mirror image's, two model passes per face); each JSON beside it holds its command. The model is"
  echo "the shipped reference, \`mobilenetv2_age_mix24\` (\`benchmarks/training.md\`: trained on UTKFace's train-split chips"
  echo "and faces in context and on All-Age-Faces' head crops, each found by BlazeFace's cascade and framed). The detector"
  echo "is BlazeFace's cascade (full-range on the photo and its halves, short-range on the tight-chip and turned fallback"
  echo "passes; the model was trained on the all-full-range cascade, whose figures \`lab/photo_path_history.md\` keeps), the"
  echo "framing the one bundled in \`edge_age/reference/framing_blazeface.json\`. The earlier"
  echo "references' tables: \`lab/photo_path_history.md\` (the UTKFace-only \`mobilenetv2_age_blaze24\`:"
  echo "\`lab/photo_path_blaze24/\`; the MTCNN-framed \`mobilenetv2_age_path24\`: \`lab/photo_path_path24/\`)."
  echo
  python benchmarks/collect.py photo benchmarks/photo_path benchmarks/photo_path_flip
} > benchmarks/photo_path.md
cat benchmarks/photo_path.md
