#!/usr/bin/env bash
# The main job for a fresh machine: install edge-age[train] into .venv, then the whole pipeline:
# data report -> train the compact reference model (mobilenetv2_age, on its train split's chips and faces in
# context through the detector) and the seed's SimpleCNN (each
# resumes if interrupted) -> test-split eval -> export --int8 (ONNX and TFLite, proven against
# PyTorch) -> bench against fp32 ResNet18/50.
# Data: $EDGE_AGE_DATA, else data/UTKFace.tar.gz. Without data it benchmarks the reference models
# committed under export/ and says how to get the data.
# MODELS (default "mobilenetv2_age simplecnn"); EPOCHS overrides every model's default epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh train

DATA=${EDGE_AGE_DATA:-data/UTKFace.tar.gz}
MODELS=${MODELS:-${MODEL:-mobilenetv2_age simplecnn}}

# The compact model starts from torchvision's ImageNet MobileNetV2 file, read offline from the torch
# hub cache; ../shared/weights has it on our machines.
WEIGHTS=mobilenet_v2-b0353104.pth
HUB=${TORCH_HOME:-$HOME/.cache/torch}/hub/checkpoints
if [ ! -f "$HUB/$WEIGHTS" ] && [ -f "../shared/weights/$WEIGHTS" ]; then
  mkdir -p "$HUB" && cp "../shared/weights/$WEIGHTS" "$HUB/"
fi

# The recipe behind each model's committed results (benchmarks/training.md).
train_args() {
  case $1 in
    mobilenetv2_age)
      # --framing: the MTCNN detection -> crop geometry, and half of each batch cropped with the error it leaves;
      # every model also trains through photo degradations (--degrade, default 0.25)
      local common="--epochs ${EPOCHS:-24} --head distribution --loss dldl --bn-recalib 4096"
      common="$common --framing edge_age/reference/framing_mtcnn.json"
      if [ -f "$HUB/$WEIGHTS" ]; then echo "$common --pretrained"
      else
        echo "no $HUB/$WEIGHTS (torchvision's ImageNet MobileNetV2): training mobilenetv2_age from scratch" >&2
        echo "$common"
      fi ;;
    *) echo "--epochs ${EPOCHS:-15}" ;;
  esac
}
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
for MODEL in $MODELS; do
  TRAIN_DATA=("$DATA")
  if [ "$MODEL" = mobilenetv2_age ]; then
    # Trained on the path a user takes: the train split's chips and the same faces placed in scenes
    # (`edge-age data wild`), each found by the detector and framed (lab_notes.md: faces in context 5.358 -> 4.984)
    # made once per dataset (source.txt names it): a rebuilt folder would invalidate the detection cache
    if [ "$(cat runs/path_train/source.txt 2>/dev/null)" != "$DATA" ]; then
      edge-age data wild --data "$DATA" --split train --out runs/wild_train
      python scripts/path_training.py --data "$DATA" --scenes runs/wild_train --out runs/path_train
      echo "$DATA" > runs/path_train/source.txt
    fi
    TRAIN_DATA=(runs/path_train/labels.csv --detect-faces)
  fi
  # shellcheck disable=SC2046  # the recipe is a list of options
  edge-age train --data "${TRAIN_DATA[@]}" --model "$MODEL" $(train_args "$MODEL") --out "runs/$MODEL" --resume
  edge-age eval "runs/$MODEL/best.pt" --data "$DATA" --split test --json "runs/$MODEL/test_metrics.json"
  # The compact model's int8 TFLite file is fine-tuned with simulated int8 (post-training alone: 1.03x fp32 MAE)
  EXPORT_ARGS="--calib-size 300"; [ "$MODEL" = mobilenetv2_age ] && EXPORT_ARGS="--calib-size 1000 --qat-epochs 0.5"
  # Under runs/: the committed references in export/ are replaced only on purpose (copy the folder there).
  # shellcheck disable=SC2086
  edge-age export "runs/$MODEL/best.pt" --int8 $EXPORT_ARGS --data "$DATA" --out "runs/export/$MODEL"
  # Every export framed for the MTCNN detector (benchmarks/photo_path.md: 99.7% of faces in scenes found, Haar
  # 93.7%): the compact model trained with that fit already; SimpleCNN's default framing is the same fit.
  python scripts/set_framing.py "runs/export/$MODEL" --framing edge_age/reference/framing_mtcnn.json
done
echo "exported to runs/export/ (the committed references under export/ are unchanged)"
edge-age bench runs/export/ --baselines --data "$DATA" --split test --threads 1 \
  --json runs/bench.json --md runs/bench.md --csv runs/bench.csv --plot runs/bench.png
