#!/usr/bin/env bash
# The test command for a fresh machine: installs edge-age[dev] into .venv, then runs the test suite.
# Tests that need real faces read ../shared/data/UTKFace.tar.gz or $EDGE_AGE_DATA (skipped if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh dev
export EDGE_AGE_CACHE=${EDGE_AGE_CACHE:-$PWD/.cache/edge-age}
set +e
# One worker per core; a module's tests stay on one worker, so its fixtures (an export per model) are built once.
python -m pytest -q -p no:cacheprovider -n auto --dist loadscope "$@"
py=$?
# The runtime-only install (no torch/matplotlib/onnx) in fresh venvs, under numpy 1.26 and 2.x.
bash scripts/test_runtime_matrix.sh
rt=$?
# The Android app's Kotlin core and its golden test against Python, on the JVM.
bash android_demo/test_core.sh
kt=$?
set -e
[ "$py" -eq 0 ] && [ "$rt" -eq 0 ] && [ "$kt" -eq 0 ]
