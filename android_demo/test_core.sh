#!/usr/bin/env bash
# Compile the app's Kotlin core (no android.* imports) and its JUnit tests on the JVM and run them,
# including the golden test against Python's int8 tensors. Prints a final "N passed, M failed" line.
# Needs: a JDK (17), Debian's junit4 + libgoogle-gson-java, and the npm package kotlin-compiler
# (installed into android_demo/.tools when kotlinc is not on PATH). Usage: android_demo/test_core.sh [MODEL.tflite]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="$HERE/build"
KOTLIN_VERSION=2.4.20

if ! command -v javac >/dev/null 2>&1 || [ ! -f /usr/share/java/junit4.jar ] || [ ! -f /usr/share/java/gson.jar ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      openjdk-17-jdk-headless junit4 libgoogle-gson-java >/dev/null
  else
    echo "need a JDK, junit4 and libgoogle-gson-java (apt-get install openjdk-17-jdk-headless junit4 libgoogle-gson-java)" >&2
    exit 1
  fi
fi
KOTLINC=$(command -v kotlinc || true)
if [ -z "$KOTLINC" ]; then
  KOTLINC="$HERE/.tools/node_modules/kotlin-compiler/bin/kotlinc"
  [ -x "$KOTLINC" ] || npm install --silent --no-audit --no-fund --prefix "$HERE/.tools" "kotlin-compiler@$KOTLIN_VERSION" >/dev/null
fi
KLIB="$(cd "$(dirname "$(readlink -f "$KOTLINC")")/../lib" && pwd)"
CP="/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar:/usr/share/java/gson.jar"

REFERENCE="$ROOT/export/mobilenetv2_age/mobilenetv2_age_int8.tflite"  # edge_age.formats.REFERENCE_MODEL
[ -f "$REFERENCE" ] || REFERENCE=$(ls "$ROOT"/export/*/*_int8.tflite 2>/dev/null | head -n 1 || true)
MODEL=${1:-$REFERENCE}
DATA=${EDGE_AGE_DATA:-$ROOT/../shared/data/UTKFace.tar.gz}
rm -rf "$BUILD/golden" "$BUILD/classes"
mkdir -p "$BUILD/classes"
if [ -n "$MODEL" ]; then
  (cd "$ROOT" && python "$HERE/tools/make_golden.py" --model "$MODEL" --data "$DATA" --out "$BUILD/golden")
  export EDGE_AGE_GOLDEN_DIR="$BUILD/golden"
  REQUIRE=true
else
  echo "no int8 .tflite under export/: golden test skipped" >&2
  REQUIRE=false
fi

if ! "$KOTLINC" -nowarn -cp "$CP" -d "$BUILD/classes" \
  "$HERE"/app/src/main/java/dev/edgeage/demo/core/*.kt "$HERE"/app/src/test/java/dev/edgeage/demo/core/*.kt \
  > "$BUILD/kotlinc.log" 2>&1; then
  cat "$BUILD/kotlinc.log"
  echo "kotlin: 0 passed, 1 failed (compilation)"
  exit 1
fi
TESTS=$(cd "$HERE/app/src/test/java" && ls dev/edgeage/demo/core/*Test.kt | sed 's#/#.#g; s#\.kt$##')
set +e
java -Dedge_age.require_golden=$REQUIRE -cp "$BUILD/classes:$KLIB/kotlin-stdlib.jar:$CP" org.junit.runner.JUnitCore $TESTS \
  > "$BUILD/junit.log" 2>&1
rc=$?
set -e
cat "$BUILD/junit.log"
run=$(grep -oE "Tests run: [0-9]+" "$BUILD/junit.log" | grep -oE "[0-9]+" || true)
ok=$(grep -oE "^OK \([0-9]+ tests?\)" "$BUILD/junit.log" | grep -oE "[0-9]+" || true)
fail=$(grep -oE "Failures: [0-9]+" "$BUILD/junit.log" | grep -oE "[0-9]+" || echo 0)
if [ -n "$ok" ]; then run=$ok; fail=0; fi
echo "kotlin: $(( ${run:-0} - fail )) passed, $fail failed"
exit $rc
