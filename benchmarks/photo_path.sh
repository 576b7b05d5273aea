#!/usr/bin/env bash
# The photo-path measurements in benchmarks/photo_path.md (issue: real photos, one framing contract):
# the framing fit, the faces-in-context test set, and the int8 reference model scored on aligned chips,
# on the same chips through detection, and on the scenes through detection. 1 thread for the timing.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${EDGE_AGE_DATA:-data/UTKFace.tar.gz}
MODEL=${MODEL:-export/mobilenetv2_age/mobilenetv2_age_int8.tflite}
OUT=${OUT:-benchmarks/photo_path}
EVAL_OPTS=${EVAL_OPTS:-}  # e.g. --flip-average (benchmarks/photo_path_flip)
mkdir -p "$OUT"
# The reference's framing: fitted for the MTCNN detector, given to the export by scripts/set_framing.py
# (benchmarks/framing_fit.json is the earlier Haar fit, which the reference was trained with).
[ -f edge_age/reference/framing_mtcnn.json ] && [ -z "${REFIT:-}" ] || \
  edge-age data framing --data "$DATA" --limit 2500 --detector mtcnn --out edge_age/reference/framing_mtcnn.json --no-progress
[ -f runs/wild_test/labels.csv ] || edge-age data wild --data "$DATA" --split test --out runs/wild_test --no-progress
edge-age eval "$MODEL" --data "$DATA" --split test --no-progress $EVAL_OPTS \
  --json "$OUT/aligned.json" --out runs/eval/photo_aligned
edge-age eval "$MODEL" --data "$DATA" --split test --detect-faces --no-progress $EVAL_OPTS \
  --json "$OUT/chips_detect.json" --out runs/eval/photo_chips
edge-age eval "$MODEL" --data runs/wild_test/labels.csv --split all --detect-faces --no-progress $EVAL_OPTS \
  --json "$OUT/wild.json" --out runs/eval/photo_wild
edge-age bench "$MODEL" --data "$DATA" --split test --limit 200 --threads 1 --no-peak --json "$OUT/bench.json" \
  --md "$OUT/bench.md"
# benchmarks/photo_path_flip: the same reference file with each estimate averaged with its mirror image's
# (EVAL_OPTS=--flip-average OUT=benchmarks/photo_path_flip). EVAL_OPTS reach the three evals only: the bench
# line above times the file's one pass (its MAE on 200 faces too); the photo-path cost it adds does not
# depend on the model.
# benchmarks/photo_path_degrade24 and photo_path_flip_degrade24: the reference trained on aligned chips
# (mobilenetv2_age_degrade24) that the one trained on the path (mobilenetv2_age_path24) replaced (this script
# at commit 7ce7b64, when export/mobilenetv2_age/ held that file).
# benchmarks/photo_path_degrade18: the 18-epoch reference (mobilenetv2_age_degrade) that the 24-epoch one replaced
# (this script at commit dfa9640, when export/mobilenetv2_age/ held that file).
# benchmarks/photo_path_no_degrade: the reference before it was trained with --degrade 0.25 (the same script,
# at commit 2899472, when export/mobilenetv2_age/ held that file).
# benchmarks/photo_path_haar: that file with its earlier Haar framing (the detector before MTCNN).
# The reference before the framing contract, kept for comparison (its JSON files were made by this script
# with MODEL=runs/ref_framed/mobilenetv2_age_int8.tflite OUT=runs/photo_ref: the previous committed int8
# file, its card given the fitted framing by scripts/set_framing.py).
{
  echo "# The photo path: aligned chips vs detection on chips and on faces in context (int8 TFLite, test split)"
  echo
  echo "Made by \`EDGE_AGE_DATA=../shared/data/UTKFace.tar.gz benchmarks/photo_path.sh\`; each JSON beside it holds its command."
  echo "The reference is \`mobilenetv2_age_path24\` (\`benchmarks/training.md\`: trained on the train split's chips and"
  echo "faces in context, each found by the detector and framed; chosen on val) since the commit that follows 7ce7b64."
  echo "\`photo_path_degrade24\` and \`photo_path_flip_degrade24\` were measured when \`export/mobilenetv2_age/\` held the"
  echo "reference before it (the same recipe trained on aligned chips, \`mobilenetv2_age_degrade24\`, commit 7ce7b64)."
  echo "\`photo_path_degrade18\` was measured when \`export/mobilenetv2_age/\` held the reference before it (the same"
  echo "recipe at 18 epochs, \`mobilenetv2_age_degrade\`, commit dfa9640), \`photo_path_no_degrade\` and \`photo_path_haar\` when"
  echo "it held the one before \`--degrade\` (commit 2899472), \`photo_path_previous\` the one before the framing contract."
  echo "\`photo_path_flip\` is the reference file again, each estimate the mean of the face's and its mirror image's"
  echo "(\`EVAL_OPTS=--flip-average OUT=benchmarks/photo_path_flip\`: two model passes per face)."
  echo
  # the reference first, then the folder just written, then every committed one (each once)
  python benchmarks/collect.py photo $(printf '%s\n' benchmarks/photo_path "$OUT" benchmarks/photo_path_flip \
    benchmarks/photo_path_degrade24 benchmarks/photo_path_flip_degrade24 benchmarks/photo_path_degrade18 \
    benchmarks/photo_path_no_degrade benchmarks/photo_path_haar benchmarks/photo_path_previous | awk '!seen[$0]++')
} > benchmarks/photo_path.md
cat benchmarks/photo_path.md
