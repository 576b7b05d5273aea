#!/usr/bin/env bash
# The runtime-only install (`pip install .`, no extras: no torch, no matplotlib, no onnx) against each
# supported numpy major version, in fresh venvs: the runtime tests run there for real (not with the
# packages merely hidden), and the bundled model must give the same ages under numpy 1 and 2.
# Usage: scripts/test_runtime_matrix.sh   (venvs are kept in .cache/runtime-venvs/ for re-runs)
# Prints a final "runtime-matrix: N passed, M failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENVS=$ROOT/.cache/runtime-venvs
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
declare -A AGES
for numpy in "numpy>=1.26,<2" "numpy>=2"; do
  name=np$(echo "$numpy" | grep -oE '[0-9]+' | head -n1)
  [ "$name" = np1 ] || name=np2
  venv=$VENVS/$name
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "$ROOT" "$numpy" pytest hypothesis
  if "$venv/bin/python" -c "import torch" 2>/dev/null || "$venv/bin/python" -c "import onnx" 2>/dev/null; then
    echo "$name: torch or onnx got installed: not a runtime-only venv"; failed=$((failed + 1)); continue
  fi
  echo "== $name: numpy $("$venv/bin/python" -c 'import numpy; print(numpy.__version__)'), $("$venv/bin/python" --version)"
  # The runtime tests, run from outside the checkout so that the installed package (not ./edge_age) is used.
  mkdir -p "$WORK/$name" && cp -r tests "$WORK/$name/"
  if (cd "$WORK/$name" && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/runtime/test_package.py tests/runtime/test_check.py \
        -k "not the_bundled_reference_is_the_committed_one"); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  # Ages of the bundled model on the golden inputs, to compare across numpy versions.
  AGES[$name]=$(cd "$WORK" && "$venv/bin/python" -c "
from edge_age.formats import bundled_reference
from edge_age.runtime import load_predictor
from edge_age.runtime.golden import golden_inputs
for f in ('tflite_int8', 'onnx_int8'):
    p = load_predictor(bundled_reference(f))
    print(f, ' '.join(f'{a:.4f}' for a in p.predict(golden_inputs(p.spec.size))))
")
  echo "${AGES[$name]}"
done
if [ "${AGES[np1]:-}" = "${AGES[np2]:-x}" ]; then
  echo "numpy 1 and 2: the same ages"; passed=$((passed + 1))
else
  echo "numpy 1 and 2 give different ages"; failed=$((failed + 1))
fi
echo "runtime-matrix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
