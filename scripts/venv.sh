# Sourced by scripts/run.sh and scripts/test.sh: create .venv if needed, activate it, and install
# edge-age with the extra named in $1 ("train" or "dev"). torch 2.14.1 comes from the local pip cache
# on our machines and from PyPI elsewhere.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[$1]"
