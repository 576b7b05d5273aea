#!/usr/bin/env bash
# The runtime-only install (no torch) on emulated ARM64 Raspberry Pi CPUs, built from scratch and checked
# against x86-64: Debian's arm64 python3.11 (apt-get download + dpkg -x into a root folder), PyPI's aarch64
# wheels of setup.cfg's install_requires (pinned to the x86-64 reference's versions), the edge_age source,
# run by qemu-aarch64-static as a Pi 4 (-cpu cortex-a72) and a Pi 5 (-cpu cortex-a76), one thread each.
#
#   bash scripts/test_arm64.sh                      # the check: prints "arm64: N passed, M failed", exit 1 on any failure
#   bash scripts/test_arm64.sh --write-benchmarks   # also (re)writes benchmarks/arm64.json and benchmarks/arm64.md
#
# Checks, per CPU: the emulated install imports numpy/cv2/onnxruntime/ai-edge-litert and no torch; `edge-age predict
# --json` on real faces with the reference models gives the x86-64 ages (LiteRT int8 and fp32 within 0.01 y,
# ONNX int8 within 1.0 y, ONNX fp32 within 0.05 y); `edge-age eval --limit 50` gives the x86-64 MAE. Findings (printed
# and recorded, never failures): LiteRT int8 under `-cpu max` (SME) vs `-cpu max,sme=off`, and `edge-age check`
# under both CPUs once that command exists. Emulated timings are meaningless and never recorded.
#
# Real faces come from $EDGE_AGE_DATA or ../shared/data/UTKFace.tar.gz (or data/UTKFace.tar.gz); without one it
# says "skipped" and exits 0. Its licence forbids committing any image or file name: faces are copied to a temporary
# folder that is deleted on exit, and only counts and age statistics are written.
#
# Cached (re-runs skip downloads): .cache/arm64/ (git-ignored), or $ARM64_CACHE. Other settings: X86_PYTHON (the
# x86-64 reference interpreter, default .venv/bin/python; without one a runtime-only venv is made in the cache),
# ARM64_FACES (default 50). Needs root (or sudo) only the first time, for qemu-user-static and the arm64 apt lists.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
START=$SECONDS

WRITE=0
for arg in "$@"; do
    case $arg in
        --write-benchmarks) WRITE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "test_arm64: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

PASS=0
FAIL=0
DONE=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/edge-age-arm64.XXXXXX")
finish() {
    local rc=$?
    rm -rf "$WORK"  # the faces copied out of the archive never outlive the run
    if [ "$DONE" = 0 ] && [ "$rc" != 0 ]; then
        echo "arm64: stopped by an error in the setup (see above)"
        echo "arm64: $PASS passed, $((FAIL + 1)) failed"
    fi
}
trap finish EXIT

log() { printf '\n== %s\n' "$*"; }

# ---- real faces (skip when there are none) ---------------------------------------------------------------------
DATA=${EDGE_AGE_DATA:-}
if [ -z "$DATA" ]; then
    for c in ../shared/data/UTKFace.tar.gz data/UTKFace.tar.gz; do
        if [ -e "$c" ]; then DATA=$c; break; fi
    done
fi
if [ -z "$DATA" ] || [ ! -e "$DATA" ]; then
    DONE=1
    echo "arm64: skipped (no face archive: set EDGE_AGE_DATA or put UTKFace.tar.gz at ../shared/data/)"
    exit 0
fi

# ---- where the cache lives: never a tracked path ---------------------------------------------------------------
CACHE=${ARM64_CACHE:-$REPO/.cache/arm64}
if [ -z "${ARM64_CACHE:-}" ] && git rev-parse --git-dir >/dev/null 2>&1 && ! git check-ignore -q .cache/arm64/x; then
    CACHE=${TMPDIR:-/tmp}/edge-age-arm64-cache  # .cache/ is not git-ignored in this checkout
fi
mkdir -p "$CACHE"
ROOT=$CACHE/root      # Debian arm64 python3.11 and its libraries, unpacked
SITE=$CACHE/site      # aarch64 wheels, installed with pip --target
SRC=$CACHE/src        # a snapshot of edge_age taken at the start of the run (x86-64 and arm64 run the same code)
N_FACES=${ARM64_FACES:-50}
EVAL_LIMIT=50
PYVER=3.11
CPUS=(cortex-a72 cortex-a76)
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

log "tools"
if ! command -v qemu-aarch64-static >/dev/null; then
    echo "installing qemu-user-static"
    $SUDO apt-get install -y -qq qemu-user-static >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq qemu-user-static >/dev/null; }
fi
QEMU_VERSION=$(qemu-aarch64-static --version | head -1)
echo "$QEMU_VERSION"

# ---- the x86-64 reference interpreter --------------------------------------------------------------------------
# setup.cfg's runtime requirements (markers kept: pip evaluates them)
python3 - setup.cfg > "$WORK/requirements.txt" <<'EOF'
import configparser, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
for line in cfg["options"]["install_requires"].splitlines():
    line = line.split("#")[0].strip()
    if line:
        print(line)
EOF
X86_PYTHON=${X86_PYTHON:-$REPO/.venv/bin/python}
if [ ! -x "$X86_PYTHON" ]; then
    X86_PYTHON=$CACHE/x86-venv/bin/python
    if [ ! -x "$X86_PYTHON" ] || ! cmp -s "$WORK/requirements.txt" "$CACHE/x86-venv/requirements.txt"; then
        log "x86-64 reference: a runtime-only venv in $CACHE/x86-venv"
        rm -rf "$CACHE/x86-venv"
        python3 -m venv "$CACHE/x86-venv"
        "$X86_PYTHON" -m pip install -q -r "$WORK/requirements.txt"
        cp "$WORK/requirements.txt" "$CACHE/x86-venv/requirements.txt"
    fi
fi
# the arm64 wheels are pinned to the reference's versions, so a difference is the architecture's, not a release's
"$X86_PYTHON" - "$WORK/requirements.txt" > "$WORK/constraints.txt" <<'EOF'
import re, sys
from importlib import metadata
for line in open(sys.argv[1]):
    name = re.split(r"[<>=!~;\s\[]", line.strip(), maxsplit=1)[0]
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        pass
EOF
X86_DESC="$("$X86_PYTHON" -c 'import platform; print(platform.machine(), "Python", platform.python_version())')"

# ---- Debian arm64 python3.11 in ROOT ---------------------------------------------------------------------------
DEBS="python$PYVER-minimal libpython$PYVER-minimal libpython$PYVER-stdlib libc6 libgcc-s1 libstdc++6 libgomp1 zlib1g
      libexpat1 libffi8 libssl3 libsqlite3-0 libbz2-1.0 liblzma5 libuuid1 libncursesw6 libtinfo6 libreadline8
      libcrypt1 libdb5.3 libnsl2 libtirpc3"
DEB_STAMP=$(echo $DEBS | sha256sum | cut -c1-16)
log "arm64 python$PYVER (Debian .debs) in $ROOT"
if [ "$(cat "$ROOT/.stamp" 2>/dev/null)" = "$DEB_STAMP" ] && [ -x "$ROOT/usr/bin/python$PYVER" ]; then
    echo "cached"
else
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
        $SUDO apt-get update -qq
    fi
    rm -rf "$CACHE/debs" "$ROOT"
    mkdir -p "$CACHE/debs" "$ROOT"
    pkgs=()
    for p in $DEBS; do pkgs+=("$p:arm64"); done
    if ! (cd "$CACHE/debs" && apt-get download -q "${pkgs[@]}" >"$CACHE/apt.log" 2>&1); then
        $SUDO apt-get update -qq  # stale lists: the versions they name are gone from the mirror
        (cd "$CACHE/debs" && apt-get download -q "${pkgs[@]}" >"$CACHE/apt.log" 2>&1) || { tail -5 "$CACHE/apt.log"; exit 1; }
    fi
    for d in "$CACHE"/debs/*.deb; do dpkg -x "$d" "$ROOT"; done
    echo "$DEB_STAMP" > "$ROOT/.stamp"
    echo "$(ls "$CACHE"/debs/*.deb | wc -l) packages unpacked"
fi

# ---- aarch64 wheels in SITE ------------------------------------------------------------------------------------
PLATFORMS=(manylinux_2_28_aarch64 manylinux_2_27_aarch64 manylinux_2_26_aarch64 manylinux_2_17_aarch64 manylinux2014_aarch64)
PIP_TARGET=(--only-binary=:all: --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}")
for p in "${PLATFORMS[@]}"; do PIP_TARGET+=(--platform "$p"); done
SITE_STAMP=$(cat "$WORK/requirements.txt" "$WORK/constraints.txt" <(echo "${PIP_TARGET[@]}") | sha256sum | cut -c1-16)
log "aarch64 wheels in $SITE"
sed 's/^/  /' "$WORK/constraints.txt"
if [ "$(cat "$SITE/.stamp" 2>/dev/null)" = "$SITE_STAMP" ]; then
    echo "cached"
else
    mkdir -p "$CACHE/wheels"
    pip_() { "$X86_PYTHON" -m pip "$@" -r "$WORK/requirements.txt" -c "$WORK/constraints.txt" "${PIP_TARGET[@]}" \
             >>"$CACHE/pip.log" 2>&1 || { grep -v "is ignored: it is neither" "$CACHE/pip.log" | tail -8; return 1; }; }
    : > "$CACHE/pip.log"
    pip_ download -q -d "$CACHE/wheels"
    rm -rf "$SITE"
    # compiled by the host's 3.11: the .pyc format does not depend on the machine
    pip_ install -q --no-index --find-links "$CACHE/wheels" --target "$SITE"
    echo "$SITE_STAMP" > "$SITE/.stamp"
    echo "installed $(ls -d "$SITE"/*.dist-info | wc -l) distributions"
fi

# ---- edge_age (pure Python) and the reference model files, snapshotted: both sides run the same code and files
# even while the checkout is being edited. .py files are replaced with their mtimes kept and __pycache__ stays,
# so nothing that did not change is recompiled under emulation.
mkdir -p "$SRC"
if [ -d "$SRC/edge_age" ]; then find "$SRC/edge_age" -name '*.py' -delete; fi
cp -rp edge_age "$SRC/"
rm -rf "$SRC/export"
mkdir -p "$SRC/export"
cp -rp export/mobilenetv2_age "$SRC/export/"

# ---- Pi-like /proc/cpuinfo: qemu-user (-L ROOT) reads ROOT/proc/cpuinfo; onnxruntime and LiteRT crash without one -
write_cpuinfo() {  # CPU (qemu -cpu value)
    local features implementer=0x41 variant part revision hardware revcode model
    case $1 in
        cortex-a72)
            features="fp asimd evtstrm crc32 cpuid"
            variant=0x0 part=0xd08 revision=3 hardware=BCM2835 revcode=c03111 model="Raspberry Pi 4 Model B Rev 1.1" ;;
        *)  # cortex-a76, and max (its features reach the libraries through the emulated CPU's HWCAPs anyway)
            features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
            variant=0x4 part=0xd0b revision=1 hardware=BCM2712 revcode=d04170 model="Raspberry Pi 5 Model B Rev 1.0" ;;
    esac
    mkdir -p "$ROOT/proc"
    {
        for i in 0 1 2 3; do
            printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: %s\n' "$i" "$features" "$implementer"
            printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$revision"
        done
        printf 'Hardware\t: %s\nRevision\t: %s\nSerial\t\t: 0000000000000000\nModel\t\t: %s\n' "$hardware" "$revcode" "$model"
    } > "$ROOT/proc/cpuinfo"
}

# One thread, low priority, a clean environment; -P: the snapshot in $SRC, not the checkout's edge_age, is imported.
THREAD_ENV=(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENCV_FOR_THREADS_NUM=1 TF_CPP_MIN_LOG_LEVEL=2)
arm() {  # CPU ARGS... : the arm64 python under qemu-aarch64-static -cpu CPU
    local cpu=$1
    shift
    write_cpuinfo "$cpu"
    env -i PATH=/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 PYTHONPATH="$SRC:$SITE" PYTHONNOUSERSITE=1 \
        EDGE_AGE_CACHE="$WORK/cache-arm-$cpu" "${THREAD_ENV[@]}" \
        nice -n 10 qemu-aarch64-static -cpu "$cpu" -L "$ROOT" "$ROOT/usr/bin/python$PYVER" -P "$@"
}
x86() {  # ARGS... : the x86-64 reference python
    env -i PATH=/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 PYTHONPATH="$SRC" PYTHONNOUSERSITE=1 \
        EDGE_AGE_CACHE="$WORK/cache-x86" "${THREAD_ENV[@]}" nice -n 10 "$X86_PYTHON" -P "$@"
}
helper() { python3 scripts/arm64_compare.py "$@"; }
check() {  # COMMAND... : a pass/fail check
    if "$@"; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); fi
}
ran() {  # LOG RC : a failed command's stderr (file names of faces are blanked), then its exit status
    if [ "$2" != 0 ]; then
        sed -E 's/[0-9]+_[0-9]+(_[0-9]+)?_[0-9]{10,}[^ ]*\.jpg/<face>/Ig' "$1" | tail -6 | sed 's/^/    | /'
        echo "    exited $2"
    fi
}

# ---- faces ------------------------------------------------------------------------------------------------------
log "faces"
FACES=$WORK/faces
helper extract "$DATA" "$FACES" "$N_FACES"
N_FACES=$(ls "$FACES" | wc -l)
mkdir -p "$WORK/home"

MODEL_DIR=$SRC/export/mobilenetv2_age
# name | file | tolerance in years vs x86-64
MODELS=("tflite int8|mobilenetv2_age_int8.tflite|0.01"
        "tflite fp32|mobilenetv2_age_fp32.tflite|0.01"
        "onnx int8|mobilenetv2_age_int8.onnx|1.0"
        "onnx fp32|mobilenetv2_age_fp32.onnx|0.05")
EVAL_MODELS=("tflite int8" "onnx int8")
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
tag() { echo "${1// /-}"; }
file_of() { local m; for m in "${MODELS[@]}"; do [ "${m%%|*}" = "$1" ] && { m=${m#*|}; echo "${m%%|*}"; return; }; done; }
tol_of() { local m; for m in "${MODELS[@]}"; do [ "${m%%|*}" = "$1" ] && { echo "${m##*|}"; return; }; done; }

predict_json() {  # RUNNER CPU MODEL OUT : edge-age predict --json on every face; prints the exit status
    local runner=$1 cpu=$2 model=$3 out=$4 rc=0
    if [ "$runner" = x86 ]; then
        x86 -m edge_age predict --crops "$FACES"/* --model "$MODEL_DIR/$(file_of "$model")" --threads 1 --json "$out" \
            >/dev/null 2>"$out.log" || rc=$?
    else
        arm "$cpu" -m edge_age predict --crops "$FACES"/* --model "$MODEL_DIR/$(file_of "$model")" --threads 1 --json "$out" \
            >/dev/null 2>"$out.log" || rc=$?
    fi
    if [ "$rc" != 0 ]; then rm -f "$out"; fi
    echo "$rc"
}
eval_json() {  # RUNNER CPU MODEL OUT
    local runner=$1 cpu=$2 model=$3 out=$4 rc=0
    local args=(-m edge_age eval "$MODEL_DIR/$(file_of "$model")" --data "$FACES" --split all --limit "$EVAL_LIMIT"
                --threads 1 --json "$out" --out "$out.d" --no-progress)
    if [ "$runner" = x86 ]; then x86 "${args[@]}" >"$out.log" 2>&1 || rc=$?
    else arm "$cpu" "${args[@]}" >"$out.log" 2>&1 || rc=$?; fi
    if [ "$rc" != 0 ]; then rm -f "$out"; fi
    echo "$rc"
}

# ---- the x86-64 reference ---------------------------------------------------------------------------------------
log "x86-64 reference ($X86_DESC): predict and eval, one thread"
for m in "${MODELS[@]}"; do
    name=${m%%|*}
    rc=$(predict_json x86 - "$name" "$WORK/x86-$(tag "$name").json")
    echo "  predict $name: exit $rc"
    ran "$WORK/x86-$(tag "$name").json.log" "$rc"
done
for name in "${EVAL_MODELS[@]}"; do
    rc=$(eval_json x86 - "$name" "$WORK/x86-eval-$(tag "$name").json")
    echo "  eval $name: exit $rc"
    ran "$WORK/x86-eval-$(tag "$name").json.log" "$rc"
done

ENV_PY='
import importlib.util, json, platform
r = {"machine": platform.machine(), "python": platform.python_version()}
for mod in ("numpy", "cv2", "onnxruntime"):
    try:
        r[mod] = __import__(mod).__version__
    except Exception as e:
        r[mod + "_error"] = repr(e)
try:
    from importlib.metadata import version
    from ai_edge_litert import interpreter
    r["ai_edge_litert"] = version("ai-edge-litert")
except Exception as e:
    r["ai_edge_litert_error"] = repr(e)
r["torch"] = importlib.util.find_spec("torch") is not None
print(json.dumps(r))
'

# ---- per emulated CPU -------------------------------------------------------------------------------------------
for cpu in "${CPUS[@]}"; do
    log "arm64 -cpu $cpu ($( [ "$cpu" = cortex-a72 ] && echo "Raspberry Pi 4" || echo "Raspberry Pi 5" )): $N_FACES real faces"
    rc=0
    arm "$cpu" -c "$ENV_PY" >"$WORK/env-$cpu.json" 2>"$WORK/env-$cpu.log" || rc=$?
    ran "$WORK/env-$cpu.log" "$rc"
    check helper env "$WORK/env-$cpu.json" "$cpu" --results "$RESULTS"
    for m in "${MODELS[@]}"; do
        name=${m%%|*}
        out=$WORK/arm-$cpu-$(tag "$name").json
        rc=$(predict_json arm "$cpu" "$name" "$out")
        ran "$out.log" "$rc"
        check helper predict "$WORK/x86-$(tag "$name").json" "$out" --tol "$(tol_of "$name")" --cpu "$cpu" \
            --model "$name" --faces "$N_FACES" --log "$out.log" --ref-log "$WORK/x86-$(tag "$name").json.log" \
            --results "$RESULTS"
    done
    for name in "${EVAL_MODELS[@]}"; do
        out=$WORK/arm-$cpu-eval-$(tag "$name").json
        rc=$(eval_json arm "$cpu" "$name" "$out")
        ran "$out.log" "$rc"
        check helper eval "$WORK/x86-eval-$(tag "$name").json" "$out" --tol "$(tol_of "$name")" --cpu "$cpu" \
            --model "$name" --limit "$EVAL_LIMIT" --results "$RESULTS"
    done
done

# ---- findings, never failures: -cpu max (SME) and edge-age check -------------------------------------------------
# "raw": the runtime's default kernels with edge-age's golden-output check turned off (load_predictor(check=False)),
# i.e. what XNNPACK itself returns; "safe": the runtime's safe path (LiteRT without XNNPACK), the check's fallback;
# "predict": `edge-age predict` as a user runs it (the check may switch to the safe path, or refuse the file).
RAW_PY='
import functools, inspect, sys
from pathlib import Path
import edge_age.runtime.predict as P
from edge_age.runtime.predict_config import PredictConfig
from edge_age.runtime import load_predictor
mode, model, out, *faces = sys.argv[1:]
if mode == "safe":
    from edge_age.formats import format_of
    cls = format_of(Path(model)).load_predictor()
    if "safe" not in inspect.signature(cls).parameters:
        sys.exit("edge-age: error: this edge_age has no safe path")
    P.load_predictor = lambda path, threads=None, **kw: cls(path, threads=threads, safe=True)
elif "check" in inspect.signature(load_predictor).parameters:  # edge_age with golden-output checks
    P.load_predictor = functools.partial(load_predictor, check=False)
P.predict(PredictConfig(images=tuple(faces), model=model, json=out, threads=1, detect_faces=False), log=lambda line: None)
'
raw_json() {  # RUNNER CPU MODE MODEL OUT : the kernels of MODE (raw|safe) without the golden check; prints the exit status
    local runner=$1 cpu=$2 mode=$3 model=$4 out=$5 rc=0
    local args=(-c "$RAW_PY" "$mode" "$MODEL_DIR/$(file_of "$model")" "$out" "$FACES"/*)
    if [ "$runner" = x86 ]; then x86 "${args[@]}" >/dev/null 2>"$out.log" || rc=$?
    else arm "$cpu" "${args[@]}" >/dev/null 2>"$out.log" || rc=$?; fi
    if [ "$rc" != 0 ]; then rm -f "$out"; fi
    echo "$rc"
}
log "finding: qemu's -cpu max (advertises SME) vs -cpu max,sme=off vs cortex-a72 (recorded, not a failure)"
rc=$(raw_json x86 - safe "tflite int8" "$WORK/x86-safe-tflite-int8.json")
ran "$WORK/x86-safe-tflite-int8.json.log" "$rc"
for spec in "cortex-a72|raw|tflite int8" "max|raw|tflite int8" "max,sme=off|raw|tflite int8" "max|raw|tflite fp32" \
            "max|raw|onnx int8" "cortex-a72|safe|tflite int8" "max|safe|tflite int8"; do
    IFS='|' read -r cpu mode name <<<"$spec"
    out=$WORK/$mode-$cpu-$(tag "$name").json
    ref=$WORK/x86-$(tag "$name").json
    if [ "$mode" = safe ]; then ref=$WORK/x86-safe-$(tag "$name").json; fi
    rc=$(raw_json arm "$cpu" "$mode" "$name" "$out")
    ran "$out.log" "$rc"
    helper spread "$out" --ref "$ref" --cpu "$cpu" --model "$name" --how "$mode" --rc "$rc" --log "$out.log" \
        --results "$RESULTS"
done
out=$WORK/predict-max-tflite-int8.json
rc=$(predict_json arm max "tflite int8" "$out")
helper spread "$out" --ref "$WORK/x86-tflite-int8.json" --cpu max --model "tflite int8" --how predict --rc "$rc" \
    --log "$out.log" --results "$RESULTS"
if x86 -m edge_age check --help >/dev/null 2>&1; then
    for cpu in max cortex-a72; do
        rc=0
        arm "$cpu" -m edge_age check "$MODEL_DIR"/*.tflite "$MODEL_DIR"/*.onnx >"$WORK/check-$cpu.log" 2>&1 || rc=$?
        sed -i "s#$MODEL_DIR/##g" "$WORK/check-$cpu.log"
        sed 's/^/    | /' "$WORK/check-$cpu.log"
        helper note --output "$WORK/check-$cpu.log" --what "edge-age check" --cpu "$cpu" --rc "$rc" --results "$RESULTS"
    done
else
    echo "edge-age check: not in this edge_age yet (nothing to record)"
fi

# ---- summary ----------------------------------------------------------------------------------------------------
log "summary: max |age diff| vs x86-64 ($X86_DESC), years"
python3 - "$WORK/meta.json" "$N_FACES" "$EVAL_LIMIT" "$QEMU_VERSION" "$X86_DESC" "${MODELS[@]}" <<'EOF'
import json, sys
path, faces, limit, qemu, x86, *models = sys.argv[1:]
json.dump({"faces": int(faces), "eval_limit": int(limit), "qemu": qemu, "x86_64_reference": x86, "threads": 1,
           "cpus": ["cortex-a72", "cortex-a76"],
           "boards": {"cortex-a72": "Raspberry Pi 4", "cortex-a76": "Raspberry Pi 5"},
           "tolerances": {m.split("|")[0]: float(m.split("|")[2]) for m in models}}, open(path, "w"))
EOF
report=(--results "$RESULTS" --meta "$WORK/meta.json")
if [ "$WRITE" = 1 ]; then report+=(--json benchmarks/arm64.json --md benchmarks/arm64.md); fi
helper report "${report[@]}"
if [ "$WRITE" = 1 ]; then echo "wrote benchmarks/arm64.json and benchmarks/arm64.md"; fi
echo "cache: $CACHE ($(du -sh "$CACHE" | cut -f1)); script wall time $((SECONDS - START)) s (emulated, not a benchmark)"
DONE=1
echo "arm64: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
