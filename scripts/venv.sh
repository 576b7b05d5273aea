# Sourced by scripts/run.sh and scripts/test.sh: create .venv if needed, activate it, and install
# edge-age with the extra named in $1 ("train" or "dev"). torch 2.14.1 comes from the local pip cache
# on our machines and from PyPI elsewhere.
# The install runs only when needed: a stamp in .venv records the extra and a checksum of the packaging
# files (setup.cfg, pyproject.toml) it was made from; a re-run with the same files and edge_age importable
# from this checkout skips pip (quiet and fast). A failed install fails the calling script and leaves no stamp.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
_edge_age_stamp=".venv/.edge-age-install-$1"
_edge_age_want="$1 $(cat setup.cfg pyproject.toml | cksum)"
if [ "$(cat "$_edge_age_stamp" 2>/dev/null)" != "$_edge_age_want" ] || ! python -c '
import importlib.util, os, sys
sys.path = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(".")]  # not this folder: the install
spec = importlib.util.find_spec("edge_age")  # finds the package without importing it
sys.exit(not (spec and spec.origin and os.path.realpath(spec.origin) == os.path.realpath("edge_age/__init__.py")))'
then
  rm -f "$_edge_age_stamp"
  python -m pip install -q --upgrade pip || return 1
  # setuptools' build backend warns on every editable install ("BuildBackendWarning: Editable installation.",
  # a banner about folders named like the package); that one warning is ignored, every other message and
  # pip's exit status stay as they are.
  PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Editable installation:UserWarning" \
    python -m pip install -q -e ".[$1]" || return 1
  echo "$_edge_age_want" > "$_edge_age_stamp"
fi
unset _edge_age_stamp _edge_age_want
