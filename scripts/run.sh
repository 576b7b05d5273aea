#!/usr/bin/env bash
# The main job for a fresh machine: install edge-age[train] into .venv, then the whole pipeline:
# data report -> the path folders (train-split chips and the same faces placed in scenes) -> train the
# reference (`--recipe reference`: mobilenetv2_age on photos, each face found by the detector and framed)
# and the seed's SimpleCNN (`--recipe simplecnn`), each resuming if interrupted -> test-split eval ->
# export --int8 (ONNX and TFLite, proven against PyTorch) -> calibrate the compact model's intervals on val photos ->
# bench against fp32 ResNet18/50.
#
#   scripts/run.sh           the full recipe, results in runs/: about 3 hours on two cores, estimated from earlier
#                            runs' stages (train-split scenes 0.5 h, detection 0.1 h, the reference 0.3 h, SimpleCNN
#                            15 epochs ~1.5 h, eval/export/bench ~0.3 h)
#   scripts/run.sh --quick   every stage on a 2,000-face subset, 5 epochs, compact model only: 13 minutes on
#                            two AMD EPYC cores beside another job, venv in place (its install: ~7 more); results
#                            in runs/quick/ (a walk-through, not a model)
#
# Data: $EDGE_AGE_DATA, else data/UTKFace.tar.gz. Without data it benchmarks the reference models
# committed under export/ and says how to get the data. The full run trains the reference on a second source
# too where there is one: $EDGE_AGE_AAF, else data/AAF-train.tar.gz (All-Age-Faces, as the shipped reference).
# MODELS (default "mobilenetv2_age simplecnn"; --quick: mobilenetv2_age) picks the models; EPOCHS overrides every
# recipe's epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/run.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
. scripts/venv.sh train

DATA=${EDGE_AGE_DATA:-data/UTKFace.tar.gz}
AAF=${EDGE_AGE_AAF:-data/AAF-train.tar.gz}
if [ "$QUICK" = 1 ]; then
  RUNS=runs/quick MODELS=${MODELS:-mobilenetv2_age} EPOCHS=${EPOCHS:-5}
  LIMIT=(--limit 2000) EVAL_LIMIT=(--limit 3000) BENCH=(--runs 20 --min-seconds 0.5 --photos 10 --limit 2000)
  # a few epochs on a subset make no model to ship: its int8 files are kept even where the collapse guard flags
  # them (the export table still marks them DEGRADED), so the walk reaches the bench
  EXPORT_LIMIT=(--limit 300 --calib-size 200 --allow-degraded) CAL_LIMIT=(--degrade-limit 60)
else
  RUNS=runs LIMIT=() EVAL_LIMIT=() BENCH=() EXPORT_LIMIT=() CAL_LIMIT=()
  MODELS=${MODELS:-${MODEL:-mobilenetv2_age simplecnn}}
fi
START=$SECONDS
step() { printf '\n== %s (%s min in)\n' "$1" "$(( (SECONDS - START) / 60 ))"; }

# The compact model starts from torchvision's ImageNet MobileNetV2 file in the torch hub cache
# (../shared/weights has it on our machines; elsewhere torchvision downloads it where a network allows).
WEIGHTS=mobilenet_v2-b0353104.pth
HUB=${TORCH_HOME:-$HOME/.cache/torch}/hub/checkpoints
if [ ! -f "$HUB/$WEIGHTS" ] && [ -f "../shared/weights/$WEIGHTS" ]; then
  mkdir -p "$HUB" && cp "../shared/weights/$WEIGHTS" "$HUB/"
fi

if [ ! -e "$DATA" ]; then
  cat <<MSG
No dataset at '$DATA': benchmarking the reference models committed under export/ (latency and size;
MAE needs the data), against freshly initialised fp32 ResNet18/50.

For the full run, get UTKFace (aligned & cropped faces, "UTKFace.tar.gz", non-commercial research
licence) from its authors, then put it at data/UTKFace.tar.gz or point EDGE_AGE_DATA at it:
    EDGE_AGE_DATA=/path/to/UTKFace.tar.gz scripts/run.sh [--quick]
Any folder-per-age tree, CSV label file or UTKFace-named folder/archive works the same way.
MSG
  edge-age bench export/ --baselines --threads 1 --md runs/bench_reference.md --json runs/bench_reference.json
  exit 0
fi

# Options every recipe run shares here; EPOCHS overrides the recipe's. Without the ImageNet file and no
# network to fetch it, the compact model trains from random weights, and the line below says so.
recipe_args() {
  local extra=()
  [ -n "${EPOCHS:-}" ] && extra+=(--epochs "$EPOCHS")
  if [ "$1" = mobilenetv2_age ] && [ ! -f "$HUB/$WEIGHTS" ] && \
      ! python -c "import torchvision as t; t.models.mobilenet_v2(weights='IMAGENET1K_V1')" >/dev/null 2>&1; then
    echo "no ImageNet MobileNetV2 weights ($HUB/$WEIGHTS) and none downloadable: training from random weights," \
         "slower to converge and less accurate" >&2
    extra+=(--no-pretrained)
  fi
  echo ${extra[@]+"${extra[@]}"}
}

step "data report"
edge-age data report --data "$DATA" ${LIMIT[@]+"${LIMIT[@]}"} --out "$RUNS/data_report" --no-progress
for MODEL in $MODELS; do
  if [ "$MODEL" = mobilenetv2_age ]; then
    # Trained on the path a user takes: the train split's chips and the same faces placed in scenes
    # (`edge-age data wild`), each found by the detector and framed (lab/lab_notes.md: faces in context
    # 5.358 -> 4.984). Made once per dataset and limit (source.txt): a rebuilt folder would invalidate the
    # detection cache.
    SOURCE="$DATA${LIMIT[*]:+ ${LIMIT[*]}}"
    if [ "$(cat "$RUNS/path_train/source.txt" 2>/dev/null)" != "$SOURCE" ]; then
      step "faces in context for training (data wild --split train)"
      edge-age data wild --data "$DATA" ${LIMIT[@]+"${LIMIT[@]}"} --split train --out "$RUNS/wild_train" --no-progress
      python scripts/path_training.py --data "$DATA" ${LIMIT[@]+"${LIMIT[@]}"} --scenes "$RUNS/wild_train" --out "$RUNS/path_train"
      echo "$SOURCE" > "$RUNS/path_train/source.txt"
    fi
    TRAIN=(--recipe reference --data "$RUNS/path_train/labels.csv")
    if [ "$QUICK" = 0 ] && [ -e "$AAF" ]; then
      # the shipped reference's two sources (lab/aaf/README.md): AAF's head crops through the same detector and
      # framing, split on their own, drawn once an epoch beside UTKFace's photos
      cat > "$RUNS/reference_sources.toml" <<TOML
[[source]]
name = "utkface"
path = "$(realpath "$RUNS/path_train/labels.csv")"
detect_faces = true

[[source]]
name = "aaf"
path = "$(realpath "$AAF")"
detect_faces = true
TOML
      TRAIN=(--recipe reference --data "$RUNS/reference_sources.toml")
    elif [ "$QUICK" = 0 ]; then
      echo "no second source at '$AAF' (EDGE_AGE_AAF): the reference trains on UTKFace alone" >&2
    fi
    # the compact model's int8 TFLite file is fine-tuned with simulated int8 (post-training alone: 1.03x fp32 MAE)
    EXPORT=(--calib-size 1000 --qat-epochs 0.5)
  else
    # --arch NAME trains the recipe of that name where there is one (simplecnn, resnet18, resnet50)
    TRAIN=(--arch "$MODEL" --data "$DATA" ${LIMIT[@]+"${LIMIT[@]}"})
    EXPORT=(--calib-size 300)
  fi
  step "train $MODEL (detection of the training photos first, cached)"
  # shellcheck disable=SC2046  # recipe_args is a list of options
  edge-age train ${TRAIN[@]+"${TRAIN[@]}"} $(recipe_args "$MODEL") --out "$RUNS/$MODEL" --resume --no-progress
  step "eval $MODEL on the test split"
  edge-age eval "$RUNS/$MODEL/best.pt" --data "$DATA" --split test ${EVAL_LIMIT[@]+"${EVAL_LIMIT[@]}"} \
    --json "$RUNS/$MODEL/test_metrics.json" --out "$RUNS/eval/$MODEL" --no-progress
  step "export $MODEL (int8 proven against PyTorch)"
  # Under runs/: the committed references in export/ are replaced only on purpose (copy the folder there).
  edge-age export "$RUNS/$MODEL/best.pt" --int8 ${EXPORT[@]+"${EXPORT[@]}"} ${EXPORT_LIMIT[@]+"${EXPORT_LIMIT[@]}"} --data "$DATA" \
    --out "$RUNS/export/$MODEL" --no-progress
  if [ "$MODEL" = mobilenetv2_age ]; then
    # The card's 80% intervals re-fitted on what the runtime sees (as the shipped card's): val faces in context, the
    # same photos degraded, the val chips of each source (edge-age calibrate; into a new folder, never over the export)
    step "calibrate $MODEL's intervals on val photos"
    if [ "$(cat "$RUNS/wild_val.source" 2>/dev/null)" != "$SOURCE" ]; then
      edge-age data wild --data "$DATA" ${LIMIT[@]+"${LIMIT[@]}"} --split val --out "$RUNS/wild_val" --no-progress
      echo "$SOURCE" > "$RUNS/wild_val.source"
    fi
    CAL_DATA=(--data "$DATA")
    if [ "$QUICK" = 0 ] && [ -e "$AAF" ]; then
      printf '[[source]]\npath = "%s"\n\n[[source]]\npath = "%s"\ndetect_faces = true\n' "$(realpath "$DATA")" \
        "$(realpath "$AAF")" > "$RUNS/calibrate_sources.toml"
      CAL_DATA=(--data "$RUNS/calibrate_sources.toml")
    fi
    edge-age calibrate "$RUNS/export/$MODEL" "${CAL_DATA[@]}" --photos "$RUNS/wild_val" --degrade \
      ${CAL_LIMIT[@]+"${CAL_LIMIT[@]}"} --out "$RUNS/calibrated/$MODEL" --no-progress
  fi
done
step "bench against fp32 ResNet18/50"
edge-age bench "$RUNS/export/" --baselines --data "$DATA" --split test --threads 1 ${BENCH[@]+"${BENCH[@]}"} \
  --json "$RUNS/bench.json" --md "$RUNS/bench.md" --csv "$RUNS/bench.csv" --plot "$RUNS/bench.png"
echo "done in $(( (SECONDS - START) / 60 )) min: exported to $RUNS/export/, the compact model with photo-calibrated intervals in $RUNS/calibrated/ (the committed references under export/ are unchanged)"
[ "$QUICK" = 1 ] && echo "the full recipe (scripts/run.sh without --quick: every face, 24 epochs, SimpleCNN too) takes about 3 hours on two cores (estimated from earlier runs' stages)"
exit 0
